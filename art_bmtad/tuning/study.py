"""A tuning study: Optuna trials that each train the student on the pilot subset and score it on the validation
split, stored in the run folder's SQLite file so a study can be resumed after a kill and shared by processes.

Each trial draws the searched recipe keys (:mod:`~art_bmtad.tuning.space`), trains the defence with the project's
own :func:`~art_bmtad.pipeline.training.train_defence` on :meth:`TuningData.pilot_dataset` (checkpoint selection
by the recipe's ``schedule.select_by``, as the final run will do), and returns the validation clean and PGD
accuracy of the kept epoch (:class:`~art_bmtad.tuning.objective.Objective`). Single-objective trials report the
objective after every epoch, and the pruner stops unpromising ones. The teachers are prepared once per process
(the teacher cache, on the recipe's whole training split) and shared by every trial.

A trial counts once it is complete, pruned, or failed on its own account (a non-finite loss); a trial cut short by
a kill does not, so a resumed study runs it again and never repeats a finished one.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from art_bmtad.recipes.recipe import Recipe, recipe_from_dict
from art_bmtad.tuning.data import TuningData, load_tuning_data
from art_bmtad.tuning.objective import Objective
from art_bmtad.tuning.space import (DEFAULT_SPACE, Range, apply_values, check_space, parse_range, parse_space,
                                    suggest)
from art_bmtad.tuning.storage import check_same_study, check_storage, shown, study_storage
from art_bmtad.tuning.trials import best_trial, short_name
from art_bmtad.utils.errors import ConfigError
from art_bmtad.utils.json_documents import read_json_document

if TYPE_CHECKING:
    import optuna

    from art_bmtad.pipeline.components import PreparedTeachers

SETTINGS_FILE = "tune.json"
SETTINGS_FORMAT = "art-bmtad-tune/1"
STUDY_NAME = "art-bmtad-tune"
PRUNERS = ("median", "threshold", "none")
HEARTBEAT_S = 10
"""A running trial's heartbeat; one silent for 3 heartbeats (its process was killed) is marked failed."""
ERROR_ATTR = "error"


