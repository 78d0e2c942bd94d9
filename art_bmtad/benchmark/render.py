"""The benchmark's Markdown: one table (teachers first, then every defence) and what the numbers mean."""
from __future__ import annotations

from typing import Any

from art_bmtad.deploy.benchmark import cost_cells, cost_footnote, cost_headers
from art_bmtad.evaluation.settings import format_eps
from art_bmtad.evaluation.weighted_robust import robust_metric, w_robust, w_robust_label

DASH = "–"
SHARED_THREAT = ("eps", "eps_step", "max_iter")
"""Options every adversarial defence shares (the recipe's threat model); the options section leaves them out."""
OWN_THREAT_KEYS = {"art-fbf": ("eps_step",)}
"""Threat keys a defence sets itself (FBF's FGSM step is its paper's, not the shared PGD step)."""


def render_markdown(results: dict[str, Any]) -> str:
    """The whole ``results.md`` from a ``results.json`` dict.

    Args:
        results: the benchmark results (see :mod:`art_bmtad.benchmark.results`).

    Returns:
        Markdown text.
    """
    columns = list(results["evaluation"]["labels"].items())
    sections = [
        f"# art-bmtad benchmark ({results['config'].get('preset') or 'custom recipe'})",
        _banner(results["defences"]),
        _setting(results),
        _table(results, columns),
        _selection(results["defences"]),
        _options(results["defences"]),
        _footnotes(results),
    ]
    return "\n\n".join(section for section in sections if section) + "\n"


def _setting(results: dict[str, Any]) -> str:
    config, evaluation, env = results["config"], results["evaluation"], results["environment"]
    data, student, schedule, threat = config["data"], config["student"], config["schedule"], config["threat"]
    device = env["device"]
    return "\n".join([
        f"- Data: `{data['source']}`, training pool {data['n_train'] or 'all'} (validation {data['val_size']}), "
        f"seed {results['seed']}",
        f"- Student: `{student['model']}`{' (CIFAR stem)' if student['cifar_stem'] else ''}, {schedule['epochs']} "
        f"epochs, batch {schedule['batch_size']}, SGD lr {schedule['lr']}, milestones {schedule['milestones'] or 'none'}",
        f"- Augmentation, the same for every defence: "
        f"{'random crop (padding 4) and flip, on the fly' if schedule.get('augment') else 'none'}",
        f"- Training attack: PGD-{threat['max_iter']}, Linf eps {format_eps(threat['eps'])}, step "
        f"{format_eps(threat['eps_step'])}",
        f"- Evaluation: {evaluation['n_examples']} test examples, Linf eps "
        f"{evaluation['threat_model']['eps_label']}, {evaluation['labels'].get('autoattack', 'AutoAttack not run')}"
        + (f" with a reduced budget: {', '.join(evaluation['non_standard'])}" if evaluation["non_standard"] else ""),
        f"- Device: {device['type']} ({device['name']}, {device['torch_threads']} threads, "
        f"{device['cpu_count']} cores){_processes(env)}, load average at start {_load(env)}; whole run "
        f"{results.get('wall_seconds', 0):.0f} s",
    ])


def _table(results: dict[str, Any], columns: list[tuple[str, str]]) -> str:
    metric = robust_metric(key for key, _ in columns)
    header = ["Model", *(label for _, label in columns), w_robust_label(metric), "Epoch", "Train s", "Teachers s",
              "Total s", "s/epoch", "Peak MiB", *cost_headers(results), "Notes"]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 2) + "---|"]
    lines += [_teacher_row(teacher, columns, metric) for teacher in results["teachers"]]
    lines += [_defence_row(defence, columns, metric) for defence in results["defences"]]
    return "\n".join(lines)


def _teacher_row(teacher: dict[str, Any], columns: list[tuple[str, str]], metric: str | None) -> str:
    accuracy = {key: value for key, value in teacher["accuracy"].items() if key != "worst_case"}
    cells = [f"teacher: {teacher['role']} (`{teacher['model']}`, {teacher['kind']})",
             *(_percent(accuracy.get(key)) for key, _ in columns), _percent(w_robust(accuracy, metric)),
             DASH, _seconds(teacher.get("train_seconds", teacher["prepare_seconds"])), DASH, DASH, DASH, DASH,
             *cost_cells(teacher),
             f"{teacher['source']}; entropy {teacher['mean_entropy']:.3f} nats"]
    return "| " + " | ".join(cells) + " |"


