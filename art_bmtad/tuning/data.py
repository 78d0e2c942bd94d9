"""The data a study sees: a pilot subset of the training split and the validation split, and no test split.

:class:`TuningData` has no test arrays at all, so no trial can score on the test split, by construction: the
recipe's dataset is loaded, its training and validation splits are kept and the rest is dropped before any
teacher or trial runs. What the trials train on (:meth:`TuningData.pilot_dataset`) and what the teachers train on
(:meth:`TuningData.teacher_dataset`) are :class:`~art_bmtad.data.datasets.Dataset` values with empty test arrays.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import train_test_split

from art_bmtad.data.datasets import Dataset
from art_bmtad.recipes.recipe import Recipe
from art_bmtad.utils.errors import ConfigError


@dataclass(frozen=True)
class TuningData:
    """Training and validation splits of the recipe's data, and the pilot subset of the training split.

    Attributes:
        name: the dataset's name.
        x_train: the recipe's whole training split (the teachers train on it, as in the final run).
        y_train: its labels.
        pilot: indices into ``x_train`` of the pilot subset the trials train on.
        x_val: the validation split every trial is scored on.
        y_val: its labels.
        class_names: class names.
        mean: normalisation mean.
        std: normalisation standard deviation.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    pilot: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    class_names: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def from_dataset(cls, data: Dataset, pilot_size: int | float, seed: int) -> "TuningData":
        """Keep ``data``'s training and validation splits (dropping its test split) and draw the pilot subset.

        Args:
            data: the recipe's dataset.
            pilot_size: training images of the pilot subset: a count, or a fraction of the training split in
                (0, 1]; a seeded subset, stratified by class when every class can contribute.
            seed: the subset's seed.

        Returns:
            The tuning data.

        Raises:
            ConfigError: a pilot size out of range, or no validation split to score on.
        """
        n = len(data.x_train)
        count = round(pilot_size * n) if isinstance(pilot_size, float) and pilot_size <= 1 else int(pilot_size)
        if not 2 <= count <= n:
            raise ConfigError(f"--pilot {pilot_size}: the pilot subset must hold 2 to {n} training images "
                              f"(a count, or a fraction in (0, 1] of the {n})")
        if len(data.x_val) == 0:
            raise ConfigError("data.val_size is 0: tuning scores every trial on the validation split; give it one")
        return cls(data.name, data.x_train, data.y_train, _subset(data.y_train, count, seed), data.x_val,
                   data.y_val, data.class_names, data.mean, data.std)

    def pilot_dataset(self) -> Dataset:
        """What a trial trains on (the pilot subset) and scores on (the validation split); its test split is
        empty."""
        return self._dataset(self.x_train[self.pilot], self.y_train[self.pilot])

    def teacher_dataset(self) -> Dataset:
        """What the teachers train on: the whole training split, as in the final run (same teacher cache
        entries); its test split is empty."""
        return self._dataset(self.x_train, self.y_train)

    def _dataset(self, x: np.ndarray, y: np.ndarray) -> Dataset:
        return Dataset(self.name, x, y, self.x_val, self.y_val, self.x_val[:0], self.y_val[:0], self.class_names,
                       self.mean, self.std)


def load_tuning_data(recipe: Recipe, pilot_size: int | float) -> TuningData:
    """The recipe's data (its seeded pool and validation split) as :class:`TuningData`; the test split is dropped
    here."""
    from art_bmtad.pipeline.components import load_data

    return TuningData.from_dataset(load_data(recipe), pilot_size, recipe.seed)


def _subset(labels: np.ndarray, count: int, seed: int) -> np.ndarray:
    """``count`` sorted indices of ``labels``, seeded, stratified when every class can contribute."""
    indices = np.arange(len(labels))
    if count == len(labels):
        return indices
    present = np.bincount(labels)
    present = present[present > 0]
    stratify = labels if present.min() >= 2 and len(present) <= count <= len(labels) - len(present) else None
    chosen, _ = train_test_split(indices, train_size=count, random_state=seed, stratify=stratify)
    return np.sort(chosen)