@dataclass
class TuneSettings:
    """Everything a study depends on (saved as ``tune.json`` in the run folder; ``--resume`` reads it back).

    Attributes:
        recipe: the base recipe: data (its training split is the pilot's source), student, teachers, schedule
            (epochs per trial), threat model; the searched keys are drawn over it.
        defence: the distillation defence tuned (``bmtard``, or a relative).
        space: the searched ranges.
        objective: what the study maximises.
        pilot_size: training images per trial: a count, or a fraction of the training split.
        n_trials: trials to finish (complete, pruned or failed on their own account).
        pruner: ``median`` (Optuna's median rule from epoch 2, once 2 trials have finished), ``threshold``
            (prune a trial whose objective after an epoch is below ``prune_below``) or ``none``; pareto studies
            are never pruned.
        prune_below: the threshold of ``pruner="threshold"``.
        storage: the study's Optuna storage URL (see :mod:`~art_bmtad.tuning.storage`); ``None``: the SQLite file
            in the run folder.
    """

    recipe: Recipe
    defence: str = "bmtard"
    space: tuple[Range, ...] = DEFAULT_SPACE
    objective: Objective = field(default_factory=Objective)
    pilot_size: int | float = 0.5
    n_trials: int = 20
    pruner: str = "median"
    prune_below: float | None = None
    storage: str | None = None

    def check(self) -> None:
        """Check the settings before any work.

        Raises:
            ConfigError: names the option that is wrong.
        """
        if self.n_trials < 1:
            raise ConfigError(f"--trials {self.n_trials}: a study of no trials would do nothing; give at least 1")
        if self.pruner not in PRUNERS:
            raise ConfigError(f"--pruner: unknown value {self.pruner!r}; allowed: {', '.join(PRUNERS)}")
        if (self.pruner == "threshold") != (self.prune_below is not None):
            raise ConfigError("--prune-below X goes with --pruner threshold (and only with it)")
        if self.recipe.schedule.select_by is None:
            raise ConfigError("schedule.select_by is null: tuning scores the epoch the run keeps on the validation "
                              "split; set it to robust, clean or sum")
        parse_space([], self.defence)  # a distillation defence
        check_space(self.recipe, self.space)
        check_storage(self.storage)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of ``tune.json``."""
        return {"format": SETTINGS_FORMAT, "defence": self.defence, "space": [r.to_text() for r in self.space],
                "objective": {"kind": self.objective.kind, "clean_weight": self.objective.clean_weight},
                "pilot_size": self.pilot_size, "n_trials": self.n_trials, "pruner": self.pruner,
                "prune_below": self.prune_below, "storage": shown(self.storage), "recipe": self.recipe.to_dict()}

    @classmethod
    def read(cls, folder: Path) -> "TuneSettings":
        """The settings saved in a run folder's ``tune.json``.

        Raises:
            FileNotFoundError: no ``tune.json`` (not a tuning run folder).
            ValueError: a damaged file.
        """
        document = read_json_document(folder / SETTINGS_FILE, SETTINGS_FORMAT, "art-bmtad tuning study",
                                      f"{folder}: no {SETTINGS_FILE} there; is it the --out folder of a tune run?")
        space = tuple(parse_range(item) for item in document["space"])
        return cls(recipe_from_dict(document["recipe"]), document["defence"], space,
                   Objective(**document["objective"]), document["pilot_size"], document["n_trials"],
                   document["pruner"], document["prune_below"], document.get("storage"))


def open_study(
    settings: TuneSettings, folder: Path, *, pruner: "optuna.pruners.BasePruner | None" = None
) -> "optuna.Study":
    """Create the study in its storage (``settings.storage``, else ``folder``'s SQLite file), or load the one there.

    Args:
        settings: the study's settings.
        folder: the run folder.
        pruner: overrides the pruner of ``settings`` (e.g. a custom rule in Python).

    Returns:
        The study, with a sampler seeded from the recipe's seed and the trials already stored (so a resumed
        study draws new points rather than repeating the first ones).

    Raises:
        ConfigError: the storage's study was created with other settings (the keys are named).
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        storage = optuna.storages.RDBStorage(study_storage(settings.storage, folder), heartbeat_interval=HEARTBEAT_S,
                                             grace_period=3 * HEARTBEAT_S)
    existing = 0
    if STUDY_NAME in {study.study_name for study in storage.get_all_studies()}:
        existing = len(optuna.load_study(study_name=STUDY_NAME, storage=storage).trials)
    seed = settings.recipe.seed + existing
    n = max(settings.n_trials, 1)
    if settings.objective.multi:
        sampler: optuna.samplers.BaseSampler = optuna.samplers.NSGAIISampler(
            seed=seed, population_size=max(4, min(50, n // 4)))
    else:
        sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(2, min(10, n // 3)))
    study = optuna.create_study(storage=storage, study_name=STUDY_NAME, sampler=sampler,
                                pruner=pruner or _pruner(settings), directions=settings.objective.directions,
                                load_if_exists=True)
    check_same_study(study, settings.to_dict())
    return study


def _pruner(settings: TuneSettings) -> "optuna.pruners.BasePruner":
    import optuna

    if settings.objective.multi or settings.pruner == "none":
        return optuna.pruners.NopPruner()
    if settings.pruner == "threshold":
        return optuna.pruners.ThresholdPruner(lower=settings.prune_below)
    return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=2)  # from epoch 2 (steps are epochs)


def finished_trials(study: "optuna.Study") -> list["optuna.trial.FrozenTrial"]:
    """Trials that count towards ``n_trials``: complete, pruned, or failed on their own account."""
    from optuna.trial import TrialState

    return [t for t in study.get_trials(deepcopy=False)
            if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
            or (t.state == TrialState.FAIL and ERROR_ATTR in t.user_attrs)]


def run_study(
    settings: TuneSettings,
    folder: Path,
    *,
    device: str | None = None,
    progress: bool = False,
    pruner: "optuna.pruners.BasePruner | None" = None,
    log: Callable[[str], None] = print,
    after_trial: Callable[["optuna.Study"], None] | None = None,
    data: TuningData | None = None,
    trackers: Sequence[str] = (),
) -> "optuna.Study":
    """Run trials until the study in ``folder`` holds ``settings.n_trials`` finished ones.

    Other processes may run the same study at the same time (each checks the shared count before a trial).

    Args:
        settings: the study's settings (checked here, before the data is loaded).
        folder: the run folder (it exists; the study is in ``settings.storage``, else ``folder/study.db``).
        device: where to train (default: the recipe's).
        progress: progress bars while teachers are trained (trials train quietly: one line each).
        pruner: overrides the pruner of ``settings``.
        log: receives one progress line per trial.
        after_trial: called with the study after each trial of this process (e.g. to rewrite the trials table).
        data: the study's data when already loaded (default: :func:`load_tuning_data`).
        trackers: tracking backends (``tensorboard``, ``mlflow``, ...): each trial of this process is one tracked run,
            ``trial-<number>``, with its recipe, training history and scores (:mod:`art_bmtad.tracking`).

    Returns:
        The study.
    """
    from art_bmtad.pipeline.components import apply_runtime, prepare_teachers
    from art_bmtad.pipeline.training import teachers_needed
    from art_bmtad.utils.device import resolve_device

    settings.check()
    recipe = settings.recipe
    if data is None:
        data = load_tuning_data(recipe, settings.pilot_size)
    study = open_study(settings, folder, pruner=pruner)
    if len(finished_trials(study)) >= settings.n_trials:
        return study
    apply_runtime(recipe)
    device = device or resolve_device(recipe.device)
    teachers = prepare_teachers(recipe, data.teacher_dataset(), teachers_needed([settings.defence]),
                                device=device, progress=progress)
    objective = _TrialObjective(settings, data, teachers, device, folder, trackers)
    study.set_user_attr("data", {"pilot": len(data.pilot), "train": len(data.x_train), "val": len(data.x_val)})
    log(f"tune: {settings.defence} on a pilot of {len(data.pilot)} of {len(data.x_train)} training images, "
        f"scored on {len(data.x_val)} validation images; {settings.objective.describe()}")

    def report(study: "optuna.Study", trial: "optuna.trial.FrozenTrial") -> None:
        log(progress_line(study, trial, settings))
        if after_trial is not None:
            after_trial(study)

    while len(finished_trials(study)) < settings.n_trials:
        study.optimize(objective, n_trials=1, catch=(FloatingPointError,), callbacks=[report])
    return study


class _TrialObjective:
    """One trial: draw the values, train on the pilot subset, report every epoch, return the kept epoch's
    scores."""

    def __init__(self, settings: TuneSettings, data: TuningData, teachers: "PreparedTeachers", device: Any,
                 folder: Path, trackers: Sequence[str]) -> None:
        self.settings, self.teachers, self.device = settings, teachers, device
        self.folder, self.trackers = folder, trackers
        self.pilot = data.pilot_dataset()

    def __call__(self, trial: "optuna.Trial") -> tuple[float, ...]:
        import optuna

        from art_bmtad.pipeline.training import train_defence
        from art_bmtad.tracking import open_tracking

        settings, objective = self.settings, self.settings.objective
        recipe, values = apply_values(settings.recipe, suggest(trial, settings.space))
        trial.set_user_attr("values", values)
        started = time.perf_counter()

        def on_epoch_end(epoch: dict[str, Any]) -> None:
            clean, robust = epoch["val_clean_acc"], epoch["val_pgd_acc"]
            if objective.multi:  # Optuna cannot prune multi-objective studies
                return
            trial.report(objective.score(clean, robust), epoch["epoch"])
            if trial.should_prune():
                _record(trial, clean, robust, epoch["epoch"], time.perf_counter() - started)
                raise optuna.TrialPruned(f"pruned after epoch {epoch['epoch']}")

        with open_tracking(self.trackers, self.folder, f"trial-{trial.number}") as tracker:
            tracker.log_params({"trial": trial.number, **recipe.to_dict()})
            try:
                trained = train_defence(settings.defence, recipe, self.pilot, self.teachers.classifiers,
                                        device=self.device, progress=False, on_epoch_end=on_epoch_end, tracker=tracker)
            except FloatingPointError as err:
                trial.set_user_attr(ERROR_ATTR, str(err))
                trial.set_user_attr("seconds", time.perf_counter() - started)
                raise
            epoch = trained.history.epochs[trained.selected_epoch - 1]
            clean, robust = epoch["val_clean_acc"], epoch["val_pgd_acc"]
            tracker.log_metrics({"trial/val_clean_acc": clean, "trial/val_pgd_acc": robust,
                                 "trial/score": objective.score(clean, robust)}, trained.selected_epoch)
        _record(trial, clean, robust, trained.selected_epoch, time.perf_counter() - started)
        return objective.values(clean, robust)


def _record(trial: "optuna.Trial", clean: float, robust: float, epoch: int, seconds: float) -> None:
    for key, value in (("val_clean_acc", clean), ("val_pgd_acc", robust), ("epoch", epoch), ("seconds", seconds)):
        trial.set_user_attr(key, value)


def progress_line(study: "optuna.Study", trial: "optuna.trial.FrozenTrial", settings: TuneSettings) -> str:
    """``trial 3 (4/20 finished) complete: temperature_lr=0.0123 ... -> clean 0.612 PGD 0.401 score 0.507
    (epoch 3, 41 s); best: trial 1, score 0.530``."""
    attrs = trial.user_attrs
    values = " ".join(f"{short_name(key)}={value:.4g}" for key, value in attrs.get("values", {}).items())
    done = len(finished_trials(study))
    line = f"trial {trial.number} ({done}/{settings.n_trials} finished) {trial.state.name.lower()}: {values}"
    if "val_clean_acc" in attrs:
        clean, robust = attrs["val_clean_acc"], attrs["val_pgd_acc"]
        line += f" -> clean {clean:.3f} PGD {robust:.3f}"
        if not settings.objective.multi:
            line += f" score {settings.objective.score(clean, robust):.3f}"
        line += f" (epoch {attrs['epoch']}, {attrs['seconds']:.0f} s)"
    elif ERROR_ATTR in attrs:
        line += f" -> failed: {attrs[ERROR_ATTR]}"
    best = best_trial(study, settings.objective)
    if best is not None:
        score = settings.objective.score(best.user_attrs["val_clean_acc"], best.user_attrs["val_pgd_acc"])
        line += f"; best: trial {best.number}, score {score:.3f}"
    return line
