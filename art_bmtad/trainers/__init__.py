"""The distillation trainers: one skeleton (:mod:`.base`), one file per method."""
from art_bmtad.trainers.ard import AdversarialTrainerARDPyTorch
from art_bmtad.trainers.base import DistillationTrainer
from art_bmtad.trainers.bmtard import AdversarialTrainerBMTARDPyTorch
from art_bmtad.trainers.mtard import AdversarialTrainerMTARDPyTorch
from art_bmtad.trainers.rslad import AdversarialTrainerRSLADPyTorch

__all__ = [
    "AdversarialTrainerARDPyTorch",
    "AdversarialTrainerBMTARDPyTorch",
    "AdversarialTrainerMTARDPyTorch",
    "AdversarialTrainerRSLADPyTorch",
    "DistillationTrainer",
]
