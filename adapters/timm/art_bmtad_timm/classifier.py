"""``timm_classifier``: the front door for timm names, kept for users who know it from earlier art-bmtad versions."""
from __future__ import annotations

from typing import Any

from art.estimators.classification import PyTorchClassifier
from torch import nn

from art_bmtad.models.classifier import create_classifier


def timm_classifier(model: str | nn.Module, *, cifar_stem: bool = False, **kwargs: Any) -> PyTorchClassifier:
    """:func:`art_bmtad.models.classifier.create_classifier` for a timm model name (``"resnet18"`` or
    ``"timm/resnet18"``) or a module, with ``cifar_stem`` as an explicit option.

    Args:
        model: a timm model name, or an ``nn.Module`` (given the CIFAR stem in place when ``cifar_stem``).
        cifar_stem: apply :func:`art_bmtad_timm.stem.apply_cifar_stem`.
        **kwargs: options of ``create_classifier`` (``dataset``, ``num_classes``, ``lr``, ``device``, ...) and
            ``timm.create_model`` options (e.g. ``drop_rate``).

    Returns:
        The classifier; its spec names ``timm/<model>`` and records ``cifar_stem`` among the model options.
    """
    if isinstance(model, nn.Module):
        if cifar_stem:
            from art_bmtad_timm.stem import apply_cifar_stem

            apply_cifar_stem(model)
        return create_classifier(model, **kwargs)
    name = model if model.startswith("timm/") else f"timm/{model}"
    return create_classifier(name, cifar_stem=cifar_stem or None, **kwargs)
