"""The benchmark: every selected defence trained under one recipe, selected on the validation split, evaluated
with the same :func:`~art_bmtad.evaluation.evaluate_robustness` settings, reported as JSON, Markdown and plots::

    from art_bmtad.benchmark import run_benchmark
    from art_bmtad.config import load_recipe

    results = run_benchmark(load_recipe("smoke"), "runs/smoke")

Modules: :mod:`~.components` (what a recipe builds), :mod:`~.training` (one defence, selection, timing),
:mod:`~.memory`, :mod:`~.results` (``results.json``), :mod:`~.render` (Markdown), :mod:`~.plots`,
:mod:`~.run` (the whole run and its re-rendering).

Robust accuracies from small budgets are indications, not claims: defences need careful evaluation.
"""
from art_bmtad.benchmark.results import read_results
from art_bmtad.benchmark.run import render_run, run_benchmark, save_trained
from art_bmtad.benchmark.training import TrainedDefence, train_defence

__all__ = ["TrainedDefence", "read_results", "render_run", "run_benchmark", "save_trained", "train_defence"]
