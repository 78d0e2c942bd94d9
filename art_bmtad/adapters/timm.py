"""timm models (or any ``nn.Module``) as ready ART ``PyTorchClassifier`` objects.

The normalisation lives inside the classifier as ART preprocessing ``(mean, std)``, so the
classifier takes raw images in [0, 1] (``clip_values=(0, 1)``) and attack budgets such as
``eps=8/255`` stay in pixel space.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np
import timm
import torch
from art.estimators.classification import PyTorchClassifier
from timm.models.resnet import ResNet
from torch import nn

from art_bmtad.datasets import Dataset, DatasetPreset, get_preset
from art_bmtad.device import art_device_type, resolve_device

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]

SPEC_ATTRIBUTE = "art_bmtad_spec"
REFUSED_MODEL_KWARGS = ("pretrained", "checkpoint_path")


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to rebuild a classifier: the checkpoint JSON holds exactly these fields.

    Attributes:
        name: timm model name, or ``None`` for a module that timm cannot rebuild.
        num_classes: Number of classes.
        input_shape: Shape of one input, (C, H, W).
        mean: Per-channel normalisation mean, in [0, 1] pixel units.
        std: Per-channel normalisation standard deviation.
        cifar_stem: Whether :func:`apply_cifar_stem` was applied.
        model_kwargs: Extra keyword arguments given to ``timm.create_model``.
    """

    name: str | None
    num_classes: int
    input_shape: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    cifar_stem: bool = False
    model_kwargs: dict[str, Any] = field(default_factory=dict)


def timm_classifier(
    model: str | nn.Module,
    *,
    num_classes: int | None = None,
    dataset: str | Dataset | DatasetPreset | None = "cifar10",
    input_size: tuple[int, int, int] | None = None,
    mean: tuple[float, ...] | None = None,
    std: tuple[float, ...] | None = None,
    cifar_stem: bool = False,
    lr: float = 0.1,
    momentum: float = 0.9,
    weight_decay: float = 5e-4,
    optimizer: OptimizerFactory | None = None,
    device: str | torch.device = "auto",
    channels_last: bool = False,
    **model_kwargs: Any,
) -> PyTorchClassifier:
    """Build an ART classifier from a timm model name (any of ``timm.list_models()``) or a module.

    Explicit ``num_classes``, ``input_size``, ``mean`` and ``std`` win over the dataset's values.
    timm models are created with ``pretrained=False`` (nothing is downloaded), ``in_chans`` set
    from the input shape and, for fixed-size models such as ViTs, ``img_size`` from it too;
    ``model_kwargs`` set to ``None`` are dropped, as ``timm.create_model`` does.

    Args:
        model: A timm model name, or an ``nn.Module`` used as is (then ``model_kwargs`` must be empty).
        num_classes: Number of classes.
        dataset: A preset name (see :data:`art_bmtad.datasets.PRESETS`), a loaded
            :class:`~art_bmtad.datasets.Dataset`, a :class:`~art_bmtad.datasets.DatasetPreset`,
            or ``None`` when all of ``num_classes``, ``input_size``, ``mean``, ``std`` are given.
        input_size: Input shape (C, H, W).
        mean: Per-channel mean of the normalisation applied inside the classifier.
        std: Per-channel standard deviation of that normalisation.
        cifar_stem: Apply :func:`apply_cifar_stem` (timm ResNet family only).
        lr: Learning rate of the default SGD optimizer.
        momentum: Momentum of the default SGD optimizer.
        weight_decay: Weight decay of the default SGD optimizer.
        optimizer: Factory called with the model's parameters, e.g.
            ``functools.partial(torch.optim.AdamW, lr=1e-3)``; replaces the default SGD.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"`` (ART uses the current CUDA device).
        channels_last: Convert the model to the channels-last memory format.
        **model_kwargs: Passed to ``timm.create_model`` (e.g. ``drop_rate=0.1``).

    Returns:
        The classifier, with loss ``CrossEntropyLoss`` and ``clip_values=(0, 1)``; its model
        carries the :class:`ModelSpec` (see :func:`model_spec`).

    Raises:
        ValueError: Unknown model or preset, missing or inconsistent sizes, refused kwargs, or a
            CIFAR stem requested for a model that is not a timm ResNet.
    """
    spec = _resolve_spec(model, dataset, num_classes, input_size, mean, std, cifar_stem, model_kwargs)
    module = create_model(spec) if isinstance(model, str) else _with_stem(model, cifar_stem)
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


def create_model(spec: ModelSpec) -> nn.Module:
    """Create the timm model a spec describes, with fresh weights.

    Args:
        spec: The model spec; ``spec.name`` must be a timm model name.

    Returns:
        The model (CIFAR stem applied when ``spec.cifar_stem``).

    Raises:
        ValueError: ``spec.name`` is not a timm model.
    """
    if spec.name is None or not timm.is_model(spec.name):
        raise ValueError(f"unknown timm model {spec.name!r}; see timm.list_models()")
    kwargs = dict(spec.model_kwargs)
    kwargs.setdefault("in_chans", spec.input_shape[0])
    pretrained_cfg = timm.models.get_pretrained_cfg(spec.name)
    if pretrained_cfg is not None and pretrained_cfg.fixed_input_size:
        kwargs.setdefault("img_size", spec.input_shape[1:])
    model = timm.create_model(spec.name, pretrained=False, num_classes=spec.num_classes, **kwargs)
    return _with_stem(model, spec.cifar_stem)


