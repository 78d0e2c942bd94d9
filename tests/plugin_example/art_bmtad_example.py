"""An example third-party art-bmtad plugin: defence ``example-fgsm`` and model ``example-mlp``."""
from __future__ import annotations

import math
from typing import Any, Callable

from art_bmtad import hookimpl


def fgsm_training(
    classifier: Any, *, eps: float = 8 / 255, eps_step: float | None = None, max_iter: int | None = None
) -> Any:
    """ART's ``AdversarialTrainer`` with FGSM examples for half of each batch (one step: ``eps`` only)."""
    from art.attacks.evasion import FastGradientMethod
    from art.defences.trainer import AdversarialTrainer

    del eps_step, max_iter
    return AdversarialTrainer(classifier, FastGradientMethod(classifier, eps=eps), ratio=0.5)


def mlp(input_shape: tuple[int, ...] = (1, 8, 8), num_classes: int = 10, hidden: int = 32) -> Any:
    """A one-hidden-layer perceptron on flattened inputs."""
    from torch import nn

    return nn.Sequential(
        nn.Flatten(), nn.Linear(math.prod(input_shape), hidden), nn.ReLU(), nn.Linear(hidden, num_classes)
    )


@hookimpl
def art_bmtad_register_defences(register: Callable[[str, Callable[..., Any]], None]) -> None:
    register("example-fgsm", fgsm_training)


@hookimpl
def art_bmtad_register_models(register: Callable[[str, Callable[..., Any]], None]) -> None:
    register("example-mlp", mlp)
