"""Names and :class:`ModelCfg` of the ``torchvision`` zoo, read from torchvision's weights enums.

``<model>`` uses the model's ``DEFAULT`` weights; ``<model>.<WEIGHTS>`` names one member of its enum
(``resnet50.IMAGENET1K_V1``), like torchvision's own ``"ResNet50_Weights.IMAGENET1K_V1"``.
torchvision is imported by these functions, never when the plugin registers.
"""
from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

from art_bmtad.models.zoo import ModelCfg

if TYPE_CHECKING:
    from torchvision.models import WeightsEnum

HUB_CHECKPOINTS = "$TORCH_HOME/hub/checkpoints"


def list_models() -> list[str]:
    """torchvision's classification models (``torchvision.models.list_models(module=torchvision.models)``)."""
    import torchvision.models

    return torchvision.models.list_models(module=torchvision.models)


def resolve(name: str) -> tuple[str, "WeightsEnum"]:
    """``"resnet50"`` -> ``("resnet50", ResNet50_Weights.DEFAULT)``; ``"resnet50.IMAGENET1K_V1"`` -> that member.

    Raises:
        KeyError: unknown model (close names listed) or unknown weights (the enum's members listed).
    """
    import torchvision.models

    model, _, tag = name.partition(".")
    known = list_models()
    if model not in known:
        close = difflib.get_close_matches(model, known, n=5)
        hint = f"; close: {', '.join(close)}" if close else ""
        raise KeyError(f"torchvision has no classification model {model!r}{hint}")
    enum = torchvision.models.get_model_weights(model)
    if not tag:
        return model, enum.DEFAULT
    if tag not in enum.__members__:
        raise KeyError(f"torchvision model {model!r} has no weights {tag!r}; it has {', '.join(enum.__members__)}")
    return model, enum[tag]


def weight_file_name(weights: "WeightsEnum") -> str:
    """The published file name, e.g. ``resnet50-11ad3fa6.pth`` (the hub cache keeps the URL's last part)."""
    return weights.url.rsplit("/", 1)[-1]


def model_cfg(name: str) -> ModelCfg:
    """The :class:`ModelCfg` of one name, from its weights' metadata and transforms."""
    model, weights = resolve(name)
    transforms = weights.transforms()
    crop = transforms.crop_size[0]
    return ModelCfg(
        num_classes=len(weights.meta["categories"]),
        input_size=(3, crop, crop),
        mean=tuple(transforms.mean),
        std=tuple(transforms.std),
        dataset="imagenet",
        weights=f"{HUB_CHECKPOINTS}/{weight_file_name(weights)}",
        architecture=f"{model} ({weights.name})",
    )