def apply_cifar_stem(model: nn.Module) -> nn.Module:
    """Give a timm ResNet-family model the CIFAR stem used for 32x32 inputs, in place.

    What changes: the first convolution becomes a freshly initialised 3x3, stride-1, padding-1
    convolution with the same input and output channels (in a deep stem, e.g. ``resnet18d``
    or ``test_resnet``, only its first convolution is replaced), and the stem's pooling stage
    (``maxpool``: the max-pool, or the strided layer replacing it) becomes ``nn.Identity``.
    The stem then keeps the input's spatial size (32x32 in, 32x32 out) instead of dividing it
    by 4; every later stage is unchanged, so the feature maps are 4x larger in each side and
    compute grows accordingly. Pretrained weights of the replaced convolution no longer apply.

    Args:
        model: A ``timm.models.resnet.ResNet`` (resnet*, resnext*, wide_resnet*, seresnet*, ...).

    Returns:
        The same model object.

    Raises:
        ValueError: ``model`` is not a timm ResNet-family model.
    """
    if not isinstance(model, ResNet):
        raise ValueError(
            f"cifar_stem applies to timm ResNet-family models (timm.models.resnet.ResNet: resnet*, "
            f"resnext*, wide_resnet*, ...), not to {type(model).__name__}"
        )
    deep = isinstance(model.conv1, nn.Sequential)
    first = model.conv1[0] if deep else model.conv1
    stem_conv = nn.Conv2d(first.in_channels, first.out_channels, 3, stride=1, padding=1, bias=first.bias is not None)
    if deep:
        model.conv1[0] = stem_conv
    else:
        model.conv1 = stem_conv
    model.maxpool = nn.Identity()
    return model


def model_spec(classifier_or_module: PyTorchClassifier | nn.Module) -> ModelSpec | None:
    """The :class:`ModelSpec` that :func:`timm_classifier` attached to a model, if any.

    Args:
        classifier_or_module: An ART classifier or its model.

    Returns:
        The spec, or ``None`` for a model not built by :func:`timm_classifier`.
    """
    module = classifier_or_module.model if isinstance(classifier_or_module, PyTorchClassifier) else classifier_or_module
    return getattr(module, SPEC_ATTRIBUTE, None)


def _resolve_spec(model, dataset, num_classes, input_size, mean, std, cifar_stem, model_kwargs) -> ModelSpec:
    if isinstance(model, nn.Module) and model_kwargs:
        raise ValueError(f"model_kwargs {sorted(model_kwargs)} only apply to timm model names, not to a module")
    refused = [key for key in REFUSED_MODEL_KWARGS if model_kwargs.get(key)]
    if refused:
        raise ValueError(f"{refused} would load weights outside art-bmtad's safe loader; use load_weights()")
    preset = _preset_of(dataset)
    values = {
        "num_classes": num_classes if num_classes is not None else getattr(preset, "num_classes", None),
        "input_shape": input_size if input_size is not None else getattr(preset, "input_shape", None),
        "mean": mean if mean is not None else getattr(preset, "mean", None),
        "std": std if std is not None else getattr(preset, "std", None),
    }
    unset = [key for key, value in values.items() if value is None]
    if unset:
        raise ValueError(f"{unset} not given and no dataset preset to take them from")
    spec = ModelSpec(
        name=model if isinstance(model, str) else None,
        num_classes=int(values["num_classes"]),
        input_shape=tuple(int(v) for v in values["input_shape"]),
        mean=tuple(float(v) for v in values["mean"]),
        std=tuple(float(v) for v in values["std"]),
        cifar_stem=cifar_stem,
        model_kwargs={key: value for key, value in model_kwargs.items() if value is not None},
    )
    _check_normalisation(spec)
    return spec


def _preset_of(dataset: str | Dataset | DatasetPreset | None) -> DatasetPreset | None:
    if isinstance(dataset, str):
        return get_preset(dataset)
    if isinstance(dataset, Dataset):
        return DatasetPreset(dataset.nb_classes, dataset.input_shape, dataset.mean, dataset.std)
    return dataset


def _check_normalisation(spec: ModelSpec) -> None:
    if len(spec.input_shape) != 3:
        raise ValueError(f"input_size must be (C, H, W), got {spec.input_shape}")
    channels = spec.input_shape[0]
    if len(spec.mean) != channels or len(spec.std) != channels:
        raise ValueError(f"mean {spec.mean} and std {spec.std} need one value per channel ({channels})")
    if min(spec.std) <= 0:
        raise ValueError(f"std must be positive, got {spec.std}")


def _with_stem(model: nn.Module, cifar_stem: bool) -> nn.Module:
    return apply_cifar_stem(model) if cifar_stem else model


def _broadcastable(mean: tuple[float, ...], std: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """ART preprocessing ``(mean, std)`` shaped (C, 1, 1) to broadcast over CHW images."""
    return (
        np.asarray(mean, dtype=np.float32).reshape(-1, 1, 1),
        np.asarray(std, dtype=np.float32).reshape(-1, 1, 1),
    )
