"""Build a torchvision classification model and load its published weights from the torch hub cache, offline.

torchvision's own builders fetch weights through ``torch.hub.load_state_dict_from_url``, which unpickles
(``weights_only=False``); here the model is built with ``weights=None`` and the arguments torchvision's
builder sets for those weights, and the file is read by :func:`art_bmtad.models.classifier_files.load_state_dict`.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch
import torchvision.models
from torch import nn

from art_bmtad.models.classifier_files import load_state_dict
from art_bmtad.utils.state_dicts import check_compatible
from art_bmtad_torchvision import catalog, weight_files

AUXILIARY_HEADS = {"googlenet": ("aux1", "aux2"), "inception_v3": ("AuxLogits",)}
"""Models whose published weights include auxiliary heads; dropped after loading, as torchvision does."""
OLD_DENSENET_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$"
)
"""DenseNet files keep the old ``denselayerN.norm.1`` names; torchvision renames them to ``norm1`` on loading."""
SIZE_DEPENDENT = ("vit_", "maxvit_")
"""Architectures whose parameters depend on the image size (position embeddings, attention windows)."""
BATCH_COUNTER = "num_batches_tracked"
"""Files saved before PyTorch 0.4.1 (resnet18-f37072fd.pth, the DenseNets ...) lack this BatchNorm buffer."""


def create_model(model: str, *, pretrained: bool = False, weights: str | Path | None = None,
                 num_classes: int | None = None, input_size: tuple[int, int, int] | None = None,
                 download: bool = False) -> nn.Module:
    """Build a torchvision classification model (see :mod:`art_bmtad_torchvision.catalog` for the names).

    Args:
        model: ``resnet50`` (its ``DEFAULT`` weights) or ``resnet50.IMAGENET1K_V1``.
        pretrained: load the published weights (also implied by ``weights``).
        weights: a weight file (by its suffix, ``.pth`` ...), else the folder holding it under its published
            name; default ``$TORCH_HOME/hub/checkpoints`` (``torch.hub.get_dir()``).
        num_classes: output classes; must equal the weights' when they are loaded.
        input_size: (C, H, W) of the inputs: 3 channels; ViT and MaxViT are built for H x W (with weights:
            only their published size), the others pool globally.
        download: fetch a missing file from the weights' URL first (its hash prefix checked).

    Returns:
        The module, taking inputs normalised with the weights' mean and std.

    Raises:
        KeyError: unknown model or weights name.
        ValueError: ``num_classes`` differs from the published one, or the file does not match or needs pickle.
        MissingWeightsError: the weight file is absent and ``download`` is off.
    """
    name, enum_member = catalog.resolve(model)
    published = len(enum_member.meta["categories"])
    load = pretrained or weights is not None
    if load and num_classes not in (None, published):
        raise ValueError(f"torchvision/{model}: the published weights have {published} classes, not "
                         f"num_classes={num_classes}; drop pretrained/weights to train a new head")
    size = _image_size(model, enum_member, input_size, load)
    options = _builder_kwargs(name, size, num_classes or published, load)
    network = torchvision.models.get_model(name, weights=None, **options)
    if load:
        path = weight_files.download(model, weights) if download else weight_files.find_weights(model, weights)
        state = _with_batch_counters(_renamed(load_state_dict(path)), network.state_dict())
        check_compatible(state, network.state_dict(), path)
        network.load_state_dict(state, strict=True)
    for head in AUXILIARY_HEADS.get(name, ()):
        setattr(network, head, None)
    if name in AUXILIARY_HEADS:
        network.aux_logits = False
    return network


def _image_size(model: str, enum_member, input_size: tuple[int, int, int] | None, load: bool) -> tuple[int, int]:
    """(H, W) to build for: the weights' ``min_size`` unless ``input_size`` says otherwise (and no weights are loaded
    into a model whose shape depends on it)."""
    published = tuple(enum_member.meta["min_size"])
    if input_size is None:
        return published
    if input_size[0] != 3:
        raise ValueError(f"torchvision/{model} takes 3-channel images, not input_size={tuple(input_size)}")
    size = tuple(int(v) for v in input_size[1:])
    if load and model.startswith(SIZE_DEPENDENT) and size != published:
        raise ValueError(f"torchvision/{model}: its published weights are for {published[0]}x{published[1]} images, "
                         f"not input_size={tuple(input_size)}")
    return size


def _builder_kwargs(name: str, size: tuple[int, int], num_classes: int, load: bool) -> dict[str, Any]:
    """What torchvision's builder sets when it is given these weights (input size, Inception's input transform)."""
    kwargs: dict[str, Any] = {"num_classes": num_classes}
    if name in AUXILIARY_HEADS:
        kwargs.update(transform_input=True, aux_logits=load, init_weights=not load)
    if name.startswith("vit_"):
        kwargs["image_size"] = size[0]
    if name.startswith("maxvit_"):
        kwargs["input_size"] = size
    return kwargs


def _renamed(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {OLD_DENSENET_KEY.sub(r"\1\2", key): value for key, value in state.items()}


def _with_batch_counters(state: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Add the BatchNorm counters a pre-0.4.1 file lacks, as zeros (what BatchNorm itself does for such files)."""
    missing = {key: torch.zeros_like(value) for key, value in expected.items()
               if key.endswith(BATCH_COUNTER) and key not in state}
    return {**state, **missing}
