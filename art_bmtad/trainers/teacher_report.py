"""How strong are the teachers? Measured before training, and watched during it.

B-MTARD only helps when its robust teacher is clearly more robust than the student would be on its own: with a
weak robust teacher the student looks fine on clean data and is not robust. :func:`teacher_report` measures each
teacher on a validation sample before the first step (clean accuracy; PGD accuracy at the training budget for
robust teachers; mean prediction entropy); :class:`TeacherMonitor` compares, each epoch, the robust teachers'
accuracy on the student's own adversarial batches with the student's, from logits the step already has, and
warns when a robust teacher is not better than the student for a whole epoch.
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import torch
from art.estimators.classification import PyTorchClassifier

from art_bmtad.algorithm.adversarial import AdversarialBatch, pgd_linf
from art_bmtad.algorithm.teachers import Teacher
from art_bmtad.utils.determinism import seeded

logger = logging.getLogger(__name__)


class WeakTeacherWarning(UserWarning):
    """A robust teacher is not more accurate than the student on the student's adversarial batches."""


@dataclass(frozen=True)
class TeacherStrength:
    """One teacher's numbers on the validation sample (accuracies in [0, 1], entropy in nats)."""

    name: str
    role: str
    robust: bool
    clean_acc: float
    pgd_acc: float | None
    mean_entropy: float
    n_examples: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def teacher_report(
    teachers: Sequence[Teacher],
    student: PyTorchClassifier,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    eps_step: float,
    max_iter: int,
    batch_size: int = 256,
    seed: int = 0,
) -> list[TeacherStrength]:
    """Measure every teacher on ``(x, y)`` (device tensors, labels as indices).

    Robust teachers are attacked with PGD (uniform random start) at the training budget, on the teacher itself.

    Args:
        teachers: the trainer's teachers.
        student: the student, for input shape, class count and clip values.
        x: validation inputs in the clip-value range.
        y: validation labels.
        eps: attack budget. eps_step: step size. max_iter: steps.
        batch_size: evaluation batch size.
        seed: seed of the attacks' random starts (the report is repeatable; global RNG states are restored).
    """
    with seeded(seed):
        report = [_strength(t, student, x, y, eps, eps_step, max_iter, batch_size) for t in teachers]
    for row in report:
        logger.info("teacher %s", format_strength(row))
    return report


def _strength(
    teacher: Teacher, student: PyTorchClassifier, x: torch.Tensor, y: torch.Tensor, eps: float, eps_step: float,
    max_iter: int, batch_size: int,
) -> TeacherStrength:
    attack = None
    if teacher.robust:
        target = _as_classifier(teacher, student)
        attack = AdversarialBatch(pgd_linf(target, eps, eps_step, max_iter, random_init=True))
    totals = torch.zeros(3, dtype=torch.float64, device=x.device)
    for start in range(0, len(x), batch_size):
        xb, yb = x[start : start + batch_size], y[start : start + batch_size]
        logits = teacher.logits(xb).float()
        probs = torch.softmax(logits, dim=1)
        totals[0] += (logits.argmax(1) == yb).sum()
        totals[1] += -(torch.xlogy(probs, probs).sum(1)).sum()
        if attack is not None:
            onehot = torch.nn.functional.one_hot(yb, student.nb_classes).float()
            totals[2] += (teacher.logits(attack(xb, onehot)).argmax(1) == yb).sum()
    clean, entropy, robust = (totals / len(x)).tolist()
    return TeacherStrength(teacher.name, teacher.role, bool(teacher.robust), clean,
                           robust if attack is not None else None, entropy, len(x))


def format_strength(row: TeacherStrength) -> str:
    pgd = f", PGD {row.pgd_acc:.3f}" if row.pgd_acc is not None else ""
    return f"{row.name!r} ({row.role}): clean {row.clean_acc:.3f}{pgd}, mean entropy {row.mean_entropy:.3f} nats"


def _as_classifier(teacher: Teacher, student: PyTorchClassifier) -> PyTorchClassifier:
    if isinstance(teacher.model, PyTorchClassifier):
        return teacher.model
    return PyTorchClassifier(
        teacher.module,
        loss=torch.nn.CrossEntropyLoss(),
        input_shape=student.input_shape,
        nb_classes=student.nb_classes,
        clip_values=student.clip_values,
        device_type="gpu" if student.device.type == "cuda" else "cpu",
    )


class TeacherMonitor:
    """Per-step agreement of each teacher and of the student with the labels, from logits the step already has.

    A teacher with role ``"adv"`` sees the student's adversarial batch, so its agreement there is its accuracy on
    those batches; the student's is measured on its own ``S(x')``. At the end of an epoch, a robust teacher that
    sees the adversarial batch and was not more accurate than the student on it triggers a
    :class:`WeakTeacherWarning` (and a log line) naming both numbers.
    """

    def __init__(self, teachers: Sequence[Teacher]) -> None:
        self.teachers = list(teachers)

    def record(self, y: torch.Tensor, z_adv: torch.Tensor, teacher_logits: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
        """0-dim tensors for the history: ``diag/student_adv_acc`` and ``diag/<teacher>_acc`` per teacher."""
        values = {"diag/student_adv_acc": (z_adv.argmax(1) == y).float().mean()}
        for teacher, logits in zip(self.teachers, teacher_logits):
            values[f"diag/{teacher.name}_acc"] = (logits.argmax(1) == y).float().mean()
        return values

    def check_epoch(self, epoch: dict[str, Any]) -> list[str]:
        """Warn for each robust adversarial-batch teacher not better than the student over this epoch."""
        messages = []
        student = epoch.get("diag/student_adv_acc")
        for teacher in self.teachers:
            teacher_acc = epoch.get(f"diag/{teacher.name}_acc")
            if not (teacher.robust and teacher.role == "adv") or student is None or teacher_acc is None:
                continue
            if teacher_acc <= student:
                messages.append(
                    f"epoch {epoch['epoch']}: robust teacher {teacher.name!r} was right on {teacher_acc:.1%} of the "
                    f"student's adversarial examples, the student on {student:.1%}; a teacher that is not more "
                    "robust than the student will not make it robust (check its PGD accuracy, train a stronger one, "
                    "or try t_min < 1 to sharpen it)"
                )
        for message in messages:
            logger.warning(message)
            warnings.warn(message, WeakTeacherWarning, stacklevel=3)
        return messages
