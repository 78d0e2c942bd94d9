"""Checks of user input that run before any training step, each with an error that names the problem."""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch
from art.estimators.classification import PyTorchClassifier

if TYPE_CHECKING:
    from art_bmtad.config import Recipe
    from art_bmtad.datasets import Dataset

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


# ----------------------------------------------------------------------------------- a run's inputs, before work
PROBE_EXAMPLES = 8
"""Training examples each teacher predicts on before any work, to catch non-finite outputs."""


def check_student_builds(recipe: Recipe) -> None:
    """Build the recipe's student once on the CPU (and discard it), before any data or teacher is loaded.

    The shape comes from the dataset's preset when the source is a known dataset, else a 3x32x32, 10-class
    stand-in: what this catches (unknown or refused ``student.model_kwargs``, a model that cannot be built) does
    not depend on it.

    Raises:
        ConfigError: naming ``student.model`` / ``student.model_kwargs`` and the model's own complaint.
    """
    from art_bmtad.benchmark.components import build_student
    from art_bmtad.config import ConfigError
    from art_bmtad.dataset_catalog import PRESETS, DatasetPreset

    preset = PRESETS.get(recipe.data.source, DatasetPreset(10, (3, 32, 32), (0.5,) * 3, (0.5,) * 3))
    try:
        build_student(recipe, preset, device="cpu")
    except (TypeError, ValueError, RuntimeError, KeyError, AssertionError) as err:
        raise ConfigError(f"student.model_kwargs {recipe.student.model_kwargs}: the student {recipe.student.model!r} "
                          f"cannot be built with them: {err}") from err


def check_training_data(recipe: Recipe, data: Dataset, processes: int = 1) -> None:
    """The recipe's batching and selection must fit the loaded data, so that no run trains zero steps.

    Args:
        recipe: the recipe.
        data: the loaded dataset.
        processes: processes that share each batch (torchrun's world size).

    Raises:
        ConfigError: naming ``schedule.batch_size`` or ``data.val_size``.
    """
    from art_bmtad.config import ConfigError

    batch_size, n_train = recipe.schedule.batch_size, len(data.x_train)
    if batch_size // processes < 2:
        raise ConfigError(f"schedule.batch_size: {batch_size} over {processes} processes leaves batches of "
                          f"{batch_size // processes}; batches of one are skipped (BatchNorm), so nothing would train")
    if batch_size > n_train:
        raise ConfigError(f"schedule.batch_size: {batch_size} is larger than the {n_train} training examples; "
                          "choose at most that many")
    if recipe.schedule.select_by is not None and len(data.x_val) == 0:
        raise ConfigError(f"data.val_size: the validation split of {data.name!r} is empty, but schedule.select_by "
                          f"{recipe.schedule.select_by!r} selects the epoch on it")


def check_fits_data(classifier: PyTorchClassifier, data: Dataset, what: str) -> None:
    """A teacher or a model to evaluate must take the data's images, have its classes and give finite outputs on a
    few of them.

    Args:
        classifier: the classifier.
        data: the data it will see.
        what: the classifier in messages, e.g. ``"teacher robust (teachers/madry.safetensors)"``.

    Raises:
        ValueError: naming the classifier and what does not fit.
    """
    if tuple(classifier.input_shape) != tuple(data.input_shape):
        raise ValueError(f"{what} takes inputs of shape {tuple(classifier.input_shape)}, but the data "
                         f"{data.name!r} has images of shape {tuple(data.input_shape)}")
    if classifier.nb_classes != data.nb_classes:
        raise ValueError(f"{what} has {classifier.nb_classes} classes, the data {data.name!r} has {data.nb_classes}")
    logits = classifier.predict(data.x_train[:PROBE_EXAMPLES], batch_size=PROBE_EXAMPLES)
    if logits.shape != (min(PROBE_EXAMPLES, len(data.x_train)), data.nb_classes) or not np.isfinite(logits).all():
        raise ValueError(f"{what} gives non-finite or misshapen outputs {logits.shape} on the first training "
                         "examples (NaN or Inf weights?); retrain it or use another checkpoint")
