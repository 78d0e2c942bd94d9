"""Weighted Robust Accuracy (W-Robust), the B-MTARD paper's headline metric: the mean of clean and robust accuracy.

``W-Robust = (A_clean + A_robust) / 2``. A table uses one robust metric for every row: AutoAttack when the table
has it, else PGD-20 (:func:`robust_metric`), and says which in its header (:func:`w_robust_label`). Light on
purpose (no numpy, no torch): the benchmark's Markdown and the study's table import it.
"""
from __future__ import annotations

from typing import Iterable, Mapping

ROBUST_PREFERENCE = ("autoattack", "pgd20")
"""Robust metrics W-Robust can use, the strongest first."""
METRIC_NAMES = {"autoattack": "AutoAttack", "pgd20": "PGD-20"}


def robust_metric(available: Iterable[str]) -> str | None:
    """The robust metric a table's W-Robust uses: the first of :data:`ROBUST_PREFERENCE` among ``available``
    (a table's attack keys), or ``None`` when it has neither."""
    keys = set(available)
    return next((metric for metric in ROBUST_PREFERENCE if metric in keys), None)


def w_robust(accuracy: Mapping[str, float | None], metric: str | None) -> float | None:
    """``(clean + robust) / 2`` from one row's accuracies, or ``None`` when either is missing.

    Args:
        accuracy: attack key -> accuracy in [0, 1] (``clean`` and the robust ``metric``).
        metric: the table's robust metric (:func:`robust_metric`).
    """
    clean = accuracy.get("clean")
    robust = accuracy.get(metric) if metric is not None else None
    if clean is None or robust is None:
        return None
    return (clean + robust) / 2


def w_robust_label(metric: str | None) -> str:
    """The column header, naming the robust metric: ``"W-Robust (clean + AutoAttack) / 2"``."""
    return f"W-Robust (clean + {METRIC_NAMES.get(metric, metric or '?')}) / 2"
