"""Built-in plugin: every source of :func:`art_bmtad.datasets.load_dataset` as a dataset.

``create_dataset("digits", n_train=256)`` is ``load_dataset("digits", n_train=256)``; likewise
``cifar10``, ``cifar100``, ``npz`` (``path=``) and ``imagefolder`` (``root=``).
"""
from __future__ import annotations

import functools
from typing import Callable

from art_bmtad.datasets import SOURCES, load_dataset
from art_bmtad.hookspecs import DatasetFactory, hookimpl


@hookimpl
def art_bmtad_register_datasets(register: Callable[[str, DatasetFactory], None]) -> None:
    """Register one dataset per source of :func:`~art_bmtad.datasets.load_dataset`."""
    for source in SOURCES:
        register(source, functools.partial(load_dataset, source))
