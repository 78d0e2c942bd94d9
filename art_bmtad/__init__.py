"""art-bmtad: Balanced Multi-Teacher Adversarial Distillation (B-MTARD) and its relatives for ART.

Importing this package changes nothing in ART; call :func:`register_with_art` to also make the trainers
importable from ``art.defences.trainer``.
"""
from art_bmtad.art_integration import register_with_art
from art_bmtad.balance import EntropyBalance, NormalizedLossBalance, RelativeLossBalance
from art_bmtad.hookspecs import hookimpl
from art_bmtad.teachers import Teacher
from art_bmtad.trainers import (
    AdversarialTrainerARDPyTorch,
    AdversarialTrainerBMTARDPyTorch,
    AdversarialTrainerMTARDPyTorch,
    AdversarialTrainerRSLADPyTorch,
    DistillationTrainer,
)

__version__ = "0.1.0"

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

