"""The benchmark's deployment figures: derived columns, table cells and the accuracy-latency plot.

Light on purpose (no torch, no ART; matplotlib only inside the plot), so ``art-bmtad report`` re-renders a run
in a second. The measurements themselves come from :func:`art_bmtad.deploy.cost.benchmark_cost`; each teacher
and defence entry of ``results.json`` holds them under ``"inference"`` (a :class:`~.cost.CostReport` dict), and
each defence also gets ``"deployment"`` (:func:`deployment_figures`).

Derived figures:

* ``robust_accuracy_per_ms``: robust accuracy (AutoAttack, else the worst case over the attacks run) in
  percentage points divided by the median latency of one image (batch 1) in ms: more is better.
* ``payback_images``: for a defence distilled from teachers, the images it must serve before the teachers' one-off
  training time is paid back by its lower per-image time (at the benchmark's batch size) compared with serving
  the robust teacher itself: ``teacher training seconds / (teacher s/image - student s/image)``, the teachers'
  seconds being the defence's ``training_cost`` (:func:`art_bmtad.benchmark.results.training_cost`). ``None`` when
  a teacher's training time is unknown (a checkpoint, published weights, an old cache entry), or when the student
  is not clearly faster (its third-quartile latency is not below the teacher's first quartile).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

LATENCY_FILE = "accuracy_latency.png"
DASH = "–"


def deployment_figures(defence: dict[str, Any], teachers: Sequence[dict[str, Any]],
                       teacher_roles: Sequence[str]) -> dict[str, Any]:
    """The derived figures of one defence entry (see the module docstring).

    Args:
        defence: the defence's ``results.json`` entry, with ``accuracy``, ``inference`` and ``training_cost``.
        teachers: the teacher entries of the run, with ``role`` and ``inference``.
        teacher_roles: the roles of the teachers this defence was distilled from (empty for ART's trainers).

    Returns:
        ``{"robust_accuracy_per_ms", "teacher_seconds", "saving_ms_per_image", "payback_images"}``.
    """
    cost = defence["inference"]
    figures: dict[str, Any] = {"robust_accuracy_per_ms": _per_ms(robust_accuracy(defence), cost),
                               "teacher_seconds": None, "saving_ms_per_image": None, "payback_images": None}
    used = [teacher for teacher in teachers if teacher["role"] in teacher_roles]
    robust_teacher = next((teacher for teacher in used if teacher["role"] == "robust" and "inference" in teacher), None)
    if robust_teacher is None:
        return figures
    student_timing, teacher_timing = cost["timings"][-1], robust_teacher["inference"]["timings"][-1]
    saving = (teacher_timing["median_ms"] - student_timing["median_ms"]) / student_timing["batch_size"]
    figures["saving_ms_per_image"] = saving
    figures["teacher_seconds"] = defence.get("training_cost", {}).get("teacher_seconds")
    if figures["teacher_seconds"] is not None and student_timing["q3_ms"] < teacher_timing["q1_ms"]:
        figures["payback_images"] = figures["teacher_seconds"] / (saving / 1e3)
    return figures


def teacher_figures(teacher: dict[str, Any]) -> dict[str, Any]:
    """The derived figure of a teacher entry: PGD-20 accuracy (the only attack teachers get) per ms of batch-1
    latency; ``None`` for a teacher evaluated without it (the clean teacher)."""
    pgd = teacher["accuracy"].get("pgd20")
    return {"robust_accuracy_per_ms": None if pgd is None else _per_ms(pgd, teacher["inference"])}


def robust_accuracy(entry: dict[str, Any]) -> float:
    """AutoAttack accuracy of an entry, else its worst case, else PGD-20 (a teacher's row)."""
    accuracy = entry["accuracy"]
    for key in ("autoattack", "worst_case", "pgd20"):
        if accuracy.get(key) is not None:
            return accuracy[key]
    raise KeyError(f"{entry.get('name', entry.get('role'))}: no robust accuracy in {sorted(accuracy)}")


def cost_headers(results: dict[str, Any]) -> list[str]:
    """The table's deployment columns (the benchmark batch size is read from the first measured entry)."""
    batch = next((entry["inference"]["timings"][-1]["batch_size"]
                  for entry in [*results["teachers"], *results["defences"]] if "inference" in entry), None)
    return ["Params", "MFLOPs", "ms b=1", f"ms b={batch or 'B'}", "Rob %/ms", "Payback images"]


def cost_cells(entry: dict[str, Any]) -> list[str]:
    """The deployment cells of one teacher or defence entry (dashes where nothing was measured)."""
    cost = entry.get("inference")
    if cost is None:
        return [DASH] * 6
    first, last = cost["timings"][0], cost["timings"][-1]
    figures = entry.get("deployment", {})
    per_ms, payback = figures.get("robust_accuracy_per_ms"), figures.get("payback_images")
    return [_count(cost["params"]), f"{cost['flops_per_image'] / 1e6:.2f}", f"{first['median_ms']:.2f}",
            f"{last['median_ms']:.2f}", DASH if per_ms is None else f"{per_ms:.1f}",
            DASH if payback is None else _count(round(payback))]


def cost_footnote(results: dict[str, Any]) -> str | None:
    """What the deployment columns mean, with the device and threads they were measured on."""
    measured = [entry["inference"] for entry in [*results["teachers"], *results["defences"]] if "inference" in entry]
    if not measured:
        return None
    first = measured[0]
    return (f"Params, MFLOPs (per image; a multiply-add = 2 FLOPs) and latency (median of "
            f"{first['timings'][0]['repeats']} forwards in inference mode, normalisation folded in, on "
            f"{first['device']} with {first['threads']} threads) of each model at inference. Rob %/ms: robust "
            "accuracy (AutoAttack, for teachers PGD-20) per ms of batch-1 latency. Payback images: images a distilled "
            "student must serve before the teachers' training time is paid back by its lower per-image time than the "
            "robust teacher's (– when a teacher's training time is unknown or the student is not clearly faster).")


def plot_accuracy_latency(results: dict[str, Any], path: Path) -> Path | None:
    """AutoAttack (else worst-case) accuracy of every defence against its batch-1 latency, with the interquartile
    range as horizontal bars; the teachers as vertical lines at their latency (the robust teacher also as a hollow
    marker at its PGD-20 accuracy, the teachers being evaluated without AutoAttack).

    Args:
        results: the benchmark results.
        path: the PNG to write.

    Returns:
        ``path``, or ``None`` when no entry has cost figures (a run from before they were measured).
    """
    defences = [d for d in results["defences"] if "inference" in d]
    teachers = [t for t in results["teachers"] if "inference" in t]
    if not defences and not teachers:
        return None
    from matplotlib.figure import Figure

    labels = results["evaluation"]["labels"]
    label = labels.get("autoattack", labels.get("worst_case", "robust"))
    figure = Figure(figsize=(6.4, 4.8), dpi=120)
    axes = figure.subplots()
    for defence in defences:
        timing = defence["inference"]["timings"][0]
        axes.errorbar(timing["median_ms"], 100 * robust_accuracy(defence),
                      xerr=[[timing["median_ms"] - timing["q1_ms"]], [timing["q3_ms"] - timing["median_ms"]]],
                      fmt="*" if defence["name"] == "bmtard" else "o", markersize=11 if defence["name"] == "bmtard"
                      else 6, capsize=3, label=defence["name"], zorder=3)
    for teacher in teachers:
        median = teacher["inference"]["timings"][0]["median_ms"]
        axes.axvline(median, linestyle="--", color="grey", alpha=0.7)
        axes.annotate(f"{teacher['role']} teacher", (median, 0.02), xycoords=("data", "axes fraction"),
                      rotation=90, fontsize=8, color="grey", ha="right")
        if teacher["accuracy"].get("pgd20") is not None:
            axes.scatter(median, 100 * teacher["accuracy"]["pgd20"], facecolors="none", edgecolors="black",
                         s=60, zorder=3, label=f"{teacher['role']} teacher (PGD-20)")
    axes.set_xlabel("latency of one image, batch 1 (ms, median and IQR)")
    axes.set_ylabel(f"{label} accuracy (%)")
    axes.set_title("Robustness against inference cost")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, format="png")
    return path


def _per_ms(accuracy: float, cost: dict[str, Any]) -> float | None:
    latency = cost["timings"][0]["median_ms"]
    return 100 * accuracy / latency if latency > 0 else None


def _count(value: int) -> str:
    """``373370`` -> ``"373k"``, ``11689512`` -> ``"11.7M"``."""
    if value >= 1e6:
        return f"{value / 1e6:.1f}M"
    if value >= 1e3:
        return f"{value / 1e3:.0f}k"
    return str(value)
