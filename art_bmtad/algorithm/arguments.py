"""Checks of the arguments the trainers and the evaluation receive, each with an error that names the problem."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from art.estimators.classification import PyTorchClassifier

_CLIP_TOLERANCE = 1e-6


def check_student(classifier: PyTorchClassifier) -> None:
    """The student must be an ART PyTorch classifier with an optimizer, clip values and torch preprocessing."""
    if not isinstance(classifier, PyTorchClassifier):
        raise TypeError(f"the student must be an ART PyTorchClassifier, got {type(classifier).__name__}")
    if classifier.optimizer is None:
        raise ValueError("the student PyTorchClassifier needs an optimizer (PyTorchClassifier(..., optimizer=...))")
    if classifier.clip_values is None:
        raise ValueError("the student PyTorchClassifier needs clip_values, e.g. (0.0, 1.0): eps is measured in them")
    if not classifier.all_framework_preprocessing:
        raise ValueError(
            "the student's preprocessing must all be PyTorch operations so that batches stay on the device; "
            f"got {[type(p).__name__ for p in classifier.preprocessing_operations]}"
        )


def check_threat_model(eps: float, eps_step: float, max_iter: int, clip_values: Sequence[float]) -> None:
    """eps and eps_step must be positive and meaningful in the clip-value range; max_iter a positive int."""
    span = float(np.max(clip_values[1]) - np.min(clip_values[0]))
    if not np.isfinite(eps) or eps <= 0 or eps > span:
        raise ValueError(f"eps must be in (0, {span}] (clip-value space {tuple(clip_values)}), got {eps}")
    if not np.isfinite(eps_step) or eps_step <= 0 or eps_step > eps:
        raise ValueError(f"eps_step must be in (0, eps={eps}], got {eps_step}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise ValueError(f"max_iter must be an integer >= 1, got {max_iter!r}")


def check_batching(n_examples: int, batch_size: int, processes: int = 1, *, batch_name: str = "batch_size",
                   data_name: str = "x") -> None:
    """Data and batch size must give an epoch at least one optimiser step: each of the ``processes`` that share a
    batch needs two examples of it, since a batch of one is skipped (BatchNorm cannot train on it).

    The trainers' ``fit`` and the commands' run checks (:func:`art_bmtad.pipeline.checks.check_training_data`) both
    apply it, so the Python API refuses what the command line refuses.

    Args:
        n_examples: training examples.
        batch_size: the (global) batch size.
        processes: processes sharing each batch (the ``torch.distributed`` world size).
        batch_name: the batch size in messages (``"schedule.batch_size"`` for a recipe).
        data_name: the training data in messages.

    Raises:
        ValueError: naming the batch size or the data, how many examples a batch would hold, and the least that
            trains.
    """
    over = f" over {processes} processes" if processes > 1 else ""
    if batch_size // processes < 2:
        raise ValueError(f"{batch_name} {batch_size}{over} gives batches of {batch_size // processes}: batches of one "
                         f"are skipped (BatchNorm cannot train on them), so nothing would train; use at least "
                         f"{2 * processes}")
    if -(-n_examples // processes) < 2:
        raise ValueError(f"{data_name} holds {n_examples} training example{'s' if n_examples != 1 else ''}{over}: "
                         f"batches of at most one, which are skipped (BatchNorm cannot train on them), so nothing "
                         f"would train; give at least {2 * processes}")


def check_data(
    x: np.ndarray, y: np.ndarray, classifier: PyTorchClassifier, *, name: str = "x"
) -> tuple[np.ndarray, np.ndarray]:
    """Validate inputs and labels against the student; return float32 inputs and int64 class indices.

    Raises:
        ValueError: empty data, a shape that is not the student's input shape, NaN/Inf, values outside the clip
            values, labels of the wrong length, shape or range.
    """
    x = np.asarray(x)
    if x.size == 0 or len(x) == 0:
        raise ValueError(f"{name} is empty")
    if tuple(x.shape[1:]) != tuple(classifier.input_shape):
        raise ValueError(
            f"{name} has sample shape {tuple(x.shape[1:])} but the student expects input_shape "
            f"{tuple(classifier.input_shape)} (data shape {x.shape})"
        )
    if not np.issubdtype(x.dtype, np.number):
        raise ValueError(f"{name} must be numeric, got dtype {x.dtype}")
    x = x.astype(np.float32, copy=False)
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains {int((~np.isfinite(x)).sum())} NaN or Inf values")
    low, high = (float(np.min(v)) for v in classifier.clip_values)
    if x.min() < low - _CLIP_TOLERANCE or x.max() > high + _CLIP_TOLERANCE:
        raise ValueError(
            f"{name} values lie in [{x.min():.4g}, {x.max():.4g}], outside the student's clip_values [{low}, {high}]"
            " (normalisation belongs in the classifier's preprocessing, not in the data)"
        )
    return x, labels_to_indices(y, len(x), classifier.nb_classes, name=name)


def labels_to_indices(y: np.ndarray, n: int, nb_classes: int, *, name: str = "x") -> np.ndarray:
    """Class indices from index or one-hot labels, checked for length and range."""
    y = np.asarray(y)
    if len(y) != n:
        raise ValueError(f"labels for {name} have length {len(y)} but there are {n} samples")
    if y.ndim == 2:
        if y.shape[1] != nb_classes:
            raise ValueError(f"one-hot labels for {name} have {y.shape[1]} columns, the student has {nb_classes} classes")
        if not (np.isin(y, (0, 1)).all() and (y.sum(axis=1) == 1).all()):
            raise ValueError(f"2-D labels for {name} must be one-hot (a single 1 per row)")
        return y.argmax(axis=1).astype(np.int64)
    if y.ndim != 1:
        raise ValueError(f"labels for {name} must be indices (N,) or one-hot (N, C), got shape {y.shape}")
    if not (np.issubdtype(y.dtype, np.integer) or (np.issubdtype(y.dtype, np.floating) and np.all(y == np.round(y)))):
        raise ValueError(f"index labels for {name} must be integers, got dtype {y.dtype}")
    if y.min() < 0 or y.max() >= nb_classes:
        raise ValueError(f"labels for {name} lie in [{y.min()}, {y.max()}], outside [0, {nb_classes - 1}]")
    return y.astype(np.int64)


def check_teacher_classes(teacher_logits: torch.Tensor, nb_classes: int, teacher_name: str) -> None:
    """A teacher's output must be ``(B, nb_classes)`` logits."""
    if teacher_logits.ndim != 2 or teacher_logits.shape[1] != nb_classes:
        raise ValueError(
            f"teacher {teacher_name!r} outputs shape {tuple(teacher_logits.shape)}, "
            f"but the student has {nb_classes} classes"
        )
