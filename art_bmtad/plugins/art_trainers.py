"""Built-in plugin: ART's own adversarial trainers behind the common defence factory call.

Names: ``art-madry-pgd`` (Madry et al., https://arxiv.org/abs/1706.06083), ``art-trades``
(Zhang et al., https://arxiv.org/abs/1901.08573), ``art-awp`` (Wu et al.,
https://arxiv.org/abs/2004.05884) and ``art-fbf`` (Wong et al., https://arxiv.org/abs/2001.03994).
Every factory takes ``(classifier, *, eps, eps_step, max_iter, ...)`` in the classifier's input
range, with the L-inf defaults below, and returns a trainer whose
``fit(x, y, validation_data=None, nb_epochs=..., batch_size=...)`` trains ``classifier`` on
index or one-hot labels.

As with any defence, robustness must be checked with strong, adaptive attacks.
"""
from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Callable

from art_bmtad.hookspecs import DefenceFactory, hookimpl

if TYPE_CHECKING:
    from art.attacks.evasion import ProjectedGradientDescent
    from art.defences.trainer import Trainer
    from art.estimators.classification import PyTorchClassifier

EPS = 8 / 255
EPS_STEP = 2 / 255
MAX_ITER = 10


def _pgd(classifier: PyTorchClassifier, eps: float, eps_step: float, max_iter: int) -> ProjectedGradientDescent:
    from art.attacks.evasion import ProjectedGradientDescent

    return ProjectedGradientDescent(
        classifier, eps=eps, eps_step=eps_step, max_iter=max_iter, num_random_init=1, verbose=False
    )


def madry_pgd(
    classifier: PyTorchClassifier, *, eps: float = EPS, eps_step: float = EPS_STEP, max_iter: int = MAX_ITER
) -> Trainer:
    """``AdversarialTrainerMadryPGD``: training on PGD examples only.

    Its ``fit`` already takes ``nb_epochs`` and ``batch_size``, overriding the constructor's.
    """
    from art.defences.trainer import AdversarialTrainerMadryPGD

    return AdversarialTrainerMadryPGD(classifier, eps=eps, eps_step=eps_step, max_iter=max_iter)


def trades(
    classifier: PyTorchClassifier,
    *,
    eps: float = EPS,
    eps_step: float = EPS_STEP,
    max_iter: int = MAX_ITER,
    beta: float = 6.0,
) -> Trainer:
    """``AdversarialTrainerTRADESPyTorch`` with a PGD attack; ``beta`` weighs the robust KL term."""
    from art.defences.trainer import AdversarialTrainerTRADESPyTorch

    return AdversarialTrainerTRADESPyTorch(classifier, _pgd(classifier, eps, eps_step, max_iter), beta=beta)


def awp(
    classifier: PyTorchClassifier,
    *,
    eps: float = EPS,
    eps_step: float = EPS_STEP,
    max_iter: int = MAX_ITER,
    mode: str = "PGD",
    gamma: float = 0.01,
    beta: float = 6.0,
    warmup: int = 0,
) -> Trainer:
    """``AdversarialTrainerAWPPyTorch``; the weight-perturbation proxy is a deep copy of ``classifier``.

    The copy carries the model, its loss and an optimiser of the same kind bound to the copied weights.
    ``mode`` is ``"PGD"`` or ``"TRADES"``; ``gamma`` scales the weight perturbation; ``beta`` is
    the TRADES weight; perturbation starts after ``warmup`` epochs.
    """
    from art.defences.trainer import AdversarialTrainerAWPPyTorch

    attack = _pgd(classifier, eps, eps_step, max_iter)
    return AdversarialTrainerAWPPyTorch(
        classifier, copy.deepcopy(classifier), attack, mode=mode, gamma=gamma, beta=beta, warmup=warmup
    )


def fbf(
    classifier: PyTorchClassifier,
    *,
    eps: float = EPS,
    eps_step: float | None = None,
    max_iter: int | None = None,
    use_amp: bool = False,
) -> Trainer:
    """"Fast is better than free": ART's FBF step with a settable FGSM step and per-epoch training
    (:class:`art_bmtad.trainers.fbf.FastIsBetterThanFree`).

    ``eps_step`` is the FGSM step from a random start (``None``: the paper's 1.25 * ``eps``); ``max_iter`` is
    accepted for the common call and unused (FBF takes one step). The common call passes the recipe's PGD
    step as ``eps_step``; the benchmark passes FBF's own (``defence_options``).
    """
    from art_bmtad.trainers.fbf import FastIsBetterThanFree

    del max_iter
    return FastIsBetterThanFree(classifier, eps=eps, eps_step=eps_step, use_amp=use_amp)


FACTORIES: dict[str, DefenceFactory] = {
    "art-madry-pgd": madry_pgd,
    "art-trades": trades,
    "art-awp": awp,
    "art-fbf": fbf,
}


@hookimpl
def art_bmtad_register_defences(register: Callable[[str, DefenceFactory], None]) -> None:
    """Register ART's Madry PGD, TRADES, AWP and FBF trainers."""
    for name, factory in FACTORIES.items():
        register(name, factory)
