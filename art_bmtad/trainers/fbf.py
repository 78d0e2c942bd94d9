"""ART's "fast is better than free" trainer (Wong et al. 2020, https://arxiv.org/abs/2001.03994) with the FGSM
step size as an option and one epoch at a time, so the benchmark can select its epoch on the validation split.

ART's ``AdversarialTrainerFBFPyTorch`` hard-codes the paper's step (``1.25 * eps``) and runs its cyclic learning
rate (0 -> 0.21 at 2/5 of the epochs -> 0) over one ``fit`` call. :class:`FastIsBetterThanFree` takes ART's
batch step (uniform start in the eps ball, one signed-gradient step taken in eval mode, projection, clip values,
the classifier's own preprocessing, gradient-norm clipping at 0.5, the cyclic rate set per step) with
``eps_step`` in place of ``1.25 * eps``, on device tensors, and the weight update in train mode (BatchNorm
statistics update as in the paper's code); :meth:`FastIsBetterThanFree.fit_epoch` trains epoch ``epoch`` of an
``nb_epochs`` cycle, so calling it for epochs 0, 1, ... gives the schedule of one ``fit`` call.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from art.defences.trainer import AdversarialTrainerFBFPyTorch
from art.estimators.classification import PyTorchClassifier
from art.utils import check_and_transform_label_format

from art_bmtad.algorithm.teachers import classifier_logits
from art_bmtad.trainers.run_mechanics import check_positive_int

PEAK_LR = 0.21
"""ART's (and the paper's CIFAR-10) peak of the cyclic learning rate."""
STEP_FACTOR = 1.25
"""The paper's FGSM step as a multiple of eps (alpha = 10/255 for eps = 8/255)."""


class FastIsBetterThanFree(AdversarialTrainerFBFPyTorch):
    """FBF adversarial training with ``eps_step`` and per-epoch training; labels as indices or one-hot.

    Args:
        classifier: the ART PyTorch classifier to train (its optimiser's learning rate is set per step).
        eps: Linf budget in input units.
        eps_step: FGSM step; ``None`` takes the paper's ``1.25 * eps``.
        use_amp: passed to ART (apex mixed precision; unused by :meth:`fit_epoch`).
    """

    def __init__(self, classifier: PyTorchClassifier, eps: float, eps_step: float | None = None,
                 use_amp: bool = False) -> None:
        super().__init__(classifier, eps=eps, use_amp=use_amp)
        self.eps_step = STEP_FACTOR * eps if eps_step is None else float(eps_step)

    def fit(self, x: np.ndarray, y: np.ndarray, validation_data: Any = None, batch_size: int = 128,
            nb_epochs: int = 20, **kwargs: Any) -> None:
        """All ``nb_epochs`` epochs of the cycle (``validation_data`` is not used: select with :meth:`fit_epoch`).

        Raises:
            ValueError: ``nb_epochs`` or ``batch_size`` below 1, or no data: nothing would train.
        """
        check_positive_int(batch_size=batch_size, nb_epochs=nb_epochs, n_examples=len(x))
        for epoch in range(nb_epochs):
            self.fit_epoch(x, y, epoch=epoch, nb_epochs=nb_epochs, batch_size=batch_size)

    def fit_epoch(self, x: np.ndarray, y: np.ndarray, *, epoch: int, nb_epochs: int, batch_size: int = 128,
                  augment: Any = None) -> None:
        """Train epoch ``epoch`` (0-based) of an ``nb_epochs``-epoch learning-rate cycle.

        Args:
            x: training inputs.
            y: labels, indices or one-hot.
            epoch: the epoch's position in the cycle.
            nb_epochs: length of the cycle.
            batch_size: batch size.
            augment: an optional batch augmentation on device tensors (e.g. ``random_crop_flip``).
        """
        device = self._classifier.device
        labels = check_and_transform_label_format(y, nb_classes=self._classifier.nb_classes).argmax(1)
        x_all, y_all = torch.from_numpy(x).to(device), torch.from_numpy(labels).to(device)
        order = torch.from_numpy(np.random.permutation(len(x))).to(device)
        n_batches = int(np.ceil(len(x) / batch_size))
        for batch in range(n_batches):
            index = order[batch * batch_size : (batch + 1) * batch_size]
            xb = x_all[index] if augment is None else augment(x_all[index])
            self._step(xb, y_all[index], cyclic_lr(epoch + (batch + 1) / n_batches, nb_epochs))

    def _step(self, x: torch.Tensor, y: torch.Tensor, lr: float) -> None:
        classifier, model = self._classifier, self._classifier.model
        low, high = classifier.clip_values if classifier.clip_values is not None else (-np.inf, np.inf)
        delta = ((torch.rand_like(x) * 2 - 1) * self._eps).requires_grad_(True)
        model.eval()  # ART takes the attack's gradient in eval mode
        (grad,) = torch.autograd.grad(classifier._loss(classifier_logits(classifier, x + delta), y), delta)
        delta = (delta.detach() + self.eps_step * grad.sign()).clamp(-self._eps, self._eps)
        x_adv = (x + delta).clamp(float(np.min(low)), float(np.max(high)))
        optimizer = classifier.optimizer
        optimizer.param_groups[0]["lr"] = lr
        optimizer.zero_grad()
        model.train()
        classifier._loss(classifier_logits(classifier, x_adv, fit=True), y).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        optimizer.step()


def cyclic_lr(position: float, nb_epochs: int) -> float:
    """ART's FBF learning rate at ``position`` epochs into an ``nb_epochs`` cycle: linear 0 -> 0.21 -> 0."""
    return float(np.interp(position, [0, nb_epochs * 2 // 5, nb_epochs], [0, PEAK_LR, 0]))
