"""Distillation losses, written as in the released MTARD / B-MTARD code (see ``bmtard-spec.md``)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

LOG_EPS = 1e-5
"""Added inside ``log(p + eps)`` on the teacher side, as in the released code."""


def soft_kl(teacher_probs: torch.Tensor, student_logits: torch.Tensor, log_eps: float = LOG_EPS) -> torch.Tensor:
    """KL(teacher || student) averaged over all ``B * C`` entries (not per sample).

    ``mean_{b,c}[p * (log(p + log_eps) - log_softmax(z))]``; the student is at temperature 1.

    Args:
        teacher_probs: ``(B, C)`` soft targets, already at the teacher's temperature; treated as constants.
        student_logits: ``(B, C)`` student logits.
        log_eps: the constant inside the teacher's log (0 gives the exact KL, as ``nn.KLDivLoss``).
    """
    p = teacher_probs.detach().float()
    return (_p_log_p(p, log_eps) - p * F.log_softmax(student_logits.float(), dim=1)).mean()


def negative_entropy(probs: torch.Tensor, log_eps: float = LOG_EPS) -> torch.Tensor:
    """``mean_{b,c}[p * log(p + log_eps)]``: the negative entropy divided by C, as EBB measures it."""
    return _p_log_p(probs, log_eps).mean()


def _p_log_p(p: torch.Tensor, log_eps: float) -> torch.Tensor:
    return p * torch.log(p + log_eps) if log_eps else torch.xlogy(p, p)


def tempered_kl(teacher_logits: torch.Tensor, student_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """ARD's ``T^2 * KL(softmax(t / T) || softmax(s / T))`` averaged over ``B * C`` (``nn.KLDivLoss()``)."""
    p = F.softmax(teacher_logits.detach().float() / temperature, dim=1)
    return temperature**2 * soft_kl(p, student_logits / temperature, log_eps=0.0)
