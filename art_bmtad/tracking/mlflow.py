"""The ``mlflow`` tracker: one MLflow run per art-bmtad run, in the experiment ``art-bmtad``.

Where the runs go: ``MLFLOW_TRACKING_URI`` when set (a tracking server, a database), else an SQLite store in the
run folder, ``sqlite:///RUN/mlflow.db`` (``mlflow ui --backend-store-uri sqlite:///RUN/mlflow.db`` shows it).
``MLFLOW_EXPERIMENT_NAME`` changes the experiment. Metrics are buffered and sent in batches (MLflow's
``log_batch``) after each epoch, so a run's per-step history costs a few requests per epoch. Needs ``mlflow-skinny``
and SQLAlchemy (``pip install 'art-bmtad[mlflow]'``).
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Mapping

from art_bmtad.tracking.backend import ParamValue, require

STORE_FILE = "mlflow.db"
EXPERIMENT = "art-bmtad"
BATCH = 1000
"""MLflow's limit of metrics per ``log_batch`` call."""
PARAM_LENGTH = 6000
"""MLflow's limit of a parameter value's length."""


def tracking_uri(folder: Path) -> str:
    """``MLFLOW_TRACKING_URI``, else the SQLite store in ``folder``."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(Path(folder) / STORE_FILE).resolve()}"


class MlflowTracker:
    """An MLflow run named ``run_name`` (see the module docstring for where it is stored).

    Raises:
        MissingTrackerError: mlflow is not installed.
    """

    def __init__(self, folder: Path, run_name: str) -> None:
        require("mlflow", "mlflow", "mlflow")
        from mlflow.tracking import MlflowClient

        Path(folder).mkdir(parents=True, exist_ok=True)
        self.uri = tracking_uri(folder)
        self._client = MlflowClient(tracking_uri=self.uri)
        name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or EXPERIMENT
        experiment = self._client.get_experiment_by_name(name)
        experiment_id = experiment.experiment_id if experiment else self._client.create_experiment(name)
        self.run_id = self._client.create_run(experiment_id, run_name=run_name).info.run_id
        self._pending: list = []

    def log_params(self, params: Mapping[str, ParamValue]) -> None:  # noqa: D102 - Tracker
        from mlflow.entities import Param

        entries = [Param(key, str(value)[:PARAM_LENGTH]) for key, value in params.items()]
        for start in range(0, len(entries), 100):  # MLflow takes at most 100 parameters per batch
            self._client.log_batch(self.run_id, params=entries[start:start + 100])

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:  # noqa: D102 - Tracker
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self._pending.extend(Metric(key, float(value), now, step) for key, value in metrics.items())
        if len(self._pending) >= BATCH:
            self.flush()

    def flush(self) -> None:  # noqa: D102 - Tracker
        pending, self._pending = self._pending, []
        for start in range(0, len(pending), BATCH):
            self._client.log_batch(self.run_id, metrics=pending[start:start + BATCH])

    def close(self) -> None:  # noqa: D102 - Tracker
        self.flush()
        self._client.set_terminated(self.run_id)
