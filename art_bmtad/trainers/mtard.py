"""MTARD: Multi-Teacher Adversarial Robustness Distillation.

Zhao et al., "Enhanced Accuracy and Robustness via Multi-Teacher Adversarial Distillation", ECCV 2022,
https://arxiv.org/abs/2207.13436 (released code: zhaoshiji123/MTARD).

The B-MTARD step (:class:`~art_bmtad.trainers.bmtard.MultiTeacherTrainer`) without Entropy-Based Balance (both
temperatures stay 1) and with MTARD's weight rule
``w_nat <- w_nat - eta_w (w_nat - r_nat^beta / (r_nat^beta + r_adv^beta))``, ``w_adv = 1 - w_nat``
(for N teachers: ``target_k = r_k^beta / sum_j r_j^beta``, no clip).
"""
from __future__ import annotations

from typing import Any

from art.estimators.classification import PyTorchClassifier

from art_bmtad.algorithm.balance import RelativeLossBalance
from art_bmtad.algorithm.teachers import Teacher, TeacherModel, as_teachers
from art_bmtad.trainers.bmtard import MultiTeacherTrainer


class AdversarialTrainerMTARDPyTorch(MultiTeacherTrainer):
    """MTARD as an ART trainer.

    Args:
        classifier: the student (ART ``PyTorchClassifier`` with optimizer and clip values).
        robust_teacher: adversarially trained teacher (sees the adversarial batch).
        clean_teacher: naturally trained teacher (sees the natural batch).
        teachers: instead of the two slots, any number of :class:`~art_bmtad.algorithm.teachers.Teacher` with roles.
        weight_lr: eta_w of the weight rule.
        beta: power on the relative losses.
        **kwargs: ``decay_balancers_with_lr`` and the options of :class:`~art_bmtad.trainers.base.DistillationTrainer`.
    """

    method = "mtard"

    def __init__(
        self,
        classifier: PyTorchClassifier,
        robust_teacher: TeacherModel | None = None,
        clean_teacher: TeacherModel | None = None,
        *,
        teachers: list[Teacher] | None = None,
        weight_lr: float = 0.025,
        beta: float = 1.0,
        **kwargs: Any,
    ) -> None:
        teachers = as_teachers(robust_teacher, clean_teacher, teachers)
        super().__init__(classifier, teachers, **kwargs)
        self._set_balancers(RelativeLossBalance(len(teachers), lr=weight_lr, beta=beta), None)
        self.history.meta.update(weight_lr=weight_lr, beta=beta)
