"""Registers the ``cifar`` zoo with art-bmtad (entry point ``cifar`` in the ``art_bmtad`` group).

Registering imports no torch: architectures are imported when a model is created.
"""
from __future__ import annotations

from typing import Any

from art_bmtad.hookspecs import hookimpl
from art_bmtad.models.zoo import ModelZoo
from art_bmtad_cifar import catalog, weight_files


def create(model: str, **kwargs: Any):
    """:func:`art_bmtad_cifar.zoo.create_model`, imported on first use."""
    from art_bmtad_cifar.zoo import create_model

    return create_model(model, **kwargs)


ZOO = ModelZoo(
    name="cifar",
    list_models=catalog.list_models,
    model_cfg=catalog.model_cfg,
    create=create,
    find_weights=weight_files.find_weights,
    description="CIFAR-10/100 ResNet-20..56, VGG-BN, MobileNetV2, RepVGG "
                "(chenyaofo/pytorch-cifar-models, torch hub cache)",
)


@hookimpl
def art_bmtad_register_zoos(register) -> None:
    """Register the ``cifar`` zoo."""
    register(ZOO)
