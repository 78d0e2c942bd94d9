"""The single attacks of the protocol, built from ART's attack classes: FGSM, PGD-20 and CW-inf.

All three attack the examples that are correct on the clean input, each on its own, so that every number is
the attack's own robust accuracy; the worst case over attacks is taken afterwards, per example.

CW-inf is PGD on the Carlini-Wagner margin loss, as in the TRADES / RSLAD / B-MTARD evaluation scripts. ART's
``CarliniLInfMethod`` is a different attack: the original optimisation of Carlini & Wagner (2017), which looks
for the smallest Linf perturbation by a change of variables and a search over the constant ``c``, with no eps
budget and no projected steps. So CW-inf here is ART's ``ProjectedGradientDescentPyTorch`` run on a view of the
classifier whose loss is :class:`~art_bmtad.evaluation.objectives.CWMarginLoss`
(:func:`art_bmtad.algorithm.adversarial.gradient_view`): same network, same preprocessing, ART's own PGD steps,
random start and projection, only the objective differs.
"""
from __future__ import annotations

import numpy as np
import torch
from art.attacks.evasion import FastGradientMethod, ProjectedGradientDescentPyTorch
from art.estimators.classification import PyTorchClassifier

from art_bmtad.algorithm.adversarial import gradient_view
from art_bmtad.evaluation.objectives import CWMarginLoss
from art_bmtad.evaluation.report import AttackResult
from art_bmtad.evaluation.runner import AttackRunner
from art_bmtad.evaluation.settings import CW_STEPS, PGD_STEPS, ThreatModel


def cross_entropy_view(classifier: PyTorchClassifier) -> PyTorchClassifier:
    """The classifier with cross-entropy on its logits as the attack loss, whatever loss it was built with."""
    return gradient_view(classifier, loss=torch.nn.CrossEntropyLoss())


def fgsm(runner: AttackRunner, points: np.ndarray, threat: ThreatModel, key: str = "fgsm") -> AttackResult:
    """FGSM: one step of size eps along the sign (Linf) or direction (L2) of the cross-entropy gradient."""
    attack = FastGradientMethod(
        cross_entropy_view(runner.classifier),
        norm=threat.art_norm,
        eps=threat.eps,
        eps_step=threat.eps,
        num_random_init=0,
        batch_size=runner.batch_size,
    )
    robust, seconds = runner.attack(key, attack, points, threat=threat)
    return AttackResult(key, "FGSM", robust, seconds, int(points.sum()))


def pgd(
    runner: AttackRunner,
    points: np.ndarray,
    threat: ThreatModel,
    steps: int = PGD_STEPS,
    key: str = "pgd20",
) -> AttackResult:
    """PGD on cross-entropy: uniform random start in the eps ball, ``steps`` steps of eps / 4."""
    attack = projected_gradient(cross_entropy_view(runner.classifier), runner, threat, steps)
    robust, seconds = runner.attack(key, attack, points, threat=threat)
    return AttackResult(key, f"PGD-{steps}", robust, seconds, int(points.sum()))


def cw(runner: AttackRunner, points: np.ndarray, threat: ThreatModel, key: str = "cw") -> AttackResult:
    """CW-inf: PGD on the CW margin loss, random start, 30 steps of eps / 4 (see the module docstring)."""
    view = gradient_view(runner.classifier, loss=CWMarginLoss())
    robust, seconds = runner.attack(key, projected_gradient(view, runner, threat, CW_STEPS), points, threat=threat)
    label = f"CW-{'inf' if threat.norm == 'inf' else 'L2'} ({CW_STEPS} steps)"
    return AttackResult(key, label, robust, seconds, int(points.sum()))


def projected_gradient(
    view: PyTorchClassifier, runner: AttackRunner, threat: ThreatModel, steps: int
) -> ProjectedGradientDescentPyTorch:
    """ART's PyTorch PGD on ``view`` (its loss is the objective): uniform random start, ``steps`` steps of eps / 4."""
    return ProjectedGradientDescentPyTorch(
        view,
        norm=threat.art_norm,
        eps=threat.eps,
        eps_step=threat.pgd_step,
        max_iter=steps,
        num_random_init=1,
        batch_size=runner.batch_size,
        verbose=False,
    )
