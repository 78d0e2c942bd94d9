"""Run tracking: a run's recipe, training history and evaluation in TensorBoard, MLflow or a plugin's backend::

    from art_bmtad.tracking import open_tracking

    with open_tracking(["tensorboard", "mlflow"], "runs/student", "bmtard") as tracker:
        tracker.log_params(recipe.to_dict())   # or any settings
        tracker.follow(trainer)                # each epoch's steps and summary, live
        trainer.fit(x, y, validation_data=(x_val, y_val), nb_epochs=10)
        tracker.log_evaluation(report, step=10)

The CLI's ``--log tensorboard`` / ``--log mlflow`` (``train``, ``bench``, ``tune``) do the same. Backends are
plugins (hook ``art_bmtad_register_trackers``); the built-in ones need their extras (``pip install
'art-bmtad[tensorboard]'``, ``'art-bmtad[mlflow]'``) and are imported only when a run is opened.

Modules: :mod:`~.backend` (what a backend is), :mod:`~.run_tracker` (what is logged, and when),
:mod:`~.tensorboard`, :mod:`~.mlflow`.
"""
from __future__ import annotations

from art_bmtad.tracking.backend import MissingTrackerError, Tracker, TrackerFactory
from art_bmtad.tracking.run_tracker import RunTracker, check_tracking, open_tracking

__all__ = ["MissingTrackerError", "RunTracker", "Tracker", "TrackerFactory", "check_tracking", "open_tracking"]
