"""Built-in plugin: the project's distillation trainers as defences ``bmtard``, ``mtard``, ``rslad``, ``ard``.

Each factory calls the trainer class, ``factory(classifier, **kwargs)``; teachers and the threat
model are keyword arguments (``robust_teacher=``, ``clean_teacher=``, ``eps=``, ...).
"""
from __future__ import annotations

import importlib
from typing import Any, Callable

from art_bmtad.hookspecs import DefenceFactory, hookimpl

TRAINERS_MODULE = "art_bmtad.trainers"
TRAINERS = {
    "bmtard": "AdversarialTrainerBMTARDPyTorch",
    "mtard": "AdversarialTrainerMTARDPyTorch",
    "rslad": "AdversarialTrainerRSLADPyTorch",
    "ard": "AdversarialTrainerARDPyTorch",
}
"""Defence name -> trainer class in :mod:`art_bmtad.trainers`."""


def _trainer(class_name: str) -> DefenceFactory:
    """``factory(classifier, **kwargs)`` building ``art_bmtad.trainers.<class_name>``, imported on first use."""

    def factory(classifier: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(TRAINERS_MODULE), class_name)(classifier, **kwargs)

    factory.__doc__ = f"Build :class:`{TRAINERS_MODULE}.{class_name}` around ``classifier``."
    return factory


@hookimpl
def art_bmtad_register_defences(register: Callable[[str, DefenceFactory], None]) -> None:
    """Register the project's trainers."""
    for name, class_name in TRAINERS.items():
        register(name, _trainer(class_name))
