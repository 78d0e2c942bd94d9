"""Registers the ``torchvision`` zoo with art-bmtad (entry point ``torchvision`` in the ``art_bmtad`` group).

Registering imports neither torch nor torchvision: they are imported when the zoo is listed or a model created.
"""
from __future__ import annotations

from typing import Any

from art_bmtad.hookspecs import hookimpl
from art_bmtad.models.zoo import ModelZoo
from art_bmtad_torchvision import catalog, weight_files


def create(model: str, **kwargs: Any):
    """:func:`art_bmtad_torchvision.zoo.create_model`, imported on first use."""
    from art_bmtad_torchvision.zoo import create_model

    return create_model(model, **kwargs)


ZOO = ModelZoo(
    name="torchvision",
    list_models=catalog.list_models,
    model_cfg=catalog.model_cfg,
    create=create,
    find_weights=weight_files.find_weights,
    description="torchvision classification models with the weights of their enums (torch hub cache)",
)


@hookimpl
def art_bmtad_register_zoos(register) -> None:
    """Register the ``torchvision`` zoo."""
    register(ZOO)
