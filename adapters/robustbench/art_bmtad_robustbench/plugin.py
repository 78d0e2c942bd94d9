"""Registers the ``robustbench`` zoo with art-bmtad (entry point ``robustbench`` in the ``art_bmtad`` group).

Registering imports no torch: architectures are imported when a model is created.
"""
from __future__ import annotations

from typing import Any

from art_bmtad.hookspecs import hookimpl
from art_bmtad.models.zoo import ModelZoo
from art_bmtad_robustbench import catalog, weight_files


def create(model: str, **kwargs: Any):
    """:func:`art_bmtad_robustbench.zoo.create_model`, imported on first use."""
    from art_bmtad_robustbench.zoo import create_model

    return create_model(model, **kwargs)


ZOO = ModelZoo(
    name="robustbench",
    list_models=catalog.list_models,
    model_cfg=catalog.model_cfg,
    create=create,
    find_weights=weight_files.find_weights,
    description="RobustBench CIFAR-10 (Linf, L2) and CIFAR-100 (Linf) models by their RobustBench names "
                "(<model_dir>/<dataset>/<threat_model>/<name>.pt)",
)


@hookimpl
def art_bmtad_register_zoos(register) -> None:
    """Register the ``robustbench`` zoo."""
    register(ZOO)
