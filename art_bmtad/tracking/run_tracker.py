"""What art-bmtad logs to the tracking backends of a run, and when.

* the recipe (or any settings) as parameters, flattened to ``dotted.key -> value``;
* the training history: every step's recorded values (``train/loss``, ``train/temperature.robust``,
  ``train/weight.clean``, ``train/entropy.robust``, ... whatever the defence records, a ``/`` in its key written
  as ``.``) at the global step, and every epoch's summary (``epoch/loss``, ``epoch/lr``, ``epoch/val_clean_acc``,
  ``epoch/val_pgd_acc``, ...) at the epoch number;
* the final evaluation: ``eval/<attack>`` accuracies, ``eval/worst_case`` and ``eval/w_robust_<attack>``.

:meth:`RunTracker.follow` logs a trainer's history live, at the end of every epoch (after its validation), through
the trainer's ``on_epoch_end``; :meth:`RunTracker.log_history` logs whatever of a history is not logged yet, so
calling it again after training costs nothing and catches defences that keep their history elsewhere.
"""
from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from art_bmtad.tracking.backend import ParamValue, Tracker

if TYPE_CHECKING:
    from art_bmtad.trainers.history import History

STEP_PREFIX, EPOCH_PREFIX, EVAL_PREFIX = "train/", "epoch/", "eval/"
W_ROBUST_ATTACKS = ("pgd20", "autoattack")


class RunTracker:
    """The tracked runs of one art-bmtad run, one per backend; logs to all of them.

    Open it with :func:`open_tracking` (backends by name) or give it backends directly. Without backends every
    call does nothing, so code can log unconditionally. Use it as a context manager, or call :meth:`close`.

    Args:
        trackers: the backends' open runs.
    """

    def __init__(self, trackers: Sequence[Tracker] = ()) -> None:
        self.trackers = list(trackers)
        self._steps_logged = 0
        self._epochs_logged = 0

    def __enter__(self) -> "RunTracker":
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def __bool__(self) -> bool:
        return bool(self.trackers)

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log settings as parameters; nested mappings are flattened (``{"schedule": {"lr": 0.1}}`` ->
        ``schedule.lr``), lists written as text."""
        flat = flatten(params)
        for tracker in self.trackers:
            tracker.log_params(flat)

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        """Log values at ``step`` to every backend."""
        if metrics:
            for tracker in self.trackers:
                tracker.log_metrics(metrics, step)

    def log_history(self, history: History) -> None:
        """Log the steps and epochs of ``history`` not logged yet, then flush (each epoch is visible at once)."""
        if not self.trackers:
            return
        steps = {key: values for key, values in history.steps.items() if values}
        total = max((len(values) for values in steps.values()), default=0)
        for index in range(self._steps_logged, total):
            self.log_metrics({metric_name(STEP_PREFIX, key): values[index] for key, values in steps.items()
                              if index < len(values)}, index + 1)
        self._steps_logged = max(self._steps_logged, total)
        for epoch in history.epochs[self._epochs_logged:]:
            self.log_metrics({metric_name(EPOCH_PREFIX, key): float(value) for key, value in epoch.items()
                              if key != "epoch" and _is_number(value)}, int(epoch["epoch"]))
        self._epochs_logged = max(self._epochs_logged, len(history.epochs))
        self.flush()

    def follow(self, trainer: Any) -> None:
        """Log ``trainer.history`` at the end of every epoch, before the trainer's own ``on_epoch_end`` runs.

        Args:
            trainer: a trainer with a ``history`` (:class:`~art_bmtad.trainers.history.History`) and an
                ``on_epoch_end(epoch)`` callback, such as every distillation trainer of art-bmtad.
        """
        if not self.trackers:
            return
        previous = trainer.on_epoch_end

        def on_epoch_end(epoch: dict[str, Any]) -> None:
            self.log_history(trainer.history)
            previous(epoch)

        trainer.on_epoch_end = on_epoch_end

    def log_evaluation(self, report: Any, step: int = 0) -> None:
        """Log an evaluation's accuracies: ``eval/clean``, ``eval/<attack>``, ``eval/worst_case`` and W-Robust.

        Args:
            report: a :class:`~art_bmtad.evaluation.report.RobustnessReport` or its ``to_dict()``.
            step: where to put them on the metric axis (e.g. the number of epochs trained).
        """
        document = report if isinstance(report, Mapping) else report.to_dict()
        accuracy = dict(document.get("robust_accuracy", {}))
        metrics = {EVAL_PREFIX + key: float(value) for key, value in accuracy.items()}
        if "worst_case_accuracy" in document:
            metrics[EVAL_PREFIX + "worst_case"] = float(document["worst_case_accuracy"])
        for attack in W_ROBUST_ATTACKS:
            if "clean" in accuracy and attack in accuracy:
                metrics[f"{EVAL_PREFIX}w_robust_{attack}"] = (accuracy["clean"] + accuracy[attack]) / 2
        self.log_metrics(metrics, step)
        self.flush()

    def flush(self) -> None:
        """Make everything logged visible."""
        for tracker in self.trackers:
            tracker.flush()

    def close(self) -> None:
        """Finish every backend's run (each is closed even when another fails)."""
        trackers, self.trackers = self.trackers, []
        errors = []
        for tracker in trackers:
            try:
                tracker.close()
            except Exception as err:  # noqa: BLE001 - close the others, then report the first failure
                errors.append(err)
        if errors:
            raise errors[0]


def check_tracking(names: Sequence[str]) -> None:
    """Check, before any work, that every named backend is registered and has what it needs installed.

    Raises:
        UnknownNameError: an unregistered name (the message lists the known ones).
        ValueError: a backend's own check failed (e.g. :class:`MissingTrackerError`: its package is missing).
    """
    from art_bmtad.registry import tracker_factory

    for name in names:
        check = getattr(tracker_factory(name), "check_available", None)
        if check is not None:
            check()


def open_tracking(names: Sequence[str], folder: str | Path, run_name: str) -> RunTracker:
    """Open one run in each named backend (``tensorboard``, ``mlflow``, a plugin's), on rank 0 only.

    Args:
        names: registered tracker names (``art-bmtad plugins`` lists them); empty: track nothing.
        folder: the run folder; backends that write files put them under it.
        run_name: the run's name in the backends (the defence, or ``trial-3``).

    Raises:
        UnknownNameError: an unregistered name (the message lists the known ones).
        MissingTrackerError: a backend's package is not installed.
    """
    from art_bmtad.registry import create_tracker
    from art_bmtad.utils import distributed

    if not names or not distributed.is_main_process():
        return RunTracker()
    opened: list[Tracker] = []
    try:
        for name in names:
            opened.append(create_tracker(name, Path(folder), run_name))
    except BaseException:
        RunTracker(opened).close()
        raise
    return RunTracker(opened)


def metric_name(prefix: str, key: str) -> str:
    """``train/loss``; a history key's own ``/`` becomes ``.`` (``loss/robust`` -> ``train/loss.robust``), so that
    ``loss`` and ``loss/robust`` stay two metrics where a store keeps metrics as files (MLflow's file store)."""
    return prefix + key.replace("/", ".")


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, ParamValue]:
    """``{"a": {"b": 1}, "c": [1, 2]}`` -> ``{"a.b": 1, "c": "[1, 2]"}``."""
    flat: dict[str, ParamValue] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, (str, int, float, bool)) or value is None:
            flat[name] = value
        else:
            flat[name] = str(list(value) if isinstance(value, tuple) else value)
    return flat


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
