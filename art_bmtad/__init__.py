"""art-bmtad: Balanced Multi-Teacher Adversarial Distillation (B-MTARD) and its relatives for ART.

Importing this package changes nothing in ART; call :func:`register_with_art` to also make the trainers
importable from ``art.defences.trainer``. The public names below are imported on first use (PEP 562), so
``import art_bmtad`` (and the CLI's ``--help``) does not load torch or ART.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from art_bmtad.algorithm.balance import EntropyBalance, NormalizedLossBalance, RelativeLossBalance
    from art_bmtad.algorithm.teachers import Teacher
    from art_bmtad.art_integration import register_with_art
    from art_bmtad.hookspecs import hookimpl
    from art_bmtad.trainers import (
        AdversarialTrainerARDPyTorch,
        AdversarialTrainerBMTARDPyTorch,
        AdversarialTrainerMTARDPyTorch,
        AdversarialTrainerRSLADPyTorch,
        DistillationTrainer,
    )

__version__ = "0.1.0"

_PUBLIC = {
    "AdversarialTrainerARDPyTorch": "art_bmtad.trainers",
    "AdversarialTrainerBMTARDPyTorch": "art_bmtad.trainers",
    "AdversarialTrainerMTARDPyTorch": "art_bmtad.trainers",
    "AdversarialTrainerRSLADPyTorch": "art_bmtad.trainers",
    "DistillationTrainer": "art_bmtad.trainers",
    "EntropyBalance": "art_bmtad.algorithm.balance",
    "NormalizedLossBalance": "art_bmtad.algorithm.balance",
    "RelativeLossBalance": "art_bmtad.algorithm.balance",
    "Teacher": "art_bmtad.algorithm.teachers",
    "hookimpl": "art_bmtad.hookspecs",
    "register_with_art": "art_bmtad.art_integration",
}
"""Public name -> the module that defines it."""

__all__ = [
    "AdversarialTrainerARDPyTorch",
    "AdversarialTrainerBMTARDPyTorch",
    "AdversarialTrainerMTARDPyTorch",
    "AdversarialTrainerRSLADPyTorch",
    "DistillationTrainer",
    "EntropyBalance",
    "NormalizedLossBalance",
    "RelativeLossBalance",
    "Teacher",
    "hookimpl",
    "register_with_art",
]


def __getattr__(name: str) -> Any:
    """Import a public name's module on first access."""
    if name not in _PUBLIC:
        raise AttributeError(f"module 'art_bmtad' has no attribute {name!r}")
    value = getattr(importlib.import_module(_PUBLIC[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC})
