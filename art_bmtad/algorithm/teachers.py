"""Frozen teachers and the forward pass through an ART classifier's own preprocessing."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Union

import torch
from art.estimators.classification import PyTorchClassifier

Role = Literal["adv", "nat"]
ROLES: tuple[str, ...] = ("adv", "nat")
TeacherModel = Union[PyTorchClassifier, torch.nn.Module]


def classifier_logits(classifier: PyTorchClassifier, x: torch.Tensor, *, fit: bool = False) -> torch.Tensor:
    """Logits of an ART PyTorch classifier on a device tensor, through its framework preprocessing.

    Unlike ``classifier.predict`` this stays on the device and keeps the autograd graph.
    """
    x_pre, _ = classifier._apply_preprocessing(x, y=None, fit=fit, no_grad=False)
    return classifier.model(x_pre)


@dataclass
class Teacher:
    """A frozen teacher and the batch it sees.

    Args:
        model: an ART ``PyTorchClassifier`` (its preprocessing is applied) or a plain ``nn.Module`` that takes
            inputs in the student's clip-value range (normalisation inside the module).
        role: ``"adv"`` for a teacher that sees the adversarial batch, ``"nat"`` for one that sees the natural one.
        name: label for logs and history (default ``"<role><index>"``).
        robust: whether the teacher is adversarially trained (its strength is then also measured under attack);
            default: it is when it sees the adversarial batch.
    """

    model: TeacherModel
    role: Role = "adv"
    name: str | None = None
    robust: bool | None = None

    def __post_init__(self) -> None:
        if self.robust is None:
            self.robust = self.role == "adv"
        if self.role not in ROLES:
            raise ValueError(f"teacher role must be one of {ROLES}, got {self.role!r}")
        if not isinstance(self.model, (PyTorchClassifier, torch.nn.Module)):
            raise TypeError(
                f"a teacher must be an ART PyTorchClassifier or a torch.nn.Module, got {type(self.model).__name__}"
            )

    @property
    def module(self) -> torch.nn.Module:
        return self.model.model if isinstance(self.model, PyTorchClassifier) else self.model

    def freeze(self, device: torch.device) -> None:
        """Move to ``device`` and switch to eval mode; the weights themselves are never touched."""
        self.module.to(device).eval()

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Detached logits in inference mode (cloned so that they may enter the student's autograd graph)."""
        with torch.inference_mode():
            if isinstance(self.model, PyTorchClassifier):
                out = classifier_logits(self.model, x)
            else:
                out = self.model(x)
        return out.clone()


def as_teachers(
    robust_teacher: TeacherModel | None = None,
    clean_teacher: TeacherModel | None = None,
    teachers: list[Teacher] | None = None,
) -> list[Teacher]:
    """Teachers from the two named slots (robust first, then clean) or from an explicit list, never both."""
    if teachers is not None:
        if robust_teacher is not None or clean_teacher is not None:
            raise ValueError("pass either robust_teacher/clean_teacher or teachers=[...], not both")
        result = [t if isinstance(t, Teacher) else Teacher(t) for t in teachers]
    else:
        result = []
        if robust_teacher is not None:
            result.append(Teacher(robust_teacher, "adv", "robust"))
        if clean_teacher is not None:
            result.append(Teacher(clean_teacher, "nat", "clean"))
    for index, teacher in enumerate(result):
        if teacher.name is None:
            teacher.name = f"{teacher.role}{index}"
    names = [t.name for t in result]
    if len(set(names)) != len(names):
        raise ValueError(f"teacher names must be unique, got {names}")
    return result