def _defence_row(defence: dict[str, Any], columns: list[tuple[str, str]], metric: str | None) -> str:
    memory = defence["peak_memory_mib"]
    cells = [f"**{defence['name']}**", *(_percent(defence["accuracy"].get(key)) for key, _ in columns),
             _percent(w_robust(defence["accuracy"], metric)),
             str(defence["selected_epoch"]), f"{defence['train_seconds']:.1f}", *_cost(defence),
             f"{defence['seconds_per_epoch']:.2f}",
             DASH if memory is None else f"{memory:.0f}", *cost_cells(defence), _defence_notes(defence)]
    return "| " + " | ".join(cells) + " |"


def _cost(defence: dict[str, Any]) -> list[str]:
    """The teachers' training seconds this defence depends on, and the total (student + teachers)."""
    cost = defence.get("training_cost")
    if cost is None:
        return [DASH, DASH]
    if cost["teacher_seconds"] == 0:
        return [DASH, f"{cost['total_seconds']:.1f}"]
    return [_seconds(cost["teacher_seconds"]), _seconds(cost["total_seconds"])]


def _seconds(value: float | None) -> str:
    return "?" if value is None else f"{value:.1f}"


def _options(defences: list[dict[str, Any]]) -> str:
    """Each defence's own options as trained, against its paper's defaults, and its augmentation."""
    if not any("options" in defence for defence in defences):
        return ""
    lines = ["Defence options (shared threat model and schedule, each defence's own options from its paper unless "
             "the recipe's `balancing` or `defence_options` set them):"]
    for defence in defences:
        paper = defence.get("paper_defaults") or {}
        own = {key: value for key, value in defence.get("options", {}).items()
               if key not in SHARED_THREAT or key in OWN_THREAT_KEYS.get(defence["name"], ())}
        used = ", ".join(f"{key} {_short(value)}" for key, value in own.items()) or "none of its own"
        source = f" (paper defaults {_format_options(paper['options'])}: {paper['reference']})" if paper else ""
        lines.append(f"- {defence['name']}: {used}{source}; augmentation: {defence.get('augmentation', 'none')}")
    return "\n".join(lines)


def _format_options(options: dict[str, Any]) -> str:
    return ", ".join(f"{key} {_short(value)}" for key, value in options.items()) or "none"


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _defence_notes(defence: dict[str, Any]) -> str:
    notes = []
    if defence.get("processes", 1) > 1:
        notes.append(f"{defence['processes']} processes (DDP)")
    if not defence["sanity_passed"]:
        notes.append(f"**sanity check failed: {', '.join(defence['failed_checks'])}**")
    return "; ".join(notes)


def _processes(env: dict[str, Any]) -> str:
    processes = env.get("processes", 1)
    return f", torchrun with {processes} processes" if processes > 1 else ""


def _selection(defences: list[dict[str, Any]]) -> str:
    lines = ["Checkpoint selection (validation split only, never the test split):"]
    lines += [f"- {defence['name']}: {defence['selection']}" for defence in defences]
    return "\n".join(lines)


def _banner(defences: list[dict[str, Any]]) -> str:
    failed = [defence["name"] for defence in defences if not defence["sanity_passed"]]
    if not failed:
        return ""
    return (f"> **WARNING: sanity checks failed for {', '.join(failed)} - possible gradient masking; their robust "
            "accuracies are probably overestimates. See each defence's report in results.json.**")


def _footnotes(results: dict[str, Any]) -> str:
    memory_kinds = sorted({defence["memory_kind"] for defence in results["defences"]})
    notes = [
        "Accuracies in %. W-Robust: the mean of clean and robust accuracy (the B-MTARD paper's Weighted Robust "
        "Accuracy), with AutoAttack as the robust accuracy when the table has it, else PGD-20. Teachers: clean "
        "accuracy, and PGD-20 for the robust teacher, on the same test examples; "
        "their Train s is what training them cost (also when this run took them from the cache; ? when unknown: "
        "a checkpoint or published weights).",
        "Teachers s: the training cost of the teachers a distillation defence needs; Total s: the student's "
        "training plus that (ART's trainers need no teacher).",
        "Train s and s/epoch: training only, device synchronised, per-epoch validation excluded. Peak MiB: "
        + ", ".join(memory_kinds) + ".",
        *(note for defence in results["defences"] for note in defence["notes"]),
        cost_footnote(results),
    ]
    return "\n".join(f"- {note}" for note in notes if note)


def _percent(value: float | None) -> str:
    return DASH if value is None else f"{100 * value:.1f}"


def _load(env: dict[str, Any]) -> str:
    load = env.get("load_average")
    return DASH if not load else f"{load[0]:.2f}"
