"""``results.json`` of a benchmark run: its layout, the environment it records, reading and writing it.

Layout (``format`` ``art-bmtad-bench/1``)::

    {"format", "created", "wall_seconds", "seed", "config": <resolved recipe>,
     "environment": {"versions": {torch, art, timm, art_bmtad, numpy, python}, "device": {...}, "load_average",
                     "processes": the torchrun world size (1 without torchrun)},
     "evaluation": {threat model, n_examples, autoattack, settings, non_standard budgets, attack labels},
     "teachers": [{role, model, kind, source, path, prepare_seconds, accuracy: {clean[, pgd20]}, mean_entropy,
                   inference, deployment}],
     "defences": [{name, accuracy: {clean, fgsm, pgd20, cw, autoattack, worst_case},
                   w_robust: {metric: autoattack (else pgd20), value: (clean + robust) / 2}, sanity_passed,
                   failed_checks, train_seconds, seconds_per_epoch, wall_seconds, epochs, selected_epoch,
                   selection, peak_memory_mib, memory_kind, evaluation_seconds, history, checkpoint, notes,
                   processes: 1, or the world size for a defence trained with DistributedDataParallel,
                   report: <full RobustnessReport.to_dict()>,
                   inference: <art_bmtad.deploy.cost.CostReport.to_dict()>,
                   deployment: <art_bmtad.deploy.benchmark.deployment_figures()>}]}

Accuracies are fractions in [0, 1]; times are seconds; paths are relative to the run folder.
"""
from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import platform
from pathlib import Path
from typing import TYPE_CHECKING, Any

from art_bmtad.evaluation.weighted_robust import robust_metric, w_robust
from art_bmtad.utils.json_documents import read_json_document

if TYPE_CHECKING:
    import torch

    from art_bmtad.evaluation import RobustnessReport

FORMAT = "art-bmtad-bench/1"
RESULTS_FILE = "results.json"


def environment(device: torch.device) -> dict[str, Any]:
    """Versions, the device and the machine's load when the run started (timings depend on all three)."""
    from art_bmtad.utils import distributed

    return {
        "versions": versions(),
        "device": describe_device(device),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "processes": distributed.world_size(),
    }


def versions() -> dict[str, str]:
    """Versions of torch, ART, timm, art-bmtad, NumPy and Python."""
    import art
    import numpy as np
    import timm
    import torch

    try:
        package = importlib.metadata.version("art-bmtad")
    except importlib.metadata.PackageNotFoundError:
        package = "unknown"
    return {"torch": torch.__version__, "art": art.__version__, "timm": timm.__version__, "art_bmtad": package,
            "numpy": np.__version__, "python": platform.python_version()}


