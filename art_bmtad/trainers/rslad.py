"""RSLAD: Robust Soft Label Adversarial Distillation.

Zi et al., "Revisiting Adversarial Robustness Distillation: Robust Soft Labels Make Student Better",
ICCV 2021, https://arxiv.org/abs/2108.07969.

One robust teacher on the CLEAN batch gives soft labels ``p = softmax(T(x))``. The attack maximises
``KL(p || softmax(S(x')))`` (summed; its input gradient is that of cross-entropy with soft labels ``p``) from
``x + 0.001 N(0, 1)`` with the student in eval mode. Loss: ``5/6 kl(p, S(x')) + 1/6 kl(p, S(x))``.
"""
from __future__ import annotations

from typing import Any

import torch

from art_bmtad.algorithm.adversarial import AdversarialBatch, gradient_view, pgd_linf
from art_bmtad.algorithm.losses import soft_kl
from art_bmtad.algorithm.teachers import Teacher, TeacherModel
from art_bmtad.trainers.base import GAUSSIAN_START, DistillationTrainer


class AdversarialTrainerRSLADPyTorch(DistillationTrainer):
    """RSLAD as an ART trainer.

    Args:
        classifier: the student (ART ``PyTorchClassifier`` with optimizer and clip values).
        robust_teacher: the adversarially trained teacher.
        adv_weight: weight of the adversarial term (5/6); the natural term gets ``1 - adv_weight``.
        **kwargs: options of :class:`~art_bmtad.trainers.base.DistillationTrainer`.
    """

    method = "rslad"

    def __init__(
        self, classifier: Any, robust_teacher: TeacherModel, *, adv_weight: float = 5 / 6, **kwargs: Any
    ) -> None:
        if not 0 <= adv_weight <= 1:
            raise ValueError(f"adv_weight must be in [0, 1], got {adv_weight}")
        self.adv_weight = adv_weight
        super().__init__(classifier, [Teacher(robust_teacher, "nat", "robust", robust=True)], **kwargs)

    def _default_attack(self) -> AdversarialBatch:
        view = gradient_view(self._classifier, loss=torch.nn.CrossEntropyLoss(reduction="sum"))
        return AdversarialBatch(pgd_linf(view, self.eps, self.eps_step, self.max_iter), gaussian_start=GAUSSIAN_START)

    def _attack_labels(self, y_onehot: torch.Tensor, clean_teacher_logits: dict[int, torch.Tensor]) -> torch.Tensor:
        """The attack's targets: the robust teacher's soft labels on the clean batch (not the true labels)."""
        return torch.softmax(clean_teacher_logits[0].float(), dim=1)

    def _train_step(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self._prepare_batch(x)
        with self._autocast():
            t = self.teachers[0].logits(x)  # the robust teacher on the clean batch
            x_adv = self._attack(x, self._attack_labels(self._onehot(y), {0: t}))
            z_adv, z_nat = self._student_forwards(x_adv, x)
            p = torch.softmax(t.float(), dim=1)
            loss_adv = self.kl_scale * soft_kl(p, z_adv)
            loss_nat = self.kl_scale * soft_kl(p, z_nat)
            total = self.adv_weight * loss_adv + (1 - self.adv_weight) * loss_nat
        self._optimise(total)
        return self._step_values(total, {"loss/adv": loss_adv.detach(), "loss/nat": loss_nat.detach()}, y, z_adv, [t])
