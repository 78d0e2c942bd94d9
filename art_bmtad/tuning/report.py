"""What a study leaves in its run folder: the best recipe, the table of trials, the Pareto front and the importance
of each setting.

* ``config.yaml``: the base recipe with the best trial's values (``art-bmtad train --config`` and ``bench --config``
  take it; its data is the whole training pool, not the pilot). A pareto study picks, from its front, the trial
  with the best weighted score, and also writes every front trial as ``pareto/trial_<n>.yaml``.
* ``trials.csv`` and ``trials.md``: one row per trial (state, drawn values, validation clean and PGD accuracy of
  the kept epoch, or of the epoch where it was pruned, and their mean, the paper's W-Robust with PGD).
* ``pareto.png``: validation clean against PGD accuracy of every trial, the Pareto front joined.
* ``importance.png``: Optuna's fANOVA importance of each searched key for the weighted score; from a few trials it
  is a rough indication, which ``trials.md`` says.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from art_bmtad.recipes.recipe import RECIPE_FILE, Recipe, write_recipe
from art_bmtad.run import write_atomic
from art_bmtad.tuning.space import apply_values
from art_bmtad.tuning.study import ERROR_ATTR, TuneSettings, finished_trials
from art_bmtad.tuning.trials import best_trial, pareto_front, scored_trials, short_name

if TYPE_CHECKING:
    import optuna
    from matplotlib.figure import Figure

TRIALS_CSV, TRIALS_MD = "trials.csv", "trials.md"
PARETO_PLOT, IMPORTANCE_PLOT = "pareto.png", "importance.png"
PARETO_FOLDER = "pareto"
FEW_TRIALS = 20
"""Below this many complete trials the importances are called rough."""
MIN_IMPORTANCE_TRIALS = 4
"""Below this many complete trials no importance is computed (fANOVA would fit noise)."""


def best_recipe(settings: TuneSettings, trial: "optuna.trial.FrozenTrial") -> Recipe:
    """The base recipe with the trial's values, for the tuned defence only."""
    recipe, _ = apply_values(settings.recipe, {**trial.user_attrs["values"], "defences": [settings.defence]})
    return recipe


def write_trials_table(study: "optuna.Study", settings: TuneSettings, folder: Path,
                       importances: dict[str, float] | None = None) -> list[Path]:
    """Write ``trials.csv`` and ``trials.md`` (cheap enough for after every trial without ``importances``)."""
    rows = _rows(study, settings)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["trial"])
    writer.writeheader()
    writer.writerows(rows)
    return [write_atomic(folder / TRIALS_CSV, buffer.getvalue()),
            write_atomic(folder / TRIALS_MD, _markdown(study, settings, rows, importances))]


def write_report(study: "optuna.Study", settings: TuneSettings, folder: Path) -> list[Path]:
    """Write every output of the study (see the module docstring).

    Returns:
        The files written (no ``config.yaml`` or plots before a trial has completed).
    """
    importances = _importances(study, settings)
    written = write_trials_table(study, settings, folder, importances)
    best = best_trial(study, settings.objective)
    if best is None:
        return written
    written.append(write_recipe(best_recipe(settings, best), folder / RECIPE_FILE))
    if settings.objective.multi:
        for trial in pareto_front(scored_trials(study)):
            path = folder / PARETO_FOLDER / f"trial_{trial.number}.yaml"
            written.append(write_recipe(best_recipe(settings, trial), path))
    written.append(_plot_pareto(study, settings, best, folder / PARETO_PLOT))
    if importances:
        written.append(_plot_importances(importances, len(scored_trials(study)), folder / IMPORTANCE_PLOT))
    else:
        (folder / IMPORTANCE_PLOT).unlink(missing_ok=True)  # an earlier rendering's plot would contradict trials.md
    return written


def _rows(study: "optuna.Study", settings: TuneSettings) -> list[dict[str, Any]]:
    rows = []
    for trial in study.get_trials(deepcopy=False):
        attrs = trial.user_attrs
        row: dict[str, Any] = {"trial": trial.number, "state": trial.state.name.lower()}
        row.update({short_name(r.key): attrs.get("values", {}).get(r.key) for r in settings.space})
        clean, robust = attrs.get("val_clean_acc"), attrs.get("val_pgd_acc")
        row.update(val_clean=clean, val_pgd=robust,
                   val_w_robust=None if clean is None or robust is None else (clean + robust) / 2,
                   score=None if clean is None else settings.objective.score(clean, robust),
                   epoch=attrs.get("epoch"), seconds=attrs.get("seconds"), note=attrs.get(ERROR_ATTR, ""))
        rows.append(row)
    return rows


def _importances(study: "optuna.Study", settings: TuneSettings) -> dict[str, float]:
    """fANOVA importance of each searched key for the weighted score; empty below
    :data:`MIN_IMPORTANCE_TRIALS` complete trials."""
    import optuna

    trials = scored_trials(study)
    if len(trials) < MIN_IMPORTANCE_TRIALS:
        return {}
    objective = settings.objective
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=settings.recipe.seed)
    try:
        importances = optuna.importance.get_param_importances(
            study, evaluator=evaluator,
            target=lambda t: objective.score(t.user_attrs["val_clean_acc"], t.user_attrs["val_pgd_acc"]))
    except (RuntimeError, ValueError):  # e.g. every trial drew the same values
        return {}
    return {short_name(key): value for key, value in importances.items()}