def describe_device(device: torch.device) -> dict[str, Any]:
    """The device's type and name, CPU cores and PyTorch's intra-op threads."""
    import torch

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    return {"type": device.type, "name": name, "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads()}


def evaluation_summary(report: RobustnessReport) -> dict[str, Any]:
    """The evaluation settings every row shares, taken from one report."""
    data = report.to_dict()
    labels = {attack["name"]: attack["label"] for attack in data["attacks"]} | {"worst_case": "Worst case"}
    if report.autoattack is not None:
        labels["autoattack"] = autoattack_label(report.autoattack, report.backend, report.settings.budget_label())
    return {
        "threat_model": data["threat_model"],
        "n_examples": data["n_examples"],
        "batch_size": data["batch_size"],
        "autoattack": data["autoattack"],
        "backend": report.backend,
        "budget": report.settings.budget_label() if report.autoattack is not None else None,
        "settings": data["settings"],
        "non_standard": report.settings.non_standard() if report.autoattack == "standard" else [],
        "labels": labels,
    }


def autoattack_label(variant: str, backend: str | None, budget: str) -> str:
    """The AutoAttack column's name: what ran and with which budget, e.g. ``AutoAttack (art, fast budget)``;
    "standard" only for the standard budget."""
    who = "ART default" if variant == "art-default" else (backend or "art")
    return f"AutoAttack ({who}, {budget} budget)" if budget in ("standard", "fast") else f"AutoAttack ({who}, {budget})"


def accuracy_row(report: RobustnessReport) -> dict[str, float]:
    """Every accuracy of a report: one per attack plus the worst case."""
    return {**{name: result.accuracy for name, result in report.results.items()},
            "worst_case": report.worst_case_accuracy}


def defence_entry(name: str, report: RobustnessReport, training: dict[str, Any], files: dict[str, str],
                  evaluation_seconds: float) -> dict[str, Any]:
    """One defence's record in ``results.json``."""
    accuracy = accuracy_row(report)
    metric = robust_metric(accuracy)
    return {
        "name": name,
        "accuracy": accuracy,
        "w_robust": {"metric": metric, "value": w_robust(accuracy, metric)},
        "sanity_passed": not report.failed_checks,
        "failed_checks": [check.name for check in report.failed_checks],
        **training,
        "evaluation_seconds": evaluation_seconds,
        **files,
        "report": report.to_dict(),
    }


def training_cost(student_seconds: float, teachers: list[dict[str, Any]], roles: list[str]) -> dict[str, Any]:
    """What a defence cost to train: the student, plus the teachers it was distilled from (their training time,
    also when they came from the cache); ``teacher_seconds`` and ``total_seconds`` are ``None`` when a teacher's
    training time is unknown (a checkpoint, published weights, an old cache entry)."""
    used = [teacher.get("train_seconds") for teacher in teachers if teacher["role"] in roles]
    teacher_seconds = None if None in used else sum(used)
    return {"student_seconds": student_seconds, "teacher_seconds": teacher_seconds,
            "total_seconds": None if teacher_seconds is None else student_seconds + teacher_seconds}


def teacher_entry(row: dict[str, Any], report: RobustnessReport, entropy: float) -> dict[str, Any]:
    """One teacher's record: where it came from, clean (and PGD-20) accuracy, mean prediction entropy."""
    return {**row, "accuracy": accuracy_row(report), "mean_entropy": entropy}


def now() -> str:
    """The current UTC time, ISO 8601."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def write_results(results: dict[str, Any], run_dir: Path) -> Path:
    """Write ``run_dir/results.json`` (atomically: a temporary file, then a rename)."""
    from art_bmtad.run.files import write_atomic

    return write_atomic(run_dir / RESULTS_FILE, json.dumps(results, indent=1) + "\n")


def read_results(run_dir: str | Path) -> dict[str, Any]:
    """Read a run folder's ``results.json``.

    Raises:
        FileNotFoundError: no ``results.json`` in ``run_dir``.
        ValueError: it is not an art-bmtad benchmark result.
    """
    path = Path(run_dir) / RESULTS_FILE
    results = read_json_document(path, FORMAT, "art-bmtad benchmark result",
                                 f"no {RESULTS_FILE} in {run_dir}: is it the --out folder of `art-bmtad bench`?")
    check_results(results, path)
    return results


_NUMBER = (int, float)
_ENTRY_FIELDS = {
    "teachers": {"role": str, "model": str, "accuracy": dict},
    "defences": {"name": str, "accuracy": dict, "sanity_passed": bool, "selected_epoch": int,
                 "train_seconds": _NUMBER, "seconds_per_epoch": _NUMBER, "notes": list, "history": str,
                 "checkpoint": str},
}
"""Fields every teacher and defence record must have, with their types (what the table and plots read)."""


def check_results(results: dict[str, Any], path: Path) -> None:
    """Check the fields of a ``results.json`` that re-rendering reads, and that every file it names lies inside
    its run folder (``art-bmtad report`` reads nothing outside it).

    Raises:
        ValueError: naming the file and the field.
    """
    def fail(field: str, expected: str) -> ValueError:
        return ValueError(f"{path}: {field}: expected {expected}; the file is damaged or not written by "
                          "`art-bmtad bench`")

    for key, kind in (("config", dict), ("environment", dict), ("evaluation", dict), ("teachers", list),
                      ("defences", list)):
        if not isinstance(results.get(key), kind):
            raise fail(key, "a mapping" if kind is dict else "a list")
    labels = results["evaluation"].get("labels")
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        raise fail("evaluation.labels", "a mapping of attack names to labels")
    for group, fields in _ENTRY_FIELDS.items():
        for index, entry in enumerate(results[group]):
            if not isinstance(entry, dict):
                raise fail(f"{group}[{index}]", "a mapping")
            for name, kind in fields.items():
                value = entry.get(name)
                if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                    raise fail(f"{group}[{index}].{name}", f"a {getattr(kind, '__name__', 'number')}")
            for attack, accuracy in entry["accuracy"].items():
                if accuracy is not None and (not isinstance(accuracy, _NUMBER) or isinstance(accuracy, bool)):
                    raise fail(f"{group}[{index}].accuracy.{attack}", "a number or null")
            for name in ("history", "checkpoint"):
                if name in fields:
                    inside_run_folder(path.parent, entry[name], f"{path}: {group}[{index}].{name}")


def inside_run_folder(run_dir: Path, relative: str, what: str) -> Path:
    """``run_dir / relative``, refused when it leads outside ``run_dir`` (absolute, ``..``, or a link out).

    Raises:
        ValueError: naming ``what``.
    """
    target = (run_dir / relative).resolve()
    if Path(relative).is_absolute() or not target.is_relative_to(run_dir.resolve()):
        raise ValueError(f"{what}: {relative!r} lies outside the run folder {run_dir}; refused")
    return target
