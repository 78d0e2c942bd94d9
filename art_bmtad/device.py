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
