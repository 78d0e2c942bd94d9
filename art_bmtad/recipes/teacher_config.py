"""What determines a teacher (:class:`TeacherConfig`, the cache key's fields), apart from how it is trained.

A light module: the CLI reads these defaults to build its options without importing torch or ART;
:mod:`art_bmtad.pipeline.teacher_prep` trains and caches teachers from them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from art_bmtad.utils.checks import check_threat

CACHE_ENV = "ART_BMTAD_CACHE"
"""Environment variable naming the cache root (teachers go in its ``teachers/`` folder)."""
KINDS = ("clean", "madry", "trades")
"""How a teacher can be trained."""


@dataclass(frozen=True)
class TeacherConfig:
    """Everything that determines a teacher; its fields (and the data) form the cache key.

    Attributes:
        model: any registry model name (``"resnet18"``, ``"timm/resnet18"``, ``"cifar/resnet56"``, a registered
            single model); trained here from fresh weights.
        kind: ``"clean"``, ``"madry"`` or ``"trades"``.
        epochs: Training epochs.
        batch_size: Batch size.
        lr: SGD learning rate (peak of the cosine schedule for ``clean``).
        momentum: SGD momentum.
        weight_decay: SGD weight decay.
        eps: L-inf attack budget in [0, 1] pixel units (robust kinds).
        eps_step: PGD step size in pixel units (robust kinds).
        max_iter: PGD steps per batch (robust kinds).
        beta: TRADES trade-off between clean and robust loss.
        cifar_stem: Use the CIFAR stem (timm ResNet family, 32x32 inputs; passed as the model option ``cifar_stem``).
        augment: Random crop (zero padding 4) and flip on each batch (``clean`` only).
        seed: Seed of initialisation, shuffling and augmentation.
        milestones: Epochs after which the learning rate is multiplied by 0.1 (``madry`` and ``trades``; clean
            teachers follow a cosine schedule). Empty: constant learning rate.
    """

    model: str = "resnet18"
    kind: str = "clean"
    epochs: int = 10
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    eps: float = 8 / 255
    eps_step: float = 2 / 255
    max_iter: int = 10
    beta: float = 6.0
    cifar_stem: bool = False
    augment: bool = False
    seed: int = 0
    milestones: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "milestones", tuple(int(m) for m in self.milestones))
        if self.milestones and self.kind == "clean":
            raise ValueError("milestones are for robust teachers; clean teachers follow a cosine schedule")
        if list(self.milestones) != sorted(set(self.milestones)) or any(
                not 1 <= m < self.epochs for m in self.milestones):
            raise ValueError(f"milestones must be increasing epochs in [1, epochs), got {list(self.milestones)} "
                             f"for {self.epochs} epochs")
        if self.kind not in KINDS:
            raise ValueError(f"unknown teacher kind {self.kind!r}; use one of {KINDS}")
        if self.augment and self.kind != "clean":
            raise ValueError(f"augment is only supported for kind='clean' (ART's {self.kind} trainer takes arrays)")
        if self.epochs < 1 or self.batch_size < 2:
            raise ValueError(f"epochs must be >= 1 and batch_size >= 2 (a batch of one breaks BatchNorm), got "
                             f"{self.epochs} and {self.batch_size}")
        if self.kind != "clean":  # a robust teacher trained against a meaningless threat model is not robust
            check_threat(self.eps, self.eps_step, self.max_iter, prefix=f"{self.kind} teacher")
        if not (self.lr > 0 and math.isfinite(self.lr)) or not 0 <= self.momentum < math.inf:
            raise ValueError(f"lr must be a finite number > 0 and momentum >= 0, got {self.lr} and {self.momentum}")
