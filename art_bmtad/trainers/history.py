"""Training history: per-step balancer values and losses, per-epoch summaries, written as JSON.

Per-step values stay on the device as 0-dim tensors until the epoch ends and are then moved to the host in
one transfer per key, so recording them costs no synchronisation inside the loop.
"""
from __future__ import annotations

import json
import math
import os
from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

import torch


class History:
    """``steps[key]`` is a list with one value per training step; ``epochs`` a list of per-epoch dicts."""

    def __init__(self) -> None:
        self.steps: dict[str, list[float]] = defaultdict(list)
        self.epochs: list[dict[str, Any]] = []
        self.meta: dict[str, Any] = {}
        self._pending: dict[str, list[torch.Tensor]] = defaultdict(list)

    def record_step(self, values: dict[str, torch.Tensor]) -> None:
        for key, value in values.items():
            self._pending[key].append(value.detach().reshape(()))

    def end_epoch(self, **summary: Any) -> dict[str, Any]:
        """Move this epoch's step values to the host; return the epoch summary (step means plus ``summary``)."""
        epoch: dict[str, Any] = {"epoch": len(self.epochs) + 1}
        for key, values in self._pending.items():
            host = torch.stack(values).double().cpu().tolist()
            self.steps[key].extend(host)
            epoch[key] = math.fsum(host) / len(host)
        self._pending.clear()
        epoch.update(summary)
        self.epochs.append(epoch)
        return epoch

    def pending(self) -> dict[str, torch.Tensor]:
        """The current epoch's step values not yet moved to the host: one float64 CPU vector per key."""
        return {key: torch.stack(values).double().cpu() for key, values in self._pending.items() if values}

    def restore_pending(self, values: dict[str, torch.Tensor], device: torch.device | str = "cpu") -> None:
        """Put back step values returned by :meth:`pending` (resuming in the middle of an epoch)."""
        self._pending = defaultdict(list, {key: list(v.to(device).unbind()) for key, v in values.items()})

    def restore(self, meta: dict[str, Any], epochs: list[dict[str, Any]], steps: dict[str, list[float]],
                pending: dict[str, torch.Tensor], device: torch.device | str = "cpu") -> None:
        """Replace everything with a saved history (resuming a run): ``pending`` as :meth:`pending` returned it."""
        self.meta, self.epochs = dict(meta), list(epochs)
        self.steps = defaultdict(list, steps)
        self.restore_pending(pending, device)

    def first_nonfinite(self, key: str = "loss") -> int | None:
        """Index (within the current epoch) of the first NaN/Inf step value of ``key``, or None; one host sync."""
        values = self._pending.get(key)
        if not values:
            return None
        bad = ~torch.isfinite(torch.stack(values))
        return int(bad.nonzero()[0, 0]) if bool(bad.any()) else None

    def to_dict(self) -> dict[str, Any]:
        return {"meta": self.meta, "epochs": self.epochs, "steps": dict(self.steps)}

    def save_json(self, path: str | os.PathLike) -> Path:
        """Write the history atomically (a temporary file in the same folder, then a rename)."""
        from art_bmtad.run.files import write_atomic

        return write_atomic(path, json.dumps(self.to_dict(), indent=1))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "History":
        history = cls()
        history.meta = dict(data.get("meta", {}))
        history.epochs = list(data.get("epochs", []))
        history.steps.update({k: list(v) for k, v in data.get("steps", {}).items()})
        return history


def per_teacher(names: Sequence[str], **values: torch.Tensor) -> dict[str, torch.Tensor]:
    """History entries ``<kind>/<teacher name>``, teacher by teacher, from one vector per kind (in teacher order);
    e.g. ``per_teacher(["robust", "clean"], loss=losses)`` gives ``loss/robust`` and ``loss/clean``."""
    return {f"{kind}/{name}": vector[k] for k, name in enumerate(names) for kind, vector in values.items()}
