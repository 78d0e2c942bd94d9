"""Training checkpoints: the full state of a run in one safetensors file, written atomically, read without pickle.

A checkpoint is ``<folder>/ckpt-<step>.safetensors`` (``step`` = optimiser steps done). Its tensors are the
student's weights, the optimizer's and scheduler's tensors, the best epoch's weights, the history's step values,
the current epoch's sample order and the RNG states; everything else (loop position, balancers, history
summaries, hyperparameters of optimizer and scheduler) is JSON in the safetensors header. A BLAKE2b digest of
every tensor's bytes sits in the header too, so truncation and bit rot are both caught. Nothing is ever
unpickled: a file that is not a complete, digest-checked art-bmtad training checkpoint is refused.

Writes go to a temporary file in the same folder, are fsynced and then renamed over the target, so a crash,
``SIGKILL`` or full disk leaves the previous checkpoints intact; the newest ``keep_last`` are kept.

The trainers use this through ``fit(..., checkpoint_dir=..., checkpoint_every=..., keep_last=..., resume=...)``;
:func:`latest_checkpoint` and :func:`read_checkpoint` are for tools (e.g. a CLI ``--resume``). A caller that
knows what run it is (``art-bmtad train``: the resolved recipe and a digest of the data) wraps training in
:func:`recording`; each checkpoint's header then holds that record, which :func:`read_run_record` reads back
and :func:`differing_keys` compares, so a resumed run can be refused before any work if it is another run.
"""
from __future__ import annotations

import contextlib
import contextvars
import errno
import hashlib
import json
import logging
import os
import random
import re
import secrets
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, TypeVar

import numpy as np
import safetensors.torch
import torch
from safetensors import SafetensorError, safe_open

from art_bmtad.run.files import write_atomic

logger = logging.getLogger(__name__)

FORMAT = "art-bmtad-training-state/1"
RUN_RECORD_KEY = "run"
"""Header key of the run record (see :func:`recording`)."""
_RUN_RECORD: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("run_record", default=None)
_MISSING = object()
NAME = re.compile(r"^ckpt-(\d{9})\.safetensors$")
TEMPORARY_PREFIX = ".ckpt-"


class CheckpointWarning(UserWarning):
    """A checkpoint was skipped (truncated, corrupt, not ours) and an older one used."""


class CheckpointError(ValueError):
    """A file is not a complete, intact art-bmtad training checkpoint (nothing in it was executed)."""


@dataclass
class LoopState:
    """Where the training loop stands; saved in every checkpoint.

    Attributes:
        epoch: 0-based index of the current epoch (== epochs completed).
        slot: index of the next batch slot in the current epoch.
        step: optimiser steps done since the start of the run.
        data_seed: base seed of the per-epoch sample orders.
        initial_lr: learning rate the balancer rates are scaled against.
        order: the current epoch's sample order (``None`` before it is drawn).
        best: ``(score, epoch, weights)`` of the best validation epoch so far, for model selection.
    """

    epoch: int = 0
    slot: int = 0
    step: int = 0
    data_seed: int = 0
    initial_lr: float = 0.0
    order: torch.Tensor | None = None
    best: tuple[float, int, dict[str, torch.Tensor]] | None = field(default=None, repr=False)


# ------------------------------------------------------------------------------------------- nested state <-> JSON
def encode(value: Any, tensors: dict[str, torch.Tensor], prefix: str) -> Any:
    """JSON-able form of nested dicts/lists/tuples/scalars; tensors go to ``tensors`` under ``prefix/<n>``.

    Raises:
        TypeError: a value that is neither a tensor nor plain data (a function, a custom object), named by path.
    """
    if isinstance(value, torch.Tensor):
        key = f"{prefix}/{len(tensors)}"
        tensors[key] = value.detach().to("cpu", copy=True).contiguous()
        return {"$tensor": key}
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, tuple):
        return {"$tuple": [encode(v, tensors, prefix) for v in value]}
    if isinstance(value, list):
        return [encode(v, tensors, prefix) for v in value]
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("$") for k in value):
            return {k: encode(v, tensors, f"{prefix}") for k, v in value.items()}
        if all(isinstance(k, (str, int)) for k in value):
            return {"$items": [[k, encode(v, tensors, prefix)] for k, v in value.items()]}
    raise TypeError(f"{prefix}: cannot store a {type(value).__name__} in a checkpoint (only tensors and plain data)")


