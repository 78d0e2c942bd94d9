"""Build a ``cifar`` zoo model and load its published weights from the torch hub cache, offline."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from art_bmtad.checkpoints import load_weights
from art_bmtad.models.zoo import MissingWeightsError
from art_bmtad_cifar import architectures, catalog


def create_model(model: str, *, pretrained: bool = False, weights: str | Path | None = None,
                 num_classes: int | None = None, download: bool = False) -> nn.Module:
    """Build a model of the ``cifar`` zoo (see :mod:`art_bmtad_cifar.catalog` for the names).

    Args:
        model: ``cifar10_resnet56``, ``cifar100_vgg16_bn``, ... (a bare ``resnet56`` means CIFAR-10).
        pretrained: load the published weights (also implied by ``weights``).
        weights: the weight file, or the folder holding it under its published name; default
            ``$TORCH_HOME/hub/checkpoints`` (``torch.hub.get_dir()``).
        num_classes: output classes; must equal the published model's when weights are loaded.
        download: fetch a missing file from the repository's release into that folder first.

    Returns:
        The module (normalised 32x32 inputs, logits), weights loaded strictly without unpickling.

    Raises:
        KeyError: unknown name.
        ValueError: ``num_classes`` differs from the published weights', or the file does not match.
        MissingWeightsError: the weight file is absent and ``download`` is off.
    """
    dataset, arch = catalog.parse_name(model)
    published = catalog.NUM_CLASSES[dataset]
    load = pretrained or weights is not None
    if load and num_classes not in (None, published):
        raise ValueError(f"cifar/{model}: the published weights have {published} classes, not num_classes={num_classes}; "
                         "drop pretrained/weights to train a new head")
    network = architectures.build(arch, num_classes or published)
    if load:
        load_weights(network, _weights_file(model, dataset, arch, weights, download))
    return network


def _weights_file(model: str, dataset: str, arch: str, weights: str | Path | None, download: bool) -> Path:
    file_name = catalog.weight_file_name(dataset, arch)
    given = Path(weights).expanduser() if weights is not None else None
    if given is not None and not given.is_dir():
        path = given
    else:
        path = (given or Path(torch.hub.get_dir()) / "checkpoints") / file_name
    if path.is_file():
        return path
    url = catalog.weight_url(dataset, arch)
    if download:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(url, str(path))
        return path
    raise MissingWeightsError(
        f"cifar/{model}: weight file not found: {path}. Put {file_name} (published at {url}) in the folder "
        f"{path.parent} (or set TORCH_HOME, or pass weights=FILE), or pass download=True to fetch it"
    )
