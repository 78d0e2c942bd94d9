"""The benchmark's figures, drawn with matplotlib's Agg backend (no display needed)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first

TRADEOFF_FILE = "tradeoff.png"
BALANCE_FILE = "bmtard_balance.png"
HIGHLIGHT = "bmtard"


def plot_tradeoff(results: dict[str, Any], path: Path) -> Path:
    """Clean versus AutoAttack accuracy of every defence (worst case when AutoAttack was not run).

    Args:
        results: the benchmark results.
        path: the PNG to write.

    Returns:
        ``path``.
    """
    key = "autoattack" if "autoattack" in results["evaluation"]["labels"] else "worst_case"
    label = results["evaluation"]["labels"][key]
    figure, axes = plt.subplots(figsize=(6.4, 4.8), dpi=120)
    for defence in results["defences"]:
        clean, robust = 100 * defence["accuracy"]["clean"], 100 * defence["accuracy"][key]
        highlight = defence["name"] == HIGHLIGHT
        axes.scatter(clean, robust, s=120 if highlight else 50, marker="*" if highlight else "o", zorder=3,
                     alpha=0.85, label=defence["name"])
    axes.set_xlabel("clean accuracy (%)")
    axes.set_ylabel(f"{label} accuracy (%)")
    axes.set_title(f"Accuracy-robustness trade-off ({results['evaluation']['threat_model']['eps_label']} Linf)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)  # a legend, not labels on the points: equal results would overprint each other
    return _save(figure, path)


def plot_balance(history: dict[str, Any], path: Path) -> Path:
    """B-MTARD's temperatures and loss weights per training step, one line per teacher.

    Args:
        history: B-MTARD's ``History.to_dict()`` (``steps`` with ``temperature/<teacher>`` and
            ``weight/<teacher>``).
        path: the PNG to write.

    Returns:
        ``path``.
    """
    steps = history["steps"]
    figure, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(6.4, 6.0), dpi=120)
    for axes, prefix, title in ((top, "temperature/", "temperature"), (bottom, "weight/", "loss weight")):
        for key in sorted(k for k in steps if k.startswith(prefix)):
            axes.plot(range(1, len(steps[key]) + 1), steps[key], label=key.removeprefix(prefix))
        axes.set_ylabel(title)
        axes.grid(alpha=0.3)
        axes.legend()
    bottom.set_xlabel("training step")
    top.set_title("B-MTARD: Entropy-Based Balance and Normalization Loss Balance")
    return _save(figure, path)


def _save(figure: Any, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, format="png")
    plt.close(figure)
    return path
