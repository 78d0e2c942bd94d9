"""B-MTARD: Balanced Multi-Teacher Adversarial Robustness Distillation.

Zhao et al., "Mitigating Accuracy-Robustness Trade-off via Balanced Multi-Teacher Adversarial
Distillation", TPAMI 2024, https://arxiv.org/abs/2306.16170 (released code: zhaoshiji123/MTARD-extension).

One step on a batch ``(x, y)``:

1. ``x'``: cross-entropy PGD on the student in eval mode from ``x + 0.001 N(0, 1)`` (eps 8/255, step 2/255,
   10 steps), or any ART evasion attack passed as ``attack``.
2. Student in train mode: ``z_adv = S(x')``, then ``z_nat = S(x)``.
3. The robust teacher sees ``x'``, the clean teacher sees ``x``; soft targets ``softmax(t_k / tau_k)``
   (temperature on the teacher side only, no ``tau^2``).
4. ``L_k = mean_{b,c}[p_k (log(p_k + 1e-5) - log_softmax(z))]``; no hard-label term.
5. Normalization Loss Balance updates the weights from ``L_k / L_k(0)`` before ``total = sum_k w_k L_k``.
6. Entropy-Based Balance updates the temperatures for the next step.
7. eta_w and eta_tau follow the learning rate (``decay_balancers_with_lr``), so a step schedule decays all three.

With more than two teachers, each teacher's entropy is driven to the mean entropy and NLB uses
``r_k / sum_j r_j``; for two teachers both are exactly the paper's rules.
"""
from __future__ import annotations

from typing import Any

from art.estimators.classification import PyTorchClassifier

from art_bmtad.algorithm.balance import EntropyBalance, NormalizedLossBalance
from art_bmtad.algorithm.teachers import Teacher, TeacherModel, as_teachers
from art_bmtad.trainers.multi_teacher import MultiTeacherTrainer


class AdversarialTrainerBMTARDPyTorch(MultiTeacherTrainer):
    """B-MTARD as an ART trainer.

    Args:
        classifier: the student (ART ``PyTorchClassifier`` with optimizer and clip values).
        robust_teacher: adversarially trained teacher (sees the adversarial batch).
        clean_teacher: naturally trained teacher (sees the natural batch).
        teachers: instead of the two slots, any number of :class:`~art_bmtad.algorithm.teachers.Teacher` with roles.
        temperature_lr: eta_tau of Entropy-Based Balance.
        t_min: lowest temperature (1 in the paper; below 1 lets a high-entropy teacher be sharpened).
        t_max: highest temperature.
        t_init: initial temperature of every teacher.
        weight_lr: eta_w of Normalization Loss Balance.
        decay_balancers_with_lr: scale eta_w and eta_tau by ``lr / initial lr`` (on, as in the paper).
        **kwargs: options of :class:`~art_bmtad.trainers.base.DistillationTrainer` (attack, eps, eps_step,
            max_iter, kl_scale, augment, amp, channels_last, compile_student, scheduler_step, select_by, verbose).
    """

    method = "bmtard"

    def __init__(
        self,
        classifier: PyTorchClassifier,
        robust_teacher: TeacherModel | None = None,
        clean_teacher: TeacherModel | None = None,
        *,
        teachers: list[Teacher] | None = None,
        temperature_lr: float = 0.001,
        t_min: float = 1.0,
        t_max: float = 10.0,
        t_init: float = 1.0,
        weight_lr: float = 0.025,
        **kwargs: Any,
    ) -> None:
        teachers = as_teachers(robust_teacher, clean_teacher, teachers)
        super().__init__(classifier, teachers, **kwargs)
        self._set_balancers(
            NormalizedLossBalance(len(teachers), lr=weight_lr),
            EntropyBalance(len(teachers), lr=temperature_lr, t_min=t_min, t_max=t_max, init=t_init),
        )
        self.history.meta.update(temperature_lr=temperature_lr, t_min=t_min, t_max=t_max, weight_lr=weight_lr)
