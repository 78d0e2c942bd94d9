"""The datasets art-bmtad knows by name: their sources, shapes and normalisation, without loading anything.

A light module (no numpy): the CLI lists the sources in its help from here, and
:mod:`art_bmtad.data.datasets` loads them.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DatasetPreset:
    """Shape and normalisation of a known dataset (timm's ``input_size``, ``mean``, ``std``)."""

    num_classes: int
    input_shape: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]


KNOWN_DATASETS: dict[str, DatasetPreset] = {
    "cifar10": DatasetPreset(10, (3, 32, 32), (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": DatasetPreset(100, (3, 32, 32), (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "digits": DatasetPreset(10, (1, 8, 8), (0.3053,), (0.3760,)),
    "tiny-imagenet": DatasetPreset(200, (3, 64, 64), (0.4802, 0.4481, 0.3975), (0.2770, 0.2691, 0.2821)),
}

SOURCES = ("digits", "cifar10", "cifar100", "npz", "imagefolder")
