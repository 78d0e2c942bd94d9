"""Build a ``cifar`` zoo model and load its published weights from the torch hub cache, offline."""
from __future__ import annotations

from pathlib import Path

from torch import nn

from art_bmtad.models.classifier_files import load_weights
from art_bmtad_cifar import architectures, catalog, weight_files


def create_model(model: str, *, pretrained: bool = False, weights: str | Path | None = None,
                 num_classes: int | None = None, input_size: tuple[int, int, int] | None = None,
                 download: bool = False) -> nn.Module:
    """Build a model of the ``cifar`` zoo (see :mod:`art_bmtad_cifar.catalog` for the names).

    Args:
        model: ``cifar10_resnet56``, ``cifar100_vgg16_bn``, ... (a bare ``resnet56`` means CIFAR-10).
        pretrained: load the published weights (also implied by ``weights``).
        weights: a weight file (by its suffix, ``.pt`` ...), else the folder holding it under its published
            name; default ``$TORCH_HOME/hub/checkpoints`` (``torch.hub.get_dir()``).
        input_size: (C, H, W) of the inputs: 3 channels; any H, W but 32x32 for the VGGs (their head
            takes the 512 features of one 1x1 map).
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
    if input_size is not None and input_size[0] != 3:
        raise ValueError(f"cifar/{model} takes 3-channel images, not input_size={tuple(input_size)}")
    if input_size is not None and arch in architectures.VGG_LAYOUTS and tuple(input_size[1:]) != (32, 32):
        raise ValueError(f"cifar/{model} takes 32x32 images, not input_size={tuple(input_size)}")
    if load and num_classes not in (None, published):
        raise ValueError(f"cifar/{model}: the published weights have {published} classes, not "
                         f"num_classes={num_classes}; "
                         "drop pretrained/weights to train a new head")
    network = architectures.build(arch, num_classes or published)
    if load:
        path = weight_files.download(model, weights) if download else weight_files.find_weights(model, weights)
        load_weights(network, path)
    return network
