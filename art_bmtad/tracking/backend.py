"""What a tracking backend is: where a run's parameters and metrics go (TensorBoard, MLflow, a plugin's own).

A backend only stores values; :class:`~art_bmtad.tracking.run_tracker.RunTracker` decides what to log (the recipe,
the training history, the evaluation) and when. Backends are registered by plugins through the
``art_bmtad_register_trackers`` hook as ``register(name, factory)``, where ``factory(folder, run_name)`` opens one
tracked run whose files (if any) go under ``folder``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Mapping, Protocol, Union, runtime_checkable

ParamValue = Union[str, int, float, bool, None]


@runtime_checkable
class Tracker(Protocol):
    """One tracked run of a backend."""

    def log_params(self, params: Mapping[str, ParamValue]) -> None:
        """Record the run's settings (flat ``dotted.key -> value``), once per run."""

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        """Record values of metrics (``train/loss``, ``epoch/val_clean_acc``, ...) at ``step``; may be buffered."""

    def flush(self) -> None:
        """Make everything logged so far visible (called after each epoch)."""

    def close(self) -> None:
        """Flush and finish the run."""


TrackerFactory = Callable[[Path, str], Tracker]
"""``factory(folder, run_name)``: open a tracked run named ``run_name`` whose files go under ``folder``."""


class MissingTrackerError(ValueError):
    """A backend's package is not installed; the message says what to install."""


def require(module: str, extra: str, backend: str) -> None:
    """Raise :class:`MissingTrackerError` naming the install command when ``module`` cannot be imported."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise MissingTrackerError(f"--log {backend} needs the {module} package: pip install 'art-bmtad[{extra}]'")
