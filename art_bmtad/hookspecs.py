"""Hook specifications of art-bmtad (pluggy project name ``art_bmtad``).

Every hook follows the "register callback" pattern: the host passes a ``register(name, factory)``
function and a plugin calls it once per thing it provides. Plugins are modules named by an entry
point in the ``art_bmtad`` group; see ``docs/plugins.md``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import pluggy

if TYPE_CHECKING:
    from art.defences.trainer import Trainer
    from art.estimators.classification import PyTorchClassifier
    from torch import nn

    from art_bmtad.data.datasets import Dataset
    from art_bmtad.models.zoo import ModelZoo
    from art_bmtad.tracking.backend import TrackerFactory

hookspec = pluggy.HookspecMarker("art_bmtad")
hookimpl = pluggy.HookimplMarker("art_bmtad")

DefenceFactory = Callable[..., "Trainer"]
"""``factory(classifier, **kwargs)`` returning an ART ``Trainer`` around ``classifier``."""
ModelFactory = Callable[..., "nn.Module | PyTorchClassifier"]
"""``factory(**kwargs)`` returning a ``torch.nn.Module`` or an ART ``PyTorchClassifier``."""
DatasetFactory = Callable[..., "Dataset"]
"""``factory(**kwargs)`` returning an :class:`art_bmtad.data.datasets.Dataset`."""


@hookspec
def art_bmtad_register_defences(register: Callable[[str, DefenceFactory], None]) -> None:
    """Register adversarial-training defences.

    Call ``register(name, factory)`` once per defence. ``factory(classifier, **kwargs)`` receives
    the ART classifier to train and keyword arguments from the user (those that are ``None`` are
    dropped, so the factory's own defaults apply) and returns an ART ``Trainer`` whose
    ``fit(x, y, validation_data=None, nb_epochs=..., batch_size=...)`` trains ``classifier``.
    Factories should accept the threat-model keywords ``eps``, ``eps_step`` and ``max_iter``.

    Args:
        register: ``register(name: str, factory)``; the first plugin to register a name keeps it.
    """


@hookspec
def art_bmtad_register_models(register: Callable[[str, ModelFactory], None]) -> None:
    """Register single models by name (a whole model zoo registers through ``art_bmtad_register_zoos``).

    Call ``register(name, factory)`` once per model. ``factory(**kwargs)`` returns a ``torch.nn.Module``
    (or a ready ART ``PyTorchClassifier``, which only ``create_model`` passes through); the front door
    (:func:`art_bmtad.models.classifier.create_classifier`) calls it with the user's model options only and
    puts the dataset's normalisation in the classifier. The name is then accepted wherever a model is named.

    Args:
        register: ``register(name: str, factory)``; the first plugin to register a name keeps it.
    """


@hookspec
def art_bmtad_register_datasets(register: Callable[[str, DatasetFactory], None]) -> None:
    """Register datasets for training and the benchmark.

    Call ``register(name, factory)`` once per dataset. ``factory(**kwargs)`` returns an
    :class:`art_bmtad.data.datasets.Dataset`: train, validation and test arrays (``x`` float32 NCHW in
    [0, 1], ``y`` int64 class indices), class names, and the normalisation ``mean`` and ``std``.

    Args:
        register: ``register(name: str, factory)``; the first plugin to register a name keeps it.
    """


@hookspec
def art_bmtad_register_zoos(register: Callable[["ModelZoo"], None]) -> None:
    """Register model zoos, whose models are then named ``<zoo>/<model>`` everywhere.

    Call ``register(zoo)`` once per :class:`art_bmtad.models.zoo.ModelZoo`: its name (the prefix),
    a lister, each model's :class:`~art_bmtad.models.zoo.ModelCfg` (input size, normalisation,
    classes, where the weights live) and a ``create`` function. Registering must stay cheap (import
    the zoo's library inside those functions, not at module level).

    Args:
        register: ``register(zoo)``; the first plugin to register a zoo name keeps it.
    """


@hookspec
def art_bmtad_register_trackers(register: Callable[[str, "TrackerFactory"], None]) -> None:
    """Register run trackers, the backends of ``--log`` (``train``, ``bench``, ``tune``) and of
    :func:`art_bmtad.tracking.open_tracking`.

    Call ``register(name, factory)`` once per backend. ``factory(folder, run_name)`` opens one tracked run (files,
    if any, under the run folder ``folder``) and returns an object with ``log_params(params)`` (flat
    ``dotted.key -> value``), ``log_metrics(metrics, step)``, ``flush()`` and ``close()``
    (:class:`art_bmtad.tracking.backend.Tracker`). Import the backend's library inside the factory, not at module
    level; a factory may have a ``check_available()`` attribute that raises ``ValueError`` (saying what to install)
    when the backend cannot work, which art-bmtad calls before any training starts.

    Args:
        register: ``register(name: str, factory)``; the first plugin to register a name keeps it.
    """
