"""Peak memory of a stretch of work: CUDA's allocator peak on a GPU, the process's peak resident set on a CPU."""
from __future__ import annotations

import contextlib
import resource
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


@dataclass
class PeakMemory:
    """What :func:`track_peak_memory` measured.

    Attributes:
        mib: the peak, in MiB (``None`` until the block ends).
        kind: ``"cuda_max_allocated"`` (tensors on the GPU) or ``"process_peak_rss"`` (the whole process).
        since_start: ``False`` when a CPU peak could not be reset, so it may include earlier work in the
            process (then it is an upper bound).
    """

    mib: float | None = None
    kind: str = ""
    since_start: bool = True

    def to_dict(self) -> dict[str, object]:
        """JSON-ready dict."""
        return {"peak_memory_mib": self.mib, "memory_kind": self.kind, "memory_since_start": self.since_start}


@contextlib.contextmanager
def track_peak_memory(device: torch.device) -> Iterator[PeakMemory]:
    """Measure the peak memory of the ``with`` block on ``device``.

    On CUDA the allocator's peak is reset first. On a CPU the kernel's peak resident set (``VmHWM``) is
    reset through ``/proc/self/clear_refs`` where Linux allows it; elsewhere the process's lifetime peak is
    reported with ``since_start=False``.
    """
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        peak = PeakMemory(kind="cuda_max_allocated")
        yield peak
        torch.cuda.synchronize(device)
        peak.mib = torch.cuda.max_memory_allocated(device) / 2**20
        return
    peak = PeakMemory(kind="process_peak_rss", since_start=_reset_rss_peak())
    yield peak
    peak.mib = _rss_peak_mib()


def _reset_rss_peak() -> bool:
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def _rss_peak_mib() -> float:
    if _STATUS.is_file():
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20
