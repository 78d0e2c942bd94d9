"""Built-in plugin: every source of :func:`art_bmtad.data.datasets.load_dataset` as a dataset.

``create_dataset("digits", n_train=256)`` is ``load_dataset("digits", n_train=256)``; likewise
``cifar10``, ``cifar100``, ``npz`` (``path=``) and ``imagefolder`` (``root=``).
"""
from __future__ import annotations

from typing import Any, Callable

from art_bmtad.data.catalog import SOURCES
from art_bmtad.hookspecs import DatasetFactory, hookimpl


def _loader(source: str) -> DatasetFactory:
    """``factory(**options)`` calling ``load_dataset(source, **options)``, importing numpy only when called."""

    def factory(**options: Any) -> Any:
        from art_bmtad.data.datasets import load_dataset

        return load_dataset(source, **options)

    factory.__doc__ = f"``load_dataset({source!r}, **options)``."
    return factory


@hookimpl
def art_bmtad_register_datasets(register: Callable[[str, DatasetFactory], None]) -> None:
    """Register one dataset per source of :func:`~art_bmtad.data.datasets.load_dataset`."""
    for source in SOURCES:
        register(source, _loader(source))
