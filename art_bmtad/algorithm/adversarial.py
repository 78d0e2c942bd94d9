"""Adversarial batches from ART evasion attacks, kept on the device for ART's PyTorch PGD."""
from __future__ import annotations

import contextlib
from typing import Iterator

import numpy as np
import torch
from art.attacks.attack import EvasionAttack
from art.attacks.evasion import ProjectedGradientDescent, ProjectedGradientDescentPyTorch
from art.estimators.classification import PyTorchClassifier


class _GradientView(PyTorchClassifier):
    """The same network as another classifier, with its own attack loss and train/eval mode for gradients."""

    def __init__(self, classifier: PyTorchClassifier, loss: torch.nn.Module, training_mode: bool) -> None:
        super().__init__(
            model=classifier.model,
            loss=loss,
            input_shape=classifier.input_shape,
            nb_classes=classifier.nb_classes,
            clip_values=classifier.clip_values,
            preprocessing_defences=classifier.preprocessing_defences,
            preprocessing=classifier.preprocessing,
            device_type="gpu" if classifier.device.type == "cuda" else "cpu",
        )
        self._gradient_training_mode = training_mode

    def loss_gradient(self, x, y, training_mode: bool = False, **kwargs):  # noqa: D102 - ART signature
        return super().loss_gradient(x, y, training_mode=self._gradient_training_mode, **kwargs)


def gradient_view(
    classifier: PyTorchClassifier, *, loss: torch.nn.Module | None = None, training_mode: bool = False
) -> PyTorchClassifier:
    """The classifier itself, or a view of its network whose loss gradients use ``loss`` and ``training_mode``.

    ART's attacks take the objective from the estimator's loss and always ask for eval-mode gradients; RSLAD
    attacks a KL objective (cross-entropy with soft labels has the same input gradient) and ARD attacks in
    train mode, so they attack such a view.
    """
    if loss is None and not training_mode:
        return classifier
    return _GradientView(classifier, loss if loss is not None else classifier._loss, training_mode)


def pgd_linf(
    estimator: PyTorchClassifier, eps: float, eps_step: float, max_iter: int, *, random_init: bool = False
) -> ProjectedGradientDescentPyTorch:
    """ART's PyTorch PGD in Linf with the given budget (``random_init``: uniform start in the eps ball)."""
    return ProjectedGradientDescentPyTorch(
        estimator,
        norm=np.inf,
        eps=eps,
        eps_step=eps_step,
        max_iter=max_iter,
        num_random_init=int(random_init),
        batch_size=1 << 30,
        verbose=False,
    )


