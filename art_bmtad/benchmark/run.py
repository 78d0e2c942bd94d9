"""``run_benchmark``: every selected defence trained under one recipe and evaluated the same way; ``render_run``."""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Sequence

import torch
from tqdm.auto import tqdm

from art_bmtad.benchmark.files import render_run
from art_bmtad.benchmark.results import (
    FORMAT,
    defence_entry,
    environment,
    evaluation_summary,
    now,
    teacher_entry,
    training_cost,
    write_results,
)
from art_bmtad.data.datasets import Dataset
from art_bmtad.deploy.benchmark import deployment_figures, teacher_figures
from art_bmtad.deploy.cost import benchmark_cost
from art_bmtad.models.classifier_files import save_classifier
from art_bmtad.pipeline import components
from art_bmtad.pipeline.checks import check_training_data
from art_bmtad.pipeline.components import TEACHER_ATTACKS, PreparedTeachers
from art_bmtad.pipeline.training import DISTILLATION_TEACHERS, TrainedDefence, teachers_needed, train_defence
from art_bmtad.recipes.recipe import RECIPE_FILE, Recipe, write_recipe
from art_bmtad.run import RunFolder, opened_by_rank_zero
from art_bmtad.tracking import RunTracker, check_tracking, open_tracking
from art_bmtad.utils import distributed
from art_bmtad.utils.device import resolve_device

logger = logging.getLogger(__name__)

HISTORY_FILE = "history.json"
STUDENT_STEM = "student"


def run_benchmark(
    recipe: Recipe, run_dir: str | Path, *, progress: bool = True, device: str | torch.device | None = None,
    overwrite: bool = False, log: Sequence[str] = (),
) -> dict[str, Any] | None:
    """Train and evaluate every defence of ``recipe`` and write the run folder.

    The folder gets ``config.yaml`` (the resolved recipe, first), one sub-folder per defence with its
    ``student.safetensors`` (+ JSON, loadable by ``art-bmtad eval --model``) and ``history.json``, then
    ``results.json`` (rewritten after every defence, so an interrupted run keeps what it finished),
    ``results.md``, ``tradeoff.png``, ``accuracy_latency.png`` and, when B-MTARD ran, ``bmtard_balance.png``.

    Under torchrun (a process group is initialised), every rank first trains the distillation defences together
    with DistributedDataParallel; then the other ranks are done, and rank 0 alone trains the rest (ART's trainers
    are single-process), evaluates everything and writes the folder. Each defence's ``processes`` says which.

    The run folder is a :class:`~art_bmtad.run.RunFolder`, locked for the whole run: a folder holding an earlier
    run is refused unless ``overwrite``. The student's construction, the data, the batching and every teacher
    are checked before anything is written; only then is an earlier run replaced and ``config.yaml`` written.

    Args:
        recipe: a checked recipe (:func:`art_bmtad.recipes.recipe.load_recipe`).
        run_dir: the run folder (created).
        progress: progress bars (rank 0 only).
        device: where to train and evaluate (default ``recipe.device``; under torchrun, this rank's device).
        overwrite: replace an earlier run in ``run_dir`` (as a whole, once every input has been checked).
        log: tracking backends (``tensorboard``, ``mlflow``, ...): each defence is one tracked run, named after it,
            with the recipe, its training history and its evaluation (:mod:`art_bmtad.tracking`).

    Returns:
        The results (as written to ``results.json``); ``None`` on the ranks other than 0.

    Raises:
        RunFolderError: ``run_dir`` holds an earlier run (without ``overwrite``), other files, or is in use.
        OSError: ``run_dir`` cannot be created or written.
    """
    check_tracking(log)
    folder = RunFolder(run_dir, command="art-bmtad bench", overwrite=overwrite)
    with opened_by_rank_zero(folder):
        return _run(recipe, folder, progress=progress and distributed.is_main_process(), device=device, log=log)


