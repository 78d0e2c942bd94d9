"""ARD: Adversarially Robust Distillation.

Goldblum et al., "Adversarially Robust Distillation", AAAI 2020, https://arxiv.org/abs/1905.09747.

One robust teacher on the CLEAN batch. The attack is cross-entropy PGD on the student with a uniform random
start and the student in TRAIN mode (as the released code does). Loss:
``alpha * T^2 * KL(softmax(T(x) / T) || softmax(S(x') / T)) + (1 - alpha) * CE(S(x), y)`` with the KL averaged
over ``B * C`` entries (``nn.KLDivLoss()``), ``T = 30``, ``alpha = 1``.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from art_bmtad.algorithm.adversarial import AdversarialBatch, gradient_view, pgd_linf
from art_bmtad.algorithm.losses import tempered_kl
from art_bmtad.algorithm.teachers import Teacher, TeacherModel
from art_bmtad.trainers.base import DistillationTrainer


class AdversarialTrainerARDPyTorch(DistillationTrainer):
    """ARD as an ART trainer.

    Args:
        classifier: the student (ART ``PyTorchClassifier`` with optimizer and clip values).
        robust_teacher: the adversarially trained teacher.
        temperature: distillation temperature ``T``.
        alpha: weight of the distillation term; ``1 - alpha`` goes to cross-entropy on natural inputs.
        **kwargs: options of :class:`~art_bmtad.trainers.base.DistillationTrainer`.
    """

    method = "ard"

    def __init__(
        self,
        classifier: Any,
        robust_teacher: TeacherModel,
        *,
        temperature: float = 30.0,
        alpha: float = 1.0,
        **kwargs: Any,
    ) -> None:
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if not 0 <= alpha <= 1:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        self.temperature, self.alpha = float(temperature), float(alpha)
        super().__init__(classifier, [Teacher(robust_teacher, "nat", "robust", robust=True)], **kwargs)

    def _default_attack(self) -> AdversarialBatch:
        view = gradient_view(self._classifier, training_mode=True)
        return AdversarialBatch(pgd_linf(view, self.eps, self.eps_step, self.max_iter, random_init=True))

    def _train_step(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self._prepare_batch(x)
        with self._autocast():
            t = self.teachers[0].logits(x)  # the robust teacher on the clean batch
            x_adv = self._attack(x, self._onehot(y))
            z_adv, z_nat = self._student_forwards(x_adv, x)
            distill = self.kl_scale * tempered_kl(t, z_adv, self.temperature)
            natural = F.cross_entropy(z_nat.float(), y)
            total = self.alpha * distill + (1 - self.alpha) * natural
        self._optimise(total)
        record = {"loss/distill": distill.detach(), "loss/natural_ce": natural.detach()}
        return self._step_values(total, record, y, z_adv, [t])
