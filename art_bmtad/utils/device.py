"""Device selection shared by the adapters, the trainers and the CLI."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Turn a device request into a concrete ``torch.device``.

    Args:
        device: ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``,
            or a ``torch.device``.

    Returns:
        The resolved device.

    Raises:
        ValueError: The request names an unsupported device type, or CUDA when none is available.
    """
    import torch

    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as err:
        raise ValueError(f"unknown device {device!r}; use one of {DEVICE_CHOICES}") from err
    if resolved.type not in ("cpu", "cuda"):
        raise ValueError(f"device {device!r} is not supported; use one of {DEVICE_CHOICES}")
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was requested but CUDA is not available on this machine")
    return resolved


def art_device_type(device: torch.device) -> str:
    """ART's name for a device type (``PyTorchClassifier(device_type=...)``).

    ART places CUDA models on the current CUDA device, so ``cuda:N`` maps to ``"gpu"`` as well.

    Args:
        device: A resolved device.

    Returns:
        ``"gpu"`` for CUDA devices, ``"cpu"`` otherwise.
    """
    return "gpu" if device.type == "cuda" else "cpu"


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA), so that a clock read afterwards times only finished work."""
    if device.type == "cuda":
        import torch

        torch.cuda.synchronize(device)


def physical_cores() -> int:
    """CPU cores this process may use, counting hyper-threads of one core once, capped by a cgroup CPU quota.

    The default thread count of the CLI and the examples: more threads than cores oversubscribe the machine
    (PyTorch's own default can count the host's cores inside a container limited to fewer). Reads Linux's
    ``/sys`` topology and cgroup files; elsewhere it is the number of usable logical CPUs.
    """
    import math
    import os
    from pathlib import Path

    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
    cores = set()
    for cpu in cpus:
        siblings = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list")
        cores.add(siblings.read_text().strip() if siblings.is_file() else str(cpu))
    count = len(cores) or 1
    quota = Path("/sys/fs/cgroup/cpu.max")
    if quota.is_file():
        limit, _, period = quota.read_text().partition(" ")
        if limit != "max" and period.strip():
            count = min(count, max(1, math.ceil(int(limit) / int(period))))
    return count
