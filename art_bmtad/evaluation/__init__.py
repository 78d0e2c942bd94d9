"""Robustness evaluation: the B-MTARD paper's protocol assembled from ART's attacks.

Clean accuracy, FGSM, PGD-20, CW-inf and AutoAttack (standard, or ART's default by name), the worst case per
example, a per-class breakdown and sanity checks against gradient masking::

    from art_bmtad.evaluation import evaluate_robustness

    report = evaluate_robustness(classifier, x_test, y_test, n_examples=1000)
    print(report.to_markdown())

Modules: :mod:`~.settings` (threat model, budgets), :mod:`~.objectives` (CW margin, targeted DLR),
:mod:`~.runner` (seeding, running one attack), :mod:`~.suite` (FGSM, PGD, CW), :mod:`~.autoattack`,
:mod:`~.sanity`, :mod:`~.report`, :mod:`~.evaluate`.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from art_bmtad.evaluation.settings import ATTACKS, AttackSettings, ThreatModel

if TYPE_CHECKING:
    from art_bmtad.evaluation.evaluate import evaluate_robustness
    from art_bmtad.evaluation.report import AttackResult, ClassAccuracy, RobustnessReport, SanityCheck

_LAZY = {
    "evaluate_robustness": "art_bmtad.evaluation.evaluate",
    "AttackResult": "art_bmtad.evaluation.report",
    "ClassAccuracy": "art_bmtad.evaluation.report",
    "RobustnessReport": "art_bmtad.evaluation.report",
    "SanityCheck": "art_bmtad.evaluation.report",
}
"""Names whose modules need numpy, torch or ART: imported on first use, so the CLI's help stays light."""

__all__ = [
    "ATTACKS",
    "AttackResult",
    "AttackSettings",
    "ClassAccuracy",
    "RobustnessReport",
    "SanityCheck",
    "ThreatModel",
    "evaluate_robustness",
]


def __getattr__(name: str) -> Any:
    """Import a heavy public name's module on first access."""
    if name not in _LAZY:
        raise AttributeError(f"module 'art_bmtad.evaluation' has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name]), name)
