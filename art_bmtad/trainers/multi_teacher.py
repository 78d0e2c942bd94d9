"""The multi-teacher piece shared by B-MTARD and MTARD: every teacher distils into the student's output on
the batch the teacher sees, with loss weights from a relative-loss balancer and optional entropy balance."""
from __future__ import annotations

from typing import Any

import torch

from art_bmtad.algorithm.adversarial import AdversarialBatch, pgd_linf
from art_bmtad.algorithm.balance import EntropyBalance, RelativeLossBalance
from art_bmtad.algorithm.losses import soft_kl
from art_bmtad.trainers.base import GAUSSIAN_START, DistillationTrainer
from art_bmtad.utils.distributed import mean_across_ranks


class MultiTeacherTrainer(DistillationTrainer):
    """``total = sum_k w_k * kl(softmax(t_k / tau_k), z_role(k))``.

    Subclasses set :attr:`loss_balance` (the weights, updated before the total is formed) and
    :attr:`entropy_balance` (the temperatures, updated after the loss for the next step; ``None`` keeps every
    temperature at 1).
    """

    loss_balance: RelativeLossBalance
    entropy_balance: EntropyBalance | None = None

    def __init__(self, *args: Any, decay_balancers_with_lr: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.decay_balancers_with_lr = decay_balancers_with_lr

    def _set_balancers(self, loss_balance: RelativeLossBalance, entropy_balance: EntropyBalance | None) -> None:
        self.loss_balance = loss_balance
        self.entropy_balance = entropy_balance
        self._base_rates = (loss_balance.lr, entropy_balance.lr if entropy_balance is not None else 0.0)

    def _stateful_parts(self) -> dict[str, Any]:
        """The balancers (weights, NLB's first-step reference losses, temperatures) go into checkpoints."""
        parts: dict[str, Any] = {"loss_balance": self.loss_balance}
        if self.entropy_balance is not None:
            parts["entropy_balance"] = self.entropy_balance
        return parts

    def _default_attack(self) -> AdversarialBatch:
        """Cross-entropy PGD on the student in eval mode from ``x + 0.001 * N(0, 1)``."""
        attack = pgd_linf(self._classifier, self.eps, self.eps_step, self.max_iter)
        return AdversarialBatch(attack, gaussian_start=GAUSSIAN_START)

    def _scale_balancer_rates(self, factor: float) -> None:
        """eta_w and eta_tau follow the learning rate (x0.1 at each milestone in the paper's schedule)."""
        if not self.decay_balancers_with_lr:
            return
        self.loss_balance.lr = self._base_rates[0] * factor
        if self.entropy_balance is not None:
            self.entropy_balance.lr = self._base_rates[1] * factor

    def _distillation_loss(
        self, z_adv: torch.Tensor, z_nat: torch.Tensor, teacher_logits: list[torch.Tensor], y: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if self.entropy_balance is None:
            tau = torch.ones(len(teacher_logits), dtype=torch.float64, device=z_adv.device)
        else:
            tau = self.entropy_balance.temperature_tensor().to(z_adv.device)
        student = {"adv": z_adv, "nat": z_nat}
        losses = torch.stack(
            [
                self.kl_scale * soft_kl(torch.softmax(t.float() / tau[k].float(), dim=1), student[teacher.role])
                for k, (t, teacher) in enumerate(zip(teacher_logits, self.teachers))
            ]
        )
        # What the balancers see: this batch's losses and entropies, averaged over the processes of a DDP run
        # in one all-reduce, so that every rank makes the same update (a no-op in one process).
        measured = losses.detach().double()
        if self.entropy_balance is not None:
            measured = torch.cat([measured, self.entropy_balance.measure(teacher_logits)])
        measured = mean_across_ranks(measured)
        n = len(self.teachers)
        weights = self.loss_balance.step(measured[:n])
        total = (weights.to(losses.dtype) * losses).sum()
        record: dict[str, torch.Tensor] = {}
        for k, teacher in enumerate(self.teachers):
            record[f"loss/{teacher.name}"] = measured[k]
            record[f"weight/{teacher.name}"] = weights[k]
            record[f"temperature/{teacher.name}"] = tau[k]
        if self.entropy_balance is not None:
            self.entropy_balance.step_from_entropies(measured[n:])
            for k, teacher in enumerate(self.teachers):
                record[f"entropy/{teacher.name}"] = self.entropy_balance.entropies[k]
        return total, record
