"""The one front door from a model name (any registry name) or an ``nn.Module`` to a ready ART classifier.

The normalisation lives inside the classifier as ART preprocessing ``(mean, std)``, so the classifier takes
raw images in [0, 1] (``clip_values=(0, 1)``) and attack budgets such as ``eps=8/255`` stay in pixel space.
Where the numbers come from, first match wins:

* ``num_classes``, ``input_size``: the explicit argument, the dataset, the zoo's :class:`ModelCfg`.
* ``mean``, ``std``: the explicit argument; for published weights (``pretrained=True``, or
  ``zoo_normalisation=True`` for weights loaded afterwards) the zoo's :class:`ModelCfg` (the weights were trained
  on inputs normalised that way, so any other normalisation silently breaks them); the dataset; the zoo's
  :class:`ModelCfg`. Only values with one number per input channel are taken from the dataset or the zoo.

The model carries a :class:`~art_bmtad.models.spec.ModelSpec` (qualified registry name and arguments), which
:func:`art_bmtad.models.classifier_files.save_classifier` writes next to the weights.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch
from art.estimators.classification import PyTorchClassifier
from torch import nn

from art_bmtad import registry
from art_bmtad.data.datasets import Dataset, DatasetPreset, get_preset
from art_bmtad.models.spec import ModelSpec
from art_bmtad.models.zoo import ModelCfg
from art_bmtad.utils.device import art_device_type, resolve_device

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]

SPEC_ATTRIBUTE = "art_bmtad_spec"


def create_classifier(
    model: str | nn.Module,
    *,
    dataset: str | Dataset | DatasetPreset | None = "cifar10",
    num_classes: int | None = None,
    input_size: tuple[int, int, int] | None = None,
    mean: tuple[float, ...] | None = None,
    std: tuple[float, ...] | None = None,
    pretrained: bool = False,
    weights: str | Path | None = None,
    download: bool = False,
    lr: float = 0.1,
    momentum: float = 0.9,
    weight_decay: float = 5e-4,
    optimizer: OptimizerFactory | None = None,
    device: str | torch.device = "auto",
    channels_last: bool = False,
    zoo_normalisation: bool | None = None,
    **model_kwargs: Any,
) -> PyTorchClassifier:
    """Build an ART classifier from a registry name (``"timm/resnet18"``, ``"resnet18"``,
    ``"robustbench/Zhang2019Theoretically"``, ``"cifar/resnet56"``, a single registered model) or a module.

    Args:
        model: a name that :func:`art_bmtad.registry.qualified_name` resolves, or an ``nn.Module`` used as is.
        dataset: a preset name (see :data:`art_bmtad.data.catalog.KNOWN_DATASETS`), a loaded
            :class:`~art_bmtad.data.datasets.Dataset`, a :class:`~art_bmtad.data.datasets.DatasetPreset`, or ``None``
            (then the explicit values and the zoo's :class:`ModelCfg` must cover everything).
        num_classes: number of classes.
        input_size: input shape (C, H, W); a zoo model gets it as ``input_size`` when it differs from the zoo's.
        mean: per-channel mean of the normalisation applied inside the classifier.
        std: per-channel standard deviation of that normalisation.
        pretrained: load the zoo's published weights from its local layout (never downloaded here).
        weights: the weight file or the zoo's root folder (default: the zoo's own folder).
        download: with ``pretrained``, let the zoo fetch a missing weight file through its own download path
            (needs a network; not recorded in the spec).
        lr: learning rate of the default SGD optimizer.
        momentum: momentum of the default SGD optimizer.
        weight_decay: weight decay of the default SGD optimizer.
        optimizer: factory called with the model's parameters, e.g. ``functools.partial(torch.optim.AdamW,
            lr=1e-3)``; replaces the default SGD.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"`` (ART uses the current CUDA device).
        channels_last: convert the model to the channels-last memory format.
        zoo_normalisation: prefer the zoo's normalisation to the dataset's (default: ``pretrained``); for
            published weights loaded after building, as :func:`art_bmtad.models.classifier_files.load_classifier` does.
        **model_kwargs: the zoo's or the single model's own options (e.g. ``drop_rate=0.1``, ``cifar_stem=True``
            for timm); those set to ``None`` are dropped. Recorded in the model's spec.

    Returns:
        The classifier, with loss ``CrossEntropyLoss`` and ``clip_values=(0, 1)``; its model carries the
        :class:`ModelSpec` (see :func:`model_spec`).

    Raises:
        UnknownNameError: unknown model name (close matches listed).
        MissingWeightsError: ``pretrained=True`` and the weights are not where the zoo keeps them.
        ValueError: unknown preset, missing or inconsistent sizes, options for a module, or published weights
            whose classes differ from the dataset's.
    """
    model_kwargs = {key: value for key, value in model_kwargs.items() if value is not None}
    if download and not pretrained:
        raise ValueError("download=True fetches published weights: it needs pretrained=True")
    if isinstance(model, nn.Module):
        if model_kwargs or pretrained or weights is not None:
            given = sorted(model_kwargs) + ["pretrained"] * pretrained + ["weights"] * (weights is not None)
            raise ValueError(f"{given} apply to registry names, not to a module")
        name, cfg = None, ModelCfg()
    else:
        name = registry.qualified_name(model)
        cfg = registry.model_cfg(name)
    zoo_first = pretrained if zoo_normalisation is None else zoo_normalisation
    spec = resolve_spec(name, cfg, _preset_of(dataset), num_classes, input_size, mean, std, pretrained, model_kwargs,
                        zoo_first=zoo_first)
    module = model if name is None else _build(spec, cfg, pretrained, weights, download)
    if channels_last:
        module = module.to(memory_format=torch.channels_last)
    setattr(module, SPEC_ATTRIBUTE, spec)
    if optimizer is None:
        optimizer = functools.partial(torch.optim.SGD, lr=lr, momentum=momentum, weight_decay=weight_decay)
    return PyTorchClassifier(
        model=module,
        loss=nn.CrossEntropyLoss(),
        input_shape=spec.input_shape,
        nb_classes=spec.num_classes,
        optimizer=optimizer(module.parameters()),
        clip_values=(0.0, 1.0),
        preprocessing=_broadcastable(spec.mean, spec.std),
        device_type=art_device_type(resolve_device(device)),
    )


def model_spec(classifier_or_module: PyTorchClassifier | nn.Module) -> ModelSpec | None:
    """The :class:`ModelSpec` that :func:`create_classifier` attached to a model, if any.

    Args:
        classifier_or_module: an ART classifier or its model.

    Returns:
        The spec, or ``None`` for a model not built by :func:`create_classifier`.
    """
    module = classifier_or_module.model if isinstance(classifier_or_module, PyTorchClassifier) else classifier_or_module
    return getattr(module, SPEC_ATTRIBUTE, None)


def resolve_spec(
    name: str | None,
    cfg: ModelCfg,
    preset: DatasetPreset | None,
    num_classes: int | None,
    input_size: tuple[int, int, int] | None,
    mean: tuple[float, ...] | None,
    std: tuple[float, ...] | None,
    pretrained: bool,
    model_kwargs: dict[str, Any],
    *,
    zoo_first: bool = False,
) -> ModelSpec:
    """The spec of a classifier: explicit values, then the dataset's or the zoo's (see the module docstring)."""
    if pretrained and num_classes is None and preset is not None and cfg.num_classes not in (None, preset.num_classes):
        raise ValueError(
            f"{name}: its published weights have {cfg.num_classes} classes and the dataset {preset.num_classes}; "
            "use a model published for this dataset, or pass num_classes to replace its head where the zoo allows"
        )
    values = {
        "num_classes": _first(num_classes, getattr(preset, "num_classes", None), cfg.num_classes),
        "input_shape": _first(input_size, getattr(preset, "input_shape", None), cfg.input_size),
    }
    channels = values["input_shape"][0] if values["input_shape"] else None
    sources = [cfg, preset] if zoo_first else [preset, cfg]
    fitting = [source for source in sources if source is not None and source.mean is not None
               and source.std is not None and len(source.mean) == len(source.std) == channels]
    values["mean"] = _first(mean, *(source.mean for source in fitting))
    values["std"] = _first(std, *(source.std for source in fitting))
    unset = [key for key, value in values.items() if value is None]
    if unset:
        fitting_note = f" (for {channels} input channels)" if channels and "mean" in unset else ""
        raise ValueError(f"{unset} not given, and neither the dataset nor the model's zoo says them{fitting_note}")
    if len(values["input_shape"]) != 3:
        raise ValueError(f"input_size must be (C, H, W), got {values['input_shape']}")
    return ModelSpec(
        name=name,
        num_classes=int(values["num_classes"]),
        input_shape=tuple(int(v) for v in values["input_shape"]),
        mean=tuple(float(v) for v in values["mean"]),
        std=tuple(float(v) for v in values["std"]),
        model_kwargs=dict(model_kwargs),
    )


def _build(spec: ModelSpec, cfg: ModelCfg, pretrained: bool, weights: str | Path | None, download: bool) -> nn.Module:
    """The module of a registry name: a zoo's ``create`` (with classes, input size and weights) or a single
    model's factory (with ``model_kwargs`` only)."""
    options = dict(spec.model_kwargs)
    if not registry.is_single_model(spec.name):
        options.update(num_classes=spec.num_classes, pretrained=pretrained or None, weights=weights,
                       download=download or None)
        if cfg.input_size is None or tuple(cfg.input_size) != spec.input_shape:
            options["input_size"] = spec.input_shape
    elif pretrained or weights is not None:
        raise ValueError(f"{spec.name!r} is a single registered model: it has no pretrained weights to load")
    try:
        module = registry.create_model(spec.name, **options)
    except TypeError as err:  # an option the zoo or factory does not take: a user mistake, not a crash
        raise ValueError(f"{spec.name}: {err}") from err
    if not isinstance(module, nn.Module):
        raise ValueError(f"{spec.name!r} builds a {type(module).__name__}, not an nn.Module; use "
                         "art_bmtad.registry.create_model for it")
    return module


def _first(*values: Any) -> Any:
    return next((value for value in values if value is not None), None)


def _preset_of(dataset: str | Dataset | DatasetPreset | None) -> DatasetPreset | None:
    if isinstance(dataset, str):
        return get_preset(dataset)
    if isinstance(dataset, Dataset):
        return DatasetPreset(dataset.nb_classes, dataset.input_shape, dataset.mean, dataset.std)
    return dataset


def _broadcastable(mean: tuple[float, ...], std: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """ART preprocessing ``(mean, std)`` shaped (C, 1, 1) to broadcast over CHW images."""
    return (
        np.asarray(mean, dtype=np.float32).reshape(-1, 1, 1),
        np.asarray(std, dtype=np.float32).reshape(-1, 1, 1),
    )