def decode(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Inverse of :func:`encode`."""
    if isinstance(value, list):
        return [decode(v, tensors) for v in value]
    if isinstance(value, dict):
        if "$tensor" in value:
            return tensors[value["$tensor"]]
        if "$tuple" in value:
            return tuple(decode(v, tensors) for v in value["$tuple"])
        if "$items" in value:
            return {k: decode(v, tensors) for k, v in value["$items"]}
        return {k: decode(v, tensors) for k, v in value.items()}
    return value


# ------------------------------------------------------------------------------------------- RNG states
def capture_rng() -> dict[str, Any]:
    """RNG states of torch (CPU and every initialised CUDA device), numpy's global generator and ``random``."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else []
    return {
        "torch": torch.get_rng_state(),
        "cuda": list(cuda),
        "numpy": {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": random.getstate(),
    }


def restore_rng(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng`."""
    torch.set_rng_state(state["torch"])
    if state["cuda"]:
        if torch.cuda.is_available() and torch.cuda.device_count() == len(state["cuda"]):
            torch.cuda.set_rng_state_all(state["cuda"])
        else:
            logger.warning("checkpoint holds RNG states of %d CUDA devices, this machine has %d; CUDA RNG not restored",
                           len(state["cuda"]), torch.cuda.device_count() if torch.cuda.is_available() else 0)
    numpy = state["numpy"]
    np.random.set_state((numpy["name"], numpy["keys"].numpy().astype(np.uint32), numpy["pos"], numpy["has_gauss"],
                         numpy["cached_gaussian"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))


# ------------------------------------------------------------------------------------------- one file
def _digest(tensors: dict[str, torch.Tensor]) -> str:
    digest = hashlib.blake2b(digest_size=32)
    for key in sorted(tensors):
        tensor = tensors[key].contiguous()
        digest.update(f"{key}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().data)
    return digest.hexdigest()


def serialise(tensors: dict[str, torch.Tensor], state: dict[str, Any]) -> bytes:
    """The bytes of a checkpoint file holding ``tensors``, the JSON ``state`` and the run record (if any)."""
    metadata = {"format": FORMAT, "state": json.dumps(state), "digest": _digest(tensors)}
    record = _RUN_RECORD.get()
    if record is not None:
        metadata[RUN_RECORD_KEY] = json.dumps(record)
    return safetensors.torch.save(tensors, metadata=metadata)


# ------------------------------------------------------------------------------------------- what run it is
@contextlib.contextmanager
def recording(record: dict[str, Any]) -> Iterator[None]:
    """Every checkpoint written inside this context also records ``record`` (JSON: e.g. the whole resolved
    recipe and a digest of the data), so that a resumed run can prove it is the same run.

    Args:
        record: plain JSON data.
    """
    token = _RUN_RECORD.set(json.loads(json.dumps(record)))
    try:
        yield
    finally:
        _RUN_RECORD.reset(token)


def read_run_record(folder: str | os.PathLike) -> dict[str, Any] | None:
    """The run record of the newest checkpoint in ``folder`` whose header reads (tensors are not read).

    Returns:
        The record, or ``None`` when the checkpoints hold none (written outside :func:`recording`).

    Raises:
        FileNotFoundError: ``folder`` holds no checkpoint.
        CheckpointError: no checkpoint header in it reads.
    """
    def read_header(path: Path) -> dict[str, Any] | None:
        try:
            with safe_open(str(path), framework="pt", device="cpu") as handle:
                metadata = handle.metadata() or {}
            if metadata.get("format") != FORMAT:
                raise CheckpointError(f"{path} is not an art-bmtad training checkpoint")
            return json.loads(metadata[RUN_RECORD_KEY]) if RUN_RECORD_KEY in metadata else None
        except (SafetensorError, OSError, ValueError, RuntimeError) as err:
            raise CheckpointError(f"{path.name}: {err}") from err

    return _newest_readable(folder, read_header)[1]


def differing_keys(saved: Any, current: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested JSON-like values (a key present in one only counts)."""
    if isinstance(saved, dict) and isinstance(current, dict):
        keys = sorted(set(saved) | set(current))
        return [key for name in keys
                for key in differing_keys(saved.get(name, _MISSING), current.get(name, _MISSING),
                                          f"{prefix}.{name}" if prefix else name)]
    if isinstance(saved, (list, tuple)) and isinstance(current, (list, tuple)):
        return [] if list(saved) == list(current) else [prefix]
    return [] if saved == current else [prefix]


def read_checkpoint(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read and verify one training checkpoint, without unpickling anything.

    Args:
        path: a ``ckpt-*.safetensors`` file.

    Returns:
        Its tensors (on the CPU) and its JSON state.

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: not a safetensors file (e.g. a pickle: refused, not executed), truncated, digest
            mismatch, or not an art-bmtad training checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if path.suffix != ".safetensors":
        raise CheckpointError(
            f"refused {path}: training checkpoints are .safetensors files written by art-bmtad; other formats "
            "(pickle-based .pt/.pth/.ckpt included) are not read, and nothing in the file was executed"
        )
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise CheckpointError(
            f"cannot read {path}: not a complete safetensors file (truncated or corrupt): {err}"
        ) from err
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"{path} is a safetensors file but not an art-bmtad training checkpoint ({FORMAT})")
    if _digest(tensors) != metadata.get("digest"):
        raise CheckpointError(f"{path} is corrupt: the digest of its tensors does not match the one recorded in it")
    try:
        state = json.loads(metadata["state"])
    except (KeyError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path} is corrupt: its state is not valid JSON: {err}") from err
    return tensors, state


def checkpoint_paths(folder: str | os.PathLike) -> list[Path]:
    """The checkpoints in ``folder``, oldest first (by step)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if NAME.match(p.name)), key=lambda p: p.name)


def latest_checkpoint(folder: str | os.PathLike) -> Path | None:
    """The newest checkpoint file in ``folder`` by name (not yet verified), or ``None``."""
    paths = checkpoint_paths(folder)
    return paths[-1] if paths else None


def load_newest_good(folder: str | os.PathLike) -> tuple[Path, dict[str, torch.Tensor], dict[str, Any]]:
    """The newest checkpoint in ``folder`` that reads and verifies; each one skipped is reported.

    Returns:
        Its path, tensors and state.

    Raises:
        FileNotFoundError: ``folder`` holds no checkpoint.
        CheckpointError: every checkpoint in it is truncated or corrupt.

    Warns:
        CheckpointWarning: naming each newer file that was skipped, and why.
    """
    def warn(path: Path, problem: str) -> None:
        warnings.warn(f"skipping checkpoint {path}: {problem}; trying the previous one", CheckpointWarning,
                      stacklevel=4)

    path, (tensors, state) = _newest_readable(folder, read_checkpoint, on_skip=warn)
    return path, tensors, state


_Read = TypeVar("_Read")


def _newest_readable(folder: str | os.PathLike, read: Callable[[Path], _Read],
                     on_skip: Callable[[Path, str], None] | None = None) -> tuple[Path, _Read]:
    """The newest checkpoint in ``folder`` that ``read`` accepts (it raises :class:`CheckpointError` for one it
    does not), and what it read; ``on_skip`` hears of each newer one passed over."""
    paths = checkpoint_paths(folder)
    if not paths:
        raise FileNotFoundError(f"no training checkpoint (ckpt-*.safetensors) in {folder}")
    problems = []
    for path in reversed(paths):
        try:
            return path, read(path)
        except CheckpointError as err:
            problems.append(str(err))
            if on_skip is not None:
                on_skip(path, str(err))
    raise CheckpointError(f"no usable checkpoint in {folder}: " + "; ".join(problems))


class CheckpointStore:
    """A folder of training checkpoints written atomically, keeping the newest ``keep_last``.

    Args:
        folder: where ``ckpt-<step>.safetensors`` files go (created if missing).
        keep_last: how many checkpoints to keep.
    """

    def __init__(self, folder: str | os.PathLike, keep_last: int = 3) -> None:
        if isinstance(keep_last, bool) or not isinstance(keep_last, int) or keep_last < 1:
            raise ValueError(f"keep_last must be an integer >= 1, got {keep_last!r}")
        self.folder = Path(folder)
        self.keep_last = keep_last

    def check_writable(self) -> None:
        """Create the folder and write, fsync and remove a probe file in it.

        Raises:
            OSError: naming the folder, when it cannot be created or written (before any training happens).
        """
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            probe = write_atomic(self.folder / f"{TEMPORARY_PREFIX}probe-{secrets.token_hex(4)}.tmp", b"probe")
            probe.unlink()
        except OSError as err:
            reason = err.strerror or str(err)
            raise type(err)(err.errno, f"checkpoint folder {self.folder} is not writable: {reason}") from err

    def remove_temporaries(self) -> None:
        """Delete temporary files left by an interrupted write (a killed run)."""
        for path in self.folder.glob(f"{TEMPORARY_PREFIX}*.tmp"):
            path.unlink(missing_ok=True)

    def paths(self) -> list[Path]:
        """Checkpoints in the folder, oldest first."""
        return checkpoint_paths(self.folder)

    def save(self, step: int, tensors: dict[str, torch.Tensor], state: dict[str, Any]) -> Path:
        """Write ``ckpt-<step>.safetensors`` atomically (temp file, fsync, rename), then drop the oldest ones.

        Raises:
            OSError: the write failed (e.g. a full disk); the temporary file is removed and every earlier
                checkpoint is left as it was. The message names the file and the newest intact checkpoint.
        """
        target = self.folder / f"ckpt-{step:09d}.safetensors"
        try:
            write_atomic(target, serialise(tensors, state))
        except OSError as err:
            previous = self.paths()
            kept = f"the newest intact checkpoint is {previous[-1]}" if previous else "no earlier checkpoint exists"
            reason = "the disk is full" if err.errno == errno.ENOSPC else (err.strerror or str(err))
            raise OSError(err.errno, f"could not write checkpoint {target}: {reason}; {kept}") from err
        for old in self.paths()[: -self.keep_last]:
            old.unlink(missing_ok=True)
        return target


def tensor_group(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The tensors stored under ``prefix/``, with the prefix removed."""
    start = len(prefix) + 1
    return {key[start:]: value for key, value in tensors.items() if key.startswith(prefix + "/")}


def prefixed(prefix: str, tensors: Iterable[tuple[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """CPU copies of ``tensors`` under ``prefix/`` (copies: safetensors refuses tensors sharing memory)."""
    return {f"{prefix}/{key}": value.detach().to("cpu", copy=True).contiguous() for key, value in tensors}
