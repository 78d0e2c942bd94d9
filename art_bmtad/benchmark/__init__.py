"""The benchmark: every selected defence trained under one recipe, selected on the validation split, evaluated
with the same :func:`~art_bmtad.evaluation.evaluate_robustness` settings, reported as JSON, Markdown and plots::

    from art_bmtad.benchmark import run_benchmark
    from art_bmtad.recipes.recipe import load_recipe

    results = run_benchmark(load_recipe("smoke"), "runs/smoke")

Modules: :mod:`~.results` (``results.json``), :mod:`~.render` (Markdown), :mod:`~.plots`, :mod:`~.files`
(re-rendering a run folder), :mod:`~.run` (the whole run). What a recipe builds and the training of one defence
live in :mod:`art_bmtad.pipeline`, which the other commands share.

Robust accuracies from small budgets are indications, not claims: defences need careful evaluation.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from art_bmtad.benchmark.files import render_run
    from art_bmtad.benchmark.results import read_results
    from art_bmtad.benchmark.run import run_benchmark, save_trained
    from art_bmtad.pipeline.training import TrainedDefence, train_defence

_PUBLIC = {
    "TrainedDefence": "art_bmtad.pipeline.training",
    "read_results": "art_bmtad.benchmark.results",
    "render_run": "art_bmtad.benchmark.files",
    "run_benchmark": "art_bmtad.benchmark.run",
    "save_trained": "art_bmtad.benchmark.run",
    "train_defence": "art_bmtad.pipeline.training",
}
"""Public name -> its module, imported on first use (``art-bmtad report`` needs no torch)."""

__all__ = ["TrainedDefence", "read_results", "render_run", "run_benchmark", "save_trained", "train_defence"]


def __getattr__(name: str) -> Any:
    """Import a public name's module on first access."""
    if name not in _PUBLIC:
        raise AttributeError(f"module 'art_bmtad.benchmark' has no attribute {name!r}")
    return getattr(importlib.import_module(_PUBLIC[name]), name)
