"""Checks of a run's inputs that run before any work (the student builds, the data fits the batching, a
classifier fits the data), each with an error that names the problem."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from art.estimators.classification import PyTorchClassifier

from art_bmtad.algorithm.arguments import check_batching
from art_bmtad.utils.errors import ConfigError

if TYPE_CHECKING:
    from art_bmtad.data.datasets import Dataset
    from art_bmtad.recipes.recipe import Recipe

PROBE_EXAMPLES = 8
"""Training examples each teacher predicts on before any work, to catch non-finite outputs."""


def check_training_data(recipe: Recipe, data: Dataset, processes: int = 1) -> None:
    """The recipe's batching and selection must fit the loaded data, so that no run trains zero steps.

    Args:
        recipe: the recipe.
        data: the loaded dataset.
        processes: processes that share each batch (torchrun's world size).

    Raises:
        ConfigError: naming ``schedule.batch_size`` or ``data.val_size``.
    """
    batch_size, n_train = recipe.schedule.batch_size, len(data.x_train)
    try:
        check_batching(n_train, batch_size, processes, batch_name="schedule.batch_size:",
                       data_name=f"the training split of {data.name!r}")
    except ValueError as err:
        raise ConfigError(str(err)) from None
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
