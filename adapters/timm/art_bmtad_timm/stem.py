"""The CIFAR stem for timm's ResNet family (3x3 stride-1 first convolution, no max-pool)."""
from __future__ import annotations

from timm.models.resnet import ResNet
from torch import nn


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