def _markdown(study: "optuna.Study", settings: TuneSettings, rows: list[dict[str, Any]],
              importances: dict[str, float] | None) -> str:
    recipe, objective = settings.recipe, settings.objective
    states = [row["state"] for row in rows]
    lines = [
        f"# Tuning {settings.defence}",
        "",
        f"- Objective: {objective.describe()}",
        f"- Data: `{recipe.data.source}`; each trial trains on a pilot of {_pilot_text(study, settings)} for "
        f"{recipe.schedule.epochs} epochs and is scored on the validation split only (the study never loads the "
        "test split)",
        f"- Trials: {len(finished_trials(study))} of {settings.n_trials} finished ("
        + ", ".join(f"{states.count(s)} {s}" for s in sorted(set(states))) + ")",
        "- Pruning: " + ("none: Optuna does not prune multi-objective studies, every trial ran all its epochs"
                         if objective.multi else _pruning_text(settings)),
    ]
    best = best_trial(study, objective)
    if best is not None:
        values = ", ".join(f"{short_name(k)}={v:.4g}" for k, v in best.user_attrs["values"].items())
        lines.append(f"- Best: trial {best.number} ({values}), written as {RECIPE_FILE}")
    if importances:
        n = len(scored_trials(study))
        caveat = f" (from only {n} complete trials: a rough indication)" if n < FEW_TRIALS else ""
        lines.append("- Importance (fANOVA, weighted score)" + caveat + ": "
                     + ", ".join(f"{k} {v:.2f}" for k, v in importances.items()))
    elif importances is not None:
        lines.append(f"- Importance: not computed (needs {MIN_IMPORTANCE_TRIALS} complete trials that differ in score)")
    lines += ["", _table(rows), ""]
    return "\n".join(lines)


def _pilot_text(study: "optuna.Study", settings: TuneSettings) -> str:
    sizes = study.user_attrs.get("data")
    if sizes is None:
        return f"{settings.pilot_size} of the training split"
    return f"{sizes['pilot']} of the {sizes['train']} training images ({sizes['val']} validation images)"


def _pruning_text(settings: TuneSettings) -> str:
    if settings.pruner == "median":
        return "median rule (a trial below the median of earlier trials at the same epoch stops), from epoch 2"
    if settings.pruner == "threshold":
        return f"a trial whose score after an epoch is below {settings.prune_below:g} stops"
    return "off"


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "(no trials yet)"
    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row[key]) for key in header) + " |")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _plot_pareto(study: "optuna.Study", settings: TuneSettings, best: "optuna.trial.FrozenTrial", path: Path) -> Path:
    figure = _figure(figsize=(6.4, 4.8), dpi=100)
    axes = figure.subplots()
    trials = scored_trials(study)
    axes.scatter(*_points(trials), s=40, alpha=0.7, label="complete trials", zorder=3)
    axes.plot(*_points(pareto_front(trials)), "-", color="tab:orange", label="Pareto front", zorder=2)
    pruned = [t for t in study.get_trials(deepcopy=False)
              if t.state.name == "PRUNED" and "val_clean_acc" in t.user_attrs]
    if pruned:
        axes.scatter(*_points(pruned), marker="x", color="grey", label="pruned (where they stopped)", zorder=3)
    axes.scatter(*_points([best]), marker="*", s=220, color="tab:red", label=f"config.yaml (trial {best.number})",
                 zorder=4)
    axes.set_xlabel("validation clean accuracy (%)")
    axes.set_ylabel(f"validation PGD-{settings.recipe.threat.max_iter} accuracy (%)")
    axes.set_title(f"Tuning {settings.defence}: {len(trials)} complete trials")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    return _save(figure, path)


def _points(trials: list["optuna.trial.FrozenTrial"]) -> tuple[list[float], list[float]]:
    """Validation clean and PGD accuracy (%) of the trials."""
    return ([100 * t.user_attrs["val_clean_acc"] for t in trials], [100 * t.user_attrs["val_pgd_acc"] for t in trials])


def _plot_importances(importances: dict[str, float], n_trials: int, path: Path) -> Path:
    figure = _figure(figsize=(6.4, 0.5 * len(importances) + 1.5), dpi=100)
    axes = figure.subplots()
    names = list(importances)[::-1]
    axes.barh(names, [importances[name] for name in names], color="tab:blue")
    axes.set_xlabel("fANOVA importance for the weighted score")
    caveat = "\n(few trials: a rough indication)" if n_trials < FEW_TRIALS else ""
    axes.set_title(f"Importance, {n_trials} complete trials{caveat}", fontsize=10)
    figure.tight_layout()
    return _save(figure, path)


def _figure(**options: Any) -> Figure:
    """A matplotlib ``Figure`` of its own (pyplot and its global backend are not touched)."""
    from matplotlib.figure import Figure

    return Figure(**options)


def _save(figure: Figure, path: Path) -> Path:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(path, buffer.getvalue())
