"""Attack objectives on logits that ART has no ``loss_type`` for: the CW margin and the targeted DLR loss.

ART's gradient attacks (PGD, APGD) follow the loss of the estimator they are given, so an objective is
attacked by giving the attack a view of the classifier whose loss is that objective
(:func:`art_bmtad.algorithm.adversarial.gradient_view`). Both losses accept one-hot or index labels, since ART passes
one-hot labels to losses other than cross-entropy, and honour ``reduction`` (``"none"`` | ``"mean"`` |
``"sum"``), which ART's APGD switches to ``"none"`` for its per-example step-size rule.
"""
from __future__ import annotations

import torch
from torch.nn.modules.loss import _Loss

_DLR_DENOMINATOR_EPS = 1e-12


def _indices(labels: torch.Tensor) -> torch.Tensor:
    """Class indices ``(B,)`` from one-hot ``(B, C)`` or index ``(B,)`` labels."""
    return (labels.argmax(dim=1) if labels.ndim == 2 else labels).long()


def _label_and_best_other(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(z_label, max_{j != label} z_j)`` per example."""
    index = _indices(labels).unsqueeze(1)
    z_label = logits.gather(1, index).squeeze(1)
    z_other = logits.scatter(1, index, float("-inf")).amax(dim=1)
    return z_label, z_other


def _reduce(values: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "none":
        return values
    if reduction == "sum":
        return values.sum()
    if reduction == "mean":
        return values.mean()
    raise ValueError(f"reduction must be 'none', 'mean' or 'sum', got {reduction!r}")


class CWMarginLoss(_Loss):
    """Carlini-Wagner margin ``max_{j != y} z_j - z_y``; untargeted PGD maximises it.

    It is positive exactly when the example is misclassified. Its input gradient is that of the two logits that
    decide the prediction, so it is unaffected by the saturation of softmax that can weaken cross-entropy.
    """

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:  # noqa: D102 - torch API
        z_label, z_other = _label_and_best_other(logits, labels)
        return _reduce(z_other - z_label, self.reduction)


class TargetedDLRLoss(_Loss):
    """Targeted Difference of Logits Ratio of Croce & Hein (2020), written to be *minimised* towards target ``t``.

    ``(max_{j != t} z_j - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2)`` with ``z_pi1 >= z_pi2 >= ...`` the sorted
    logits. ART's targeted attacks receive only the target labels and minimise the loss; while the true class
    ``y`` is the top class (the attack has not yet succeeded), ``max_{j != t} z_j = z_y`` and this is exactly
    minus AutoAttack's targeted DLR ``-(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2)``.
    With fewer than four classes the missing ranks are replaced by the last one.
    """

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:  # noqa: D102 - torch API
        z_target, z_other = _label_and_best_other(logits, targets)
        ranked = logits.sort(dim=1, descending=True).values
        last = logits.shape[1] - 1
        scale = ranked[:, 0] - 0.5 * (ranked[:, min(2, last)] + ranked[:, min(3, last)])
        return _reduce((z_other - z_target) / (scale + _DLR_DENOMINATOR_EPS), self.reduction)
