"""The ``art_bmtad`` entry point of this package: registers the zoo ``timm``."""
from __future__ import annotations

from typing import Callable

from art_bmtad.hookspecs import hookimpl
from art_bmtad.models.zoo import ModelZoo
from art_bmtad_timm import zoo

TIMM_ZOO = ModelZoo(
    name="timm",
    list_models=zoo.list_models,
    model_cfg=zoo.model_cfg,
    create=zoo.create,
    description="timm (pytorch-image-models): every timm.list_models() architecture; pretrained weights offline "
                "from a local file or the Hugging Face cache",
    find_weights=zoo.find_weights,
)


@hookimpl
def art_bmtad_register_zoos(register: Callable[[ModelZoo], None]) -> None:
    """Register :data:`TIMM_ZOO`."""
    register(TIMM_ZOO)
