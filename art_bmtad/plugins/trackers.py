"""Built-in plugin: the run trackers ``tensorboard`` and ``mlflow`` (``art_bmtad.tracking``).

Registering imports neither library: each factory imports its backend when a run is opened, and its
``check_available`` says what to install before any work starts.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Callable

from art_bmtad.hookspecs import hookimpl
from art_bmtad.tracking.backend import Tracker, TrackerFactory, require


def _needs(package: str) -> Callable[[TrackerFactory], TrackerFactory]:
    """Give a factory ``check_available()``: the package (also the extra's and the backend's name) is installed."""

    def mark(factory: TrackerFactory) -> TrackerFactory:
        factory.check_available = functools.partial(require, package, package, package)  # type: ignore[attr-defined]
        return factory

    return mark


@_needs("tensorboard")
def tensorboard(folder: Path, run_name: str) -> Tracker:
    """Event files in ``folder/tensorboard/<run_name>``."""
    from art_bmtad.tracking.tensorboard import TensorBoardTracker

    return TensorBoardTracker(folder, run_name)


@_needs("mlflow")
def mlflow(folder: Path, run_name: str) -> Tracker:
    """An MLflow run in ``MLFLOW_TRACKING_URI``, else in ``folder/mlflow.db``."""
    from art_bmtad.tracking.mlflow import MlflowTracker

    return MlflowTracker(folder, run_name)


@hookimpl
def art_bmtad_register_trackers(register: Callable[[str, TrackerFactory], None]) -> None:
    """Register ``tensorboard`` and ``mlflow``."""
    register("tensorboard", tensorboard)
    register("mlflow", mlflow)