def _run(recipe: Recipe, folder: RunFolder, *, progress: bool, device: str | torch.device | None,
         log: Sequence[str]) -> dict[str, Any] | None:
    started = time.perf_counter()
    run_dir, main = folder.path, distributed.is_main_process()
    components.apply_runtime(recipe)
    device = torch.device(device) if device is not None else resolve_device(recipe.device)
    components.check_student_builds(recipe)
    data = components.load_data(recipe)
    check_training_data(recipe, data, processes=distributed.world_size())
    logger.info("data %s: %d train, %d validation, %d test", data.name, len(data.x_train), len(data.x_val),
                len(data.x_test))
    teachers = components.prepare_teachers(recipe, data, teachers_needed(recipe.defences), device=device,
                                           progress=progress)
    if main:
        folder.begin()
        write_recipe(recipe, run_dir / RECIPE_FILE)
    trained_together = {name: _train(name, recipe, data, teachers, device, progress)
                        for name in recipe.defences if name in DISTILLATION_TEACHERS and distributed.is_distributed()}
    if not main:
        return None
    results: dict[str, Any] = {"format": FORMAT, "created": now(), "seed": recipe.seed, "config": recipe.to_dict(),
                               "environment": environment(device), "teachers": [], "defences": []}
    results["teachers"] = _teacher_rows(teachers, data, recipe)
    for name in tqdm(recipe.defences, desc="defences", disable=not progress):
        with open_tracking(log, run_dir, name) as tracker:
            tracker.log_params({"defence": name, **recipe.to_dict()})
            trained = trained_together.pop(name, None) or _train(name, recipe, data, teachers, device, progress,
                                                                 tracker)
            tracker.log_history(trained.history)  # what was not logged live (a defence trained under torchrun)
            entry, report = _evaluate_defence(trained, data, recipe, run_dir)
            tracker.log_evaluation(report, step=len(trained.history.epochs))
        entry["training_cost"] = training_cost(entry["train_seconds"], results["teachers"], teachers_needed([name]))
        entry["deployment"] = deployment_figures(entry, results["teachers"], teachers_needed([name]))
        results["defences"].append(entry)
        results.setdefault("evaluation", evaluation_summary(report))
        results["wall_seconds"] = time.perf_counter() - started
        write_results(results, run_dir)
    render_run(run_dir, results)
    return results


def save_trained(trained: TrainedDefence, folder: Path, **meta: Any) -> dict[str, str]:
    """Save the student (``student.safetensors`` + JSON) and ``history.json`` in ``folder``.

    Returns:
        ``{"checkpoint": ..., "history": ...}``, the two paths.
    """
    folder.mkdir(parents=True, exist_ok=True)
    checkpoint = save_classifier(trained.classifier, folder / STUDENT_STEM, defence=trained.name,
                                 selected_epoch=trained.selected_epoch, **meta)
    history = trained.history.save_json(folder / HISTORY_FILE)
    return {"checkpoint": str(checkpoint), "history": str(history)}


def _train(name: str, recipe: Recipe, data: Dataset, teachers: PreparedTeachers, device: torch.device,
           progress: bool, tracker: RunTracker | None = None) -> TrainedDefence:
    logger.info("training %s", name)
    return train_defence(name, recipe, data, teachers.classifiers, device=device, progress=progress, tracker=tracker)


def _evaluate_defence(trained: TrainedDefence, data: Dataset, recipe: Recipe, run_dir: Path) -> tuple[dict, Any]:
    files = save_trained(trained, run_dir / trained.name)
    relative = {key: str(Path(path).relative_to(run_dir)) for key, path in files.items()}
    started = time.perf_counter()
    report = components.evaluate(trained.classifier, data, recipe)
    seconds = time.perf_counter() - started
    logger.info("%s: clean %.3f, worst case %.3f (%.0f s)", trained.name, report.clean_accuracy,
                report.worst_case_accuracy, seconds)
    entry = defence_entry(trained.name, report, trained.summary(), relative, seconds)
    entry["inference"] = benchmark_cost(trained.classifier, label=trained.name,
                                        batch_size=recipe.evaluation.batch_size, weights_file=files["checkpoint"])
    return entry, report


def _teacher_rows(teachers: PreparedTeachers, data: Dataset, recipe: Recipe) -> list[dict[str, Any]]:
    rows = []
    for role, classifier in teachers.classifiers.items():
        report = components.evaluate(classifier, data, recipe, attacks=TEACHER_ATTACKS[role])
        x = data.x_test[: recipe.evaluation.n_examples]
        entropy = components.mean_entropy(classifier, x, recipe.evaluation.batch_size)
        row = teacher_entry(teachers.rows[role], report, entropy)
        row["inference"] = benchmark_cost(classifier, label=f"{role} teacher", batch_size=recipe.evaluation.batch_size)
        row["deployment"] = teacher_figures(row)
        rows.append(row)
    return rows
