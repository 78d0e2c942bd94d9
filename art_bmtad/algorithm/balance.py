"""The balancing rules of multi-teacher adversarial distillation, usable on their own.

* :class:`EntropyBalance` (B-MTARD's Entropy-Based Balance, EBB) moves each teacher's temperature so
  that the teachers' prediction entropies meet.
* :class:`NormalizedLossBalance` (B-MTARD's Normalization Loss Balance, NLB) moves the loss weights
  towards each teacher's share of relative loss, clipped at zero and renormalised.
* :class:`RelativeLossBalance` (MTARD's rule) is NLB with a power ``beta`` and without the clip.

Each works for any number of teachers; for two teachers EBB and NLB are exactly the rules of Zhao et al.,
"Mitigating Accuracy-Robustness Trade-off via Balanced Multi-Teacher Adversarial Distillation",
TPAMI 2024 (https://arxiv.org/abs/2306.16170). State lives in float64 tensors on the device of the inputs,
so a trainer can update the balancers every step without a host synchronisation; the public
``update`` methods return plain floats for everyone else.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch

from art_bmtad.algorithm.losses import negative_entropy

_STATE = torch.float64


def _as_vector(values: Sequence[float | torch.Tensor] | torch.Tensor, device: torch.device) -> torch.Tensor:
    if isinstance(values, torch.Tensor):
        return values.detach().to(device=device, dtype=_STATE).reshape(-1)
    return torch.stack([torch.as_tensor(v, dtype=_STATE).detach().to(device).reshape(()) for v in values])


def _check_count(name: str, got: int, expected: int) -> None:
    if got != expected:
        raise ValueError(f"{name}: expected {expected} values, one per teacher, got {got}")


class EntropyBalance:
    """Entropy-Based Balance: teacher-side temperatures that equalise the teachers' entropies.

    With ``E_k = mean_{b,c}[p_k log(p_k + 1e-5)]`` (negative entropy / C) of ``p_k = softmax(t_k / tau_k)``
    and ``E_mean`` the mean over teachers, each step does
    ``tau_k <- clip(tau_k - lr * sign(E_k / E_mean - 1), t_min, t_max)``: a teacher with more entropy than
    the mean is sharpened, one with less is softened. For two teachers ``sign(E_adv / E_mean - 1)`` equals the
    paper's ``sign(E_adv / E_nat - 1)``. The new temperatures apply from the next step.

    Args:
        n_teachers: number of teachers, in the order of the logits passed to :meth:`update`.
        lr: step ``eta_tau`` of the temperature.
        t_min: lower clamp (1 in the paper; below 1 lets a high-entropy teacher be sharpened further).
        t_max: upper clamp.
        init: starting temperature of every teacher.
    """

    def __init__(
        self, n_teachers: int = 2, lr: float = 0.001, t_min: float = 1.0, t_max: float = 10.0, init: float = 1.0
    ) -> None:
        if n_teachers < 1:
            raise ValueError(f"n_teachers must be >= 1, got {n_teachers}")
        if not 0 < t_min <= t_max:
            raise ValueError(f"need 0 < t_min <= t_max, got t_min={t_min}, t_max={t_max}")
        if not t_min <= init <= t_max:
            raise ValueError(f"init temperature {init} outside [t_min, t_max] = [{t_min}, {t_max}]")
        if lr < 0:
            raise ValueError(f"lr must be >= 0, got {lr}")
        self.n_teachers = n_teachers
        self.lr = float(lr)
        self.t_min = float(t_min)
        self.t_max = float(t_max)
        self._tau = torch.full((n_teachers,), float(init), dtype=_STATE)
        self.entropies: torch.Tensor | None = None
        """The ``E_k`` of the last update (float64 tensor), for logging."""

    @property
    def temperatures(self) -> list[float]:
        """Current temperatures, one per teacher."""
        return self._tau.tolist()

    def temperature_tensor(self) -> torch.Tensor:
        """Current temperatures as a float64 tensor (no host synchronisation)."""
        return self._tau

    def step(self, teacher_logits: Sequence[torch.Tensor]) -> torch.Tensor:
        """Tensor form of :meth:`update`; returns the new temperatures as a tensor."""
        return self.step_from_entropies(self.measure(teacher_logits))

    def measure(self, teacher_logits: Sequence[torch.Tensor]) -> torch.Tensor:
        """The ``E_k`` of this batch at the current temperatures (float64 tensor; no state change, no sync)."""
        _check_count("EntropyBalance.update", len(teacher_logits), self.n_teachers)
        tau = self._tau.to(teacher_logits[0].device)
        with torch.no_grad():
            return torch.stack(
                [negative_entropy(torch.softmax(t.detach().double() / tau[k], dim=1)) for k, t in enumerate(teacher_logits)]
            )

    def step_from_entropies(self, entropy: torch.Tensor) -> torch.Tensor:
        """The EBB update from given ``E_k`` (e.g. :meth:`measure` averaged over the processes of a DDP run)."""
        _check_count("EntropyBalance.step_from_entropies", len(entropy), self.n_teachers)
        with torch.no_grad():
            entropy = entropy.to(_STATE)
            tau = self._tau.to(entropy.device)
            direction = torch.nan_to_num(torch.sign(entropy / entropy.mean() - 1.0))
            self.entropies = entropy
            self._tau = (tau - self.lr * direction).clamp(self.t_min, self.t_max)
        return self._tau

    def update(self, teacher_logits: Sequence[torch.Tensor]) -> list[float]:
        """One EBB step on this batch's teacher logits (one ``(B, C)`` tensor per teacher, in order).

        Returns:
            The new temperatures, to be used from the next step on.
        """
        return self.step(teacher_logits).tolist()

    def state_dict(self) -> dict[str, Any]:
        return {"temperatures": self.temperatures, "lr": self.lr, "t_min": self.t_min, "t_max": self.t_max}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        _check_count("EntropyBalance.load_state_dict", len(state["temperatures"]), self.n_teachers)
        self._tau = torch.tensor(state["temperatures"], dtype=_STATE)
        self.lr, self.t_min, self.t_max = float(state["lr"]), float(state["t_min"]), float(state["t_max"])


class RelativeLossBalance:
    """Loss weights that follow each teacher's share of relative loss (MTARD's rule).

    ``r_k = L_k / L_k(0)`` with ``L_k(0)`` the losses of the very first update (never reset);
    ``target_k = r_k^beta / sum_j r_j^beta``; ``w_k <- w_k - lr * (w_k - target_k)``. The weights keep
    summing to one. With two teachers this is MTARD's ``w_nat`` rule with ``w_adv = 1 - w_nat``.

    Args:
        n_teachers: number of teachers, in the order of the losses passed to :meth:`update`.
        lr: step ``eta_w`` of the weights.
        beta: power on the relative losses.
        init: starting weights (default: uniform).
    """

    clip_negative = False

    def __init__(
        self, n_teachers: int = 2, lr: float = 0.025, beta: float = 1.0, init: Sequence[float] | None = None
    ) -> None:
        if n_teachers < 1:
            raise ValueError(f"n_teachers must be >= 1, got {n_teachers}")
        if lr < 0:
            raise ValueError(f"lr must be >= 0, got {lr}")
        weights = [1.0 / n_teachers] * n_teachers if init is None else [float(w) for w in init]
        _check_count(type(self).__name__, len(weights), n_teachers)
        if any(w < 0 for w in weights) or abs(sum(weights) - 1.0) > 1e-6:
            raise ValueError(f"initial weights must be >= 0 and sum to 1, got {weights}")
        self.n_teachers = n_teachers
        self.lr = float(lr)
        self.beta = float(beta)
        self._w = torch.tensor(weights, dtype=_STATE)
        self._reference: torch.Tensor | None = None

    @property
    def weights(self) -> list[float]:
        """Current weights, one per teacher."""
        return self._w.tolist()

    @property
    def reference_losses(self) -> list[float] | None:
        """The first-step losses ``L_k(0)``, or None before the first update."""
        return None if self._reference is None else self._reference.tolist()

    def weight_tensor(self) -> torch.Tensor:
        """Current weights as a float64 tensor (no host synchronisation)."""
        return self._w

    def step(self, losses: Sequence[float | torch.Tensor] | torch.Tensor) -> torch.Tensor:
        """Tensor form of :meth:`update`; returns the new weights as a tensor."""
        _check_count(f"{type(self).__name__}.update", len(losses), self.n_teachers)
        device = losses[0].device if isinstance(losses[0], torch.Tensor) else self._w.device
        current = _as_vector(losses, device)
        if self._reference is None:
            if not bool(torch.all(torch.isfinite(current) & (current > 0))):
                raise ValueError(f"the first losses must be finite and > 0 to serve as reference, got {current.tolist()}")
            self._reference = current.clone()
        relative = (current / self._reference.to(device)) ** self.beta
        target = relative / relative.sum()
        w = self._w.to(device)
        w = w - self.lr * (w - target)
        if self.clip_negative:
            w = w.clamp_min(0.0)
            w = w / w.sum()
        self._w = w
        return w

    def update(self, losses: Sequence[float | torch.Tensor]) -> list[float]:
        """One update from this step's per-teacher losses (floats or 0-dim tensors, in teacher order).

        Returns:
            The new weights, to be used for this step's total loss.
        """
        return self.step(losses).tolist()

    def state_dict(self) -> dict[str, Any]:
        return {"weights": self.weights, "reference_losses": self.reference_losses, "lr": self.lr, "beta": self.beta}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        _check_count(f"{type(self).__name__}.load_state_dict", len(state["weights"]), self.n_teachers)
        self._w = torch.tensor(state["weights"], dtype=_STATE)
        ref = state["reference_losses"]
        self._reference = None if ref is None else torch.tensor(ref, dtype=_STATE)
        self.lr, self.beta = float(state["lr"]), float(state["beta"])


class NormalizedLossBalance(RelativeLossBalance):
    """Normalization Loss Balance (B-MTARD): the relative-loss rule with ``beta = 1``, then
    ``w_k <- max(w_k, 0)`` and renormalisation to sum 1.

    Args:
        n_teachers: number of teachers, in the order of the losses passed to :meth:`update`.
        lr: step ``eta_w`` of the weights.
        init: starting weights (default: uniform, 0.5/0.5 for two teachers).
    """

    clip_negative = True

    def __init__(self, n_teachers: int = 2, lr: float = 0.025, init: Sequence[float] | None = None) -> None:
        super().__init__(n_teachers=n_teachers, lr=lr, beta=1.0, init=init)
