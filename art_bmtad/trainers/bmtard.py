"""B-MTARD: Balanced Multi-Teacher Adversarial Robustness Distillation.

Zhao et al., "Mitigating Accuracy-Robustness Trade-off via Balanced Multi-Teacher Adversarial Distillation",
TPAMI 2024, https://arxiv.org/abs/2306.16170 (released code: zhaoshiji123/MTARD-extension).

:meth:`MultiTeacherTrainer._train_step` below is one step, in the paper's order: the adversarial batch, the
student's and the teachers' forwards, the per-teacher losses, Normalization Loss Balance (NLB), the total loss and
Entropy-Based Balance (EBB). The balancers are objects passed in (``None`` switches one off), so MTARD
(:mod:`.mtard`) is this step with its own weight rule and no EBB. With more than two teachers each teacher's
entropy is driven to the mean entropy and NLB uses ``r_k / sum_j r_j``; for two teachers both are exactly the
paper's rules. eta_w and eta_tau follow the learning rate (``decay_balancers_with_lr``).
"""
from __future__ import annotations

from typing import Any

import torch
from art.estimators.classification import PyTorchClassifier

from art_bmtad.algorithm.adversarial import AdversarialBatch, pgd_linf
from art_bmtad.algorithm.balance import EntropyBalance, NormalizedLossBalance, RelativeLossBalance
from art_bmtad.algorithm.losses import soft_kl
from art_bmtad.algorithm.teachers import Teacher, TeacherModel, as_teachers
from art_bmtad.trainers.base import GAUSSIAN_START, DistillationTrainer
from art_bmtad.trainers.history import per_teacher
from art_bmtad.utils import distributed


class MultiTeacherTrainer(DistillationTrainer):
    """``total = sum_k w_k * kl(softmax(t_k / tau_k), z_role(k))``, weights from :attr:`loss_balance` (uniform and
    fixed while ``None``), temperatures from :attr:`entropy_balance` (all 1 while ``None``); a method installs its
    balancers with :meth:`_set_balancers`."""

    loss_balance: RelativeLossBalance | None = None
    entropy_balance: EntropyBalance | None = None

    def __init__(self, classifier: PyTorchClassifier, teachers: list[Teacher], *, decay_balancers_with_lr: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(classifier, teachers, **kwargs)
        self.decay_balancers_with_lr = decay_balancers_with_lr
        self._base_rates: dict[RelativeLossBalance | EntropyBalance, float] = {}

    def _set_balancers(self, loss_balance: RelativeLossBalance | None, entropy_balance: EntropyBalance | None) -> None:
        """The weight and temperature balancers of the step (``None`` switches one off)."""
        self.loss_balance, self.entropy_balance = loss_balance, entropy_balance
        self._base_rates = {balancer: balancer.lr for balancer in self._balancers().values()}

    def _train_step(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        x, names = self._prepare_batch(x), [teacher.name for teacher in self.teachers]
        with self._autocast():
            # 1. The adversarial batch x', built on the student in eval mode.
            x_adv = self._attack(x, self._onehot(y))
            # 2. The student in train mode: z_adv = S(x'), then z_nat = S(x).
            z_adv, z_nat = self._student_forwards(x_adv, x)
            # 3. Each teacher on the batch it sees: the robust one on x', the clean one on x.
            teacher_logits = [t.logits(x_adv if t.role == "adv" else x) for t in self.teachers]
            # 4. Soft targets at the teacher-side temperatures; one KL(teacher || student) per teacher.
            tau = self._temperatures(z_adv.device)
            student = {"adv": z_adv, "nat": z_nat}
            losses = torch.stack([self.kl_scale * soft_kl(torch.softmax(t.float() / tau[k].float(), dim=1),
                                                          student[teacher.role])
                                  for k, (t, teacher) in enumerate(zip(teacher_logits, self.teachers))])
            # What the balancers see, averaged over the processes of a DDP run so that every rank updates alike.
            entropy = self.entropy_balance.measure(teacher_logits) if self.entropy_balance is not None else None
            seen_losses, seen_entropy = distributed.means_across_ranks(losses.detach().double(), entropy)
            # 5. NLB: the weights move towards each teacher's share of relative loss, before this step's total.
            weights = self._weights(seen_losses)
            # 6. The total loss.
            total = (weights.to(losses.dtype) * losses).sum()
            # 7. EBB: the temperatures move to equalise the teachers' entropies, from the next step on.
            if self.entropy_balance is not None:
                self.entropy_balance.step_from_entropies(seen_entropy)
        self._optimise(total)
        record = per_teacher(names, loss=seen_losses, weight=weights, temperature=tau)
        if seen_entropy is not None:
            record.update(per_teacher(names, entropy=seen_entropy))
        return self._step_values(total, record, y, z_adv, teacher_logits)

    def _temperatures(self, device: torch.device) -> torch.Tensor:
        if self.entropy_balance is None:
            return torch.ones(len(self.teachers), dtype=torch.float64, device=device)
        return self.entropy_balance.temperature_tensor().to(device)

    def _weights(self, losses: torch.Tensor) -> torch.Tensor:
        if self.loss_balance is None:
            return torch.full_like(losses, 1 / len(losses))
        return self.loss_balance.step(losses)

    def _balancers(self) -> dict[str, RelativeLossBalance | EntropyBalance]:
        parts = {"loss_balance": self.loss_balance, "entropy_balance": self.entropy_balance}
        return {name: balancer for name, balancer in parts.items() if balancer is not None}

    def _stateful_parts(self) -> dict[str, Any]:
        """The balancers (weights, NLB's first-step reference losses, temperatures) go into checkpoints."""
        return self._balancers()

    def _default_attack(self) -> AdversarialBatch:
        """Cross-entropy PGD on the student in eval mode from ``x + 0.001 * N(0, 1)``."""
        attack = pgd_linf(self._classifier, self.eps, self.eps_step, self.max_iter)
        return AdversarialBatch(attack, gaussian_start=GAUSSIAN_START)

    def _scale_balancer_rates(self, factor: float) -> None:
        """eta_w and eta_tau follow the learning rate (x0.1 at each milestone in the paper's schedule)."""
        if self.decay_balancers_with_lr:
            for balancer, rate in self._base_rates.items():
                balancer.lr = rate * factor


class AdversarialTrainerBMTARDPyTorch(MultiTeacherTrainer):
    """B-MTARD as an ART trainer: the step above with NLB and EBB.

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
        entropy_balance: Entropy-Based Balance on; ``False`` keeps every temperature at ``t_init`` (NLB only; the
            entropies are still measured and recorded).
        loss_balance: Normalization Loss Balance on; ``False`` keeps the loss weights at their initial equal values,
            0.5 / 0.5 for two teachers (EBB only).
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
        entropy_balance: bool = True,
        loss_balance: bool = True,
        **kwargs: Any,
    ) -> None:
        teachers = as_teachers(robust_teacher, clean_teacher, teachers)
        super().__init__(classifier, teachers, **kwargs)
        # A balancer switched off keeps its initial values: its rate is 0 (and stays 0 through the lr decay).
        self._set_balancers(
            NormalizedLossBalance(len(teachers), lr=weight_lr if loss_balance else 0.0),
            EntropyBalance(len(teachers), lr=temperature_lr if entropy_balance else 0.0, t_min=t_min, t_max=t_max,
                           init=t_init),
        )
        self.history.meta.update(temperature_lr=temperature_lr, t_min=t_min, t_max=t_max, weight_lr=weight_lr,
                                 entropy_balance=entropy_balance, loss_balance=loss_balance)
