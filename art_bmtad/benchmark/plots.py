"""The benchmark's figures, drawn on matplotlib ``Figure`` objects: no display needed, and pyplot's global backend
is left as the caller set it (a notebook that imports this module keeps its inline plots)."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

TRADEOFF_FILE = "tradeoff.png"
BALANCE_FILE = "bmtard_balance.png"
HIGHLIGHT = "bmtard"
DISTILLATION_DEFENCES = frozenset({"bmtard", "mtard", "rslad", "ard"})
"""Drawn as stars, apart from ART's trainers."""


def plot_tradeoff(results: dict[str, Any], path: Path) -> Path:
    """Clean versus AutoAttack accuracy (worst case when AutoAttack was not run) of every defence and teacher.

    Distillation defences are stars (B-MTARD the largest), ART's trainers and the plain reference squares, the
    teachers open diamonds (their robust axis is PGD-20, the only attack they get). Error bars are one binomial
    standard error, ``sqrt(p (1 - p) / n)`` with ``n`` the number of test examples; the title names the threat
    model, the AutoAttack backend and budget, and ``n``.

    Args:
        results: the benchmark results.
        path: the PNG to write.

    Returns:
        ``path``.
    """
    evaluation = results["evaluation"]
    key = "autoattack" if "autoattack" in evaluation["labels"] else "worst_case"
    n = evaluation["n_examples"]
    figure = Figure(figsize=(7.0, 5.0), dpi=120)
    axes = figure.subplots()
    for defence in results["defences"]:
        name = defence["name"]
        distilled = name in DISTILLATION_DEFENCES
        style = {"marker": "*", "s": 180 if name == HIGHLIGHT else 110} if distilled else {"marker": "s", "s": 55}
        _point(axes, defence["accuracy"]["clean"], defence["accuracy"][key], n,
               f"{name} ({'distillation' if distilled else 'ART trainer' if name.startswith('art-') else 'reference'})",
               **style)
    for teacher in results["teachers"]:
        robust = teacher["accuracy"].get("pgd20")
        if robust is not None:
            _point(axes, teacher["accuracy"]["clean"], robust, n, f"teacher: {teacher['role']} (PGD-20)",
                   marker="D", s=60, facecolors="none", edgecolors="black")
    axes.set_xlabel("clean accuracy (%)")
    axes.set_ylabel(f"{evaluation['labels'][key]} accuracy (%)")
    axes.set_title(f"Accuracy-robustness trade-off: {evaluation['threat_model']['eps_label']} Linf, "
                   f"{evaluation['labels'][key]}, n = {n}\nerror bars: one binomial standard error", fontsize=9)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7)  # a legend, not labels on the points: equal results would overprint each other
    return _save(figure, path)


def binomial_error(accuracy: float, n: int) -> float:
    """One standard error of an accuracy measured on ``n`` examples: ``sqrt(p (1 - p) / n)``."""
    return math.sqrt(accuracy * (1 - accuracy) / n) if n else 0.0


def _point(axes: Any, clean: float, robust: float, n: int, label: str, **style: Any) -> None:
    axes.errorbar(100 * clean, 100 * robust, xerr=100 * binomial_error(clean, n), yerr=100 * binomial_error(robust, n),
                  fmt="none", ecolor="grey", elinewidth=0.8, capsize=2, zorder=2)
    axes.scatter(100 * clean, 100 * robust, zorder=3, alpha=0.85, label=label, **style)


def plot_balance(history: dict[str, Any], path: Path, milestones: list[int] | None = None) -> Path:
    """B-MTARD's temperatures and loss weights per training step, one line per teacher; dashed vertical lines
    mark the learning-rate milestones (the balancers' rates follow the learning rate).

    Args:
        history: B-MTARD's ``History.to_dict()`` (``steps`` with ``temperature/<teacher>`` and
            ``weight/<teacher>``; ``epochs``, to place the milestones).
        path: the PNG to write.
        milestones: epochs after which the learning rate dropped (``schedule.milestones``).

    Returns:
        ``path``.
    """
    steps = history["steps"]
    figure = Figure(figsize=(6.4, 6.0), dpi=120)
    top, bottom = figure.subplots(2, 1, sharex=True)
    for axes, prefix, title in ((top, "temperature/", "temperature"), (bottom, "weight/", "loss weight")):
        for key in sorted(k for k in steps if k.startswith(prefix)):
            axes.plot(range(1, len(steps[key]) + 1), steps[key], label=key.removeprefix(prefix))
        axes.set_ylabel(title)
        axes.grid(alpha=0.3)
        for epoch in milestones or []:
            axes.axvline(epoch * _steps_per_epoch(history), color="grey", linestyle="--", linewidth=0.9)
        axes.legend()
    bottom.set_xlabel("training step")
    top.set_title("B-MTARD: Entropy-Based Balance and Normalization Loss Balance"
                  + (f"\n(dashed: learning rate x gamma after epochs {', '.join(map(str, milestones))})"
                     if milestones else ""), fontsize=9)
    return _save(figure, path)


def _steps_per_epoch(history: dict[str, Any]) -> float:
    """Training steps per epoch, from the per-step records and the number of epochs."""
    steps = max((len(values) for values in history["steps"].values()), default=0)
    return steps / max(len(history.get("epochs", [])), 1)


def _save(figure: Figure, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, format="png")
    return path
