"""AutoAttack from Croce & Hein's own code (https://github.com/fra31/auto-attack, the code RobustBench runs), as
the ``reference`` backend beside the suite assembled from ART's attacks (:mod:`~.autoattack`).

The standard version: APGD-CE (one restart), APGD-T against the 9 most likely wrong classes, FAB-T (9 targets)
and Square (5,000 queries), each on the examples every earlier one left robust; the budget settings scale APGD's
and FAB's iterations, the target classes and Square's queries exactly as they do for the ART backend. It comes
from the ``pyautoattack`` package (``pip install 'art-bmtad[autoattack]'``), sub-attacks built with the arguments
its ``AutoAttack(version="standard")`` gives them, so that numbers compare with RobustBench's. Each sub-attack
runs through :class:`~.runner.AttackRunner` like every other attack: seeded, in batches with a progress bar,
and counted only when the adversarial example is misclassified inside the threat model.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from art_bmtad.algorithm.teachers import classifier_logits
from art_bmtad.evaluation.report import AttackResult
from art_bmtad.evaluation.runner import AttackRunner
from art_bmtad.evaluation.settings import SQUARE_P_INIT, AttackSettings, check_reference_available


DLR_MIN_CLASSES = 4
"""The targeted DLR loss reads the third and fourth largest logits: APGD-T needs at least 4 classes."""


def reference_notes(runner: AttackRunner, settings: AttackSettings) -> list[str]:
    """What the reference run leaves out or changes for this classifier and these settings."""
    notes = []
    if runner.classifier.nb_classes < DLR_MIN_CLASSES:
        notes.append(f"APGD-T skipped: its targeted DLR loss needs at least {DLR_MIN_CLASSES} classes, the classifier "
                     f"has {runner.classifier.nb_classes}.")
    if budgets := settings.non_standard():
        notes.append("Non-standard AutoAttack budget: " + ", ".join(budgets) + ".")
    return notes


def reference_autoattack(runner: AttackRunner, points: np.ndarray, settings: AttackSettings) -> AttackResult:
    """Run the reference standard AutoAttack on the examples in ``points``; its sub-attacks are the parts.

    Raises:
        ValueError: ``pyautoattack`` is not installed.
    """
    check_reference_available()
    parts: list[AttackResult] = []
    robust = points
    for key, label, perturb in _sub_attacks(runner, settings):
        attacked = int(robust.sum())
        robust, seconds = runner.attack(f"reference-{key}", _Perturbation(perturb, runner), robust)
        parts.append(AttackResult(key, label, robust, seconds, attacked))
    seconds = sum(part.seconds or 0.0 for part in parts)
    label = f"AutoAttack (reference, {settings.budget_label()} budget)"
    return AttackResult("autoattack", label, robust, seconds, int(points.sum()), parts)


def _sub_attacks(runner: AttackRunner, settings: AttackSettings) -> list[tuple[str, str, Callable[..., Any]]]:
    """APGD-CE, APGD-T, FAB-T and Square with the standard version's arguments and ``settings``' budget."""
    from pyautoattack.autopgd_base import APGDAttack, APGDAttack_targeted
    from pyautoattack.fab_pt import FABAttack_PT
    from pyautoattack.square import SquareAttack

    model = _Logits(runner.classifier)
    common = {"norm": "Linf" if runner.threat.norm == "inf" else "L2", "eps": runner.threat.eps,
              "seed": runner.seed, "device": runner.classifier.device}
    steps = settings.apgd_steps
    targets = min(settings.n_target_classes, runner.classifier.nb_classes - 1)
    apgd = APGDAttack(model, n_iter=steps, n_restarts=1, eot_iter=1, rho=0.75, loss="ce", **common)
    apgd_t = APGDAttack_targeted(model, n_iter=steps, n_restarts=1, eot_iter=1, rho=0.75, n_target_classes=targets,
                                 **common)
    fab_t = FABAttack_PT(model, n_iter=steps, n_restarts=1, targeted=True, n_target_classes=targets, **common)
    square = SquareAttack(model, n_queries=settings.square_queries, p_init=SQUARE_P_INIT, n_restarts=1,
                          resc_schedule=False, **common)
    parts = [
        ("apgd-ce", "APGD-CE", apgd.perturb),
        ("apgd-t", f"APGD-T (targets: {targets})", apgd_t.perturb),
        ("fab-t", f"FAB-T (targets: {targets})", fab_t.perturb),
        ("square", f"Square ({settings.square_queries} queries)", square.perturb),
    ]
    return [part for part in parts if part[0] != "apgd-t" or runner.classifier.nb_classes >= DLR_MIN_CLASSES]


class _Logits(torch.nn.Module):
    """The classifier's network behind its own preprocessing: [0, 1] inputs in, logits out, in eval mode."""

    def __init__(self, classifier: Any) -> None:
        super().__init__()
        self.classifier = classifier
        self.network = classifier.model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return classifier_logits(self.classifier, x)


class _Perturbation:
    """An ART-style ``generate(x, y)`` over a reference attack's ``perturb(x, y)`` (tensors on the device)."""

    def __init__(self, perturb: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], runner: AttackRunner) -> None:
        self.perturb = perturb
        self.device = runner.classifier.device

    def generate(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Adversarial versions of ``x`` for one-hot labels ``y``."""
        inputs = torch.from_numpy(x).to(self.device)
        labels = torch.from_numpy(y.argmax(axis=1)).to(self.device)
        return self.perturb(inputs, labels).detach().cpu().numpy().astype(np.float32)
