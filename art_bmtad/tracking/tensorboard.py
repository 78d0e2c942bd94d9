"""The ``tensorboard`` tracker: event files that TensorBoard reads, one folder per run (``tensorboard --logdir``).

Metrics are scalars (``add_scalar``); the parameters are one Markdown table under the text tag ``params``.
Needs the ``tensorboard`` package (``pip install 'art-bmtad[tensorboard]'``); ``torch.utils.tensorboard`` writes.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

from art_bmtad.tracking.backend import ParamValue, require

FOLDER = "tensorboard"
"""The folder of the event files in a run folder: ``RUN/tensorboard/<run name>/``."""
PARAMS_TAG = "params"


class TensorBoardTracker:
    """A TensorBoard run in ``folder/tensorboard/<run_name>``.

    Raises:
        MissingTrackerError: tensorboard is not installed.
    """

    def __init__(self, folder: Path, run_name: str) -> None:
        require("tensorboard", "tensorboard", "tensorboard")
        from torch.utils.tensorboard import SummaryWriter

        self.log_dir = Path(folder) / FOLDER / run_name
        self._writer = SummaryWriter(log_dir=str(self.log_dir))

    def log_params(self, params: Mapping[str, ParamValue]) -> None:  # noqa: D102 - Tracker
        rows = "\n".join(f"| {key} | {value} |" for key, value in params.items())
        self._writer.add_text(PARAMS_TAG, "| parameter | value |\n|---|---|\n" + rows)

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:  # noqa: D102 - Tracker
        for key, value in metrics.items():
            self._writer.add_scalar(key, value, global_step=step)

    def flush(self) -> None:  # noqa: D102 - Tracker
        self._writer.flush()

    def close(self) -> None:  # noqa: D102 - Tracker
        self._writer.close()
