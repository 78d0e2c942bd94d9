"""Seeding and deterministic kernels; see ``docs/determinism.md`` for what each guarantees."""
from __future__ import annotations

import contextlib
import logging
import os
import random
from typing import Iterator

import numpy as np
import torch

logger = logging.getLogger(__name__)

CUBLAS_WORKSPACE = ":4096:8"
"""cuBLAS workspace setting that makes its GEMMs reproducible (``CUBLAS_WORKSPACE_CONFIG``)."""


def seed_everything(seed: int) -> None:
    """Seed torch (CPU and every CUDA device), numpy's global generator and Python's ``random``.

    Args:
        seed: any non-negative integer.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device


def use_deterministic_kernels(warn_only: bool = False) -> None:
    """Ask PyTorch for deterministic kernels everywhere (process-wide; it stays on after training).

    Sets ``CUBLAS_WORKSPACE_CONFIG`` when unset (it only takes effect if cuBLAS was not used yet in this process;
    set it in the environment before starting Python to be sure), turns on
    ``torch.use_deterministic_algorithms``, ``cudnn.deterministic`` and turns off ``cudnn.benchmark``.

    Args:
        warn_only: warn instead of raising when an operation has no deterministic implementation.
    """
    if "CUBLAS_WORKSPACE_CONFIG" not in os.environ:
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = CUBLAS_WORKSPACE
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            logger.warning("CUBLAS_WORKSPACE_CONFIG was set after CUDA started; set it before starting Python "
                           "(export CUBLAS_WORKSPACE_CONFIG=%s) for reproducible cuBLAS results", CUBLAS_WORKSPACE)
    torch.use_deterministic_algorithms(True, warn_only=warn_only)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed the global generators of Python, NumPy and torch; restore their previous states on exit.

    ART draws random starts from NumPy's generator and Square's L2 proposals also from Python's ``random``.
    """
    python_state, numpy_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng():
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        try:
            yield
        finally:
            random.setstate(python_state)
            np.random.set_state(numpy_state)