@contextlib.contextmanager
def parameters_frozen(module: torch.nn.Module) -> Iterator[None]:
    """Input gradients only: skips the weight-gradient work of the attack's backward passes."""
    flags = [(p, p.requires_grad) for p in module.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


class AdversarialBatch:
    """Makes the adversarial version of a training batch with an ART evasion attack.

    For ART's PyTorch PGD the attack runs batch by batch on device tensors (ART's own per-iteration step,
    never through numpy); any other ``EvasionAttack`` falls back to ``attack.generate`` on numpy arrays.

    Args:
        attack: an ART evasion attack on the student (or on a :func:`gradient_view` of it).
        gaussian_start: if set, start from ``x + gaussian_start * N(0, 1)`` (the MTARD family's start).
    """

    def __init__(self, attack: EvasionAttack, *, gaussian_start: float | None = None) -> None:
        if not isinstance(attack, EvasionAttack):
            raise TypeError(f"attack must be an ART EvasionAttack, got {type(attack).__name__}")
        self.attack = attack
        self.gaussian_start = gaussian_start
        inner = attack._attack if isinstance(attack, ProjectedGradientDescent) else attack
        self._pgd = inner if isinstance(inner, ProjectedGradientDescentPyTorch) else None

    def __call__(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Adversarial examples for ``x`` with ``labels`` (one-hot or soft, ``(B, C)``), detached, on x's device."""
        estimator = self.attack.estimator
        with parameters_frozen(estimator.model), torch.enable_grad():
            if self._pgd is None:
                x_adv = self.attack.generate(x.detach().cpu().numpy(), y=labels.detach().cpu().numpy())
                return torch.from_numpy(x_adv).to(x.device)
            return self._pgd_on_device(x.detach(), labels.detach())

    def _pgd_on_device(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        pgd = self._pgd
        x_adv = x if self.gaussian_start is None else x + self.gaussian_start * torch.randn_like(x)
        bare = _bare_pgd_applies(pgd)
        if bare:
            input_gradient = _InputGradient(pgd.estimator, labels)
        momentum = torch.zeros_like(x)
        for i in range(pgd.max_iter):
            random_init = pgd.num_random_init > 0 and i == 0
            if bare and not random_init:
                x_adv = _linf_step(pgd, x_adv, x, input_gradient(x_adv))
            else:
                x_adv = pgd._compute_pytorch(x_adv, x, labels, None, pgd.eps, pgd.eps_step, random_init, momentum)
        return x_adv.detach()


def _bare_pgd_applies(pgd: ProjectedGradientDescentPyTorch) -> bool:
    """Whether ART's PGD iteration may run as a bare input-gradient loop with the same result.

    True for ART's own untargeted Linf PGD without momentum, summaries or masks, on a ``PyTorchClassifier`` (or a
    :func:`gradient_view` of one) whose preprocessing is all in PyTorch; anything else runs ART's own iteration.
    """
    estimator = pgd.estimator
    return (
        type(pgd) is ProjectedGradientDescentPyTorch
        and pgd.norm in (np.inf, "inf")
        and pgd.decay is None
        and not pgd.targeted
        and pgd.summary_writer is None
        and np.ndim(pgd.eps) == 0
        and np.ndim(pgd.eps_step) == 0
        and type(estimator) in (PyTorchClassifier, _GradientView)
        and estimator.all_framework_preprocessing
        and not estimator.is_rnn
        and not estimator._use_amp
    )


class _InputGradient:
    """``estimator.loss_gradient(x, labels)`` for one batch's fixed labels, as a bare ``torch.autograd.grad``.

    The same preprocessing, loss and train/eval mode as ART's ``loss_gradient``; the labels are reduced once per
    batch instead of once per iteration (one host synchronisation per iteration fewer on CUDA), the mode is set
    once, and the weights' gradients are neither computed nor cleared.
    """

    def __init__(self, estimator: PyTorchClassifier, labels: torch.Tensor) -> None:
        self.estimator = estimator
        self.labels = labels
        self.reduced = estimator.reduce_labels(labels)
        training_mode = estimator._gradient_training_mode if isinstance(estimator, _GradientView) else False
        estimator._model.train(mode=training_mode)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        estimator = self.estimator
        x_grad = x.detach().requires_grad_(True)
        inputs, labels = estimator._apply_preprocessing(x_grad, y=self.labels, fit=False, no_grad=False)
        labels = self.reduced if labels is self.labels else estimator.reduce_labels(labels)
        loss = estimator._loss(estimator._model(inputs)[-1], labels)
        gradient, = torch.autograd.grad(loss, x_grad)
        return gradient


def _linf_step(pgd: ProjectedGradientDescentPyTorch, x_adv: torch.Tensor, x: torch.Tensor,
               gradient: torch.Tensor) -> torch.Tensor:
    """One iteration of ART's Linf PGD from a given gradient, with ART's arithmetic (float32 step, clip to the clip
    values, then projection onto the eps ball around ``x``); NaN gradients move nothing, as in ART."""
    step = torch.nan_to_num(gradient.sign(), nan=0.0) * float(np.float32(pgd.eps_step))
    x_adv = x_adv.detach() + step
    clip_values = pgd.estimator.clip_values
    if clip_values is not None:
        x_adv = x_adv.clamp(float(clip_values[0]), float(clip_values[1]))
    eps = float(pgd.eps)
    return (x_adv - x).clamp(-eps, eps) + x
