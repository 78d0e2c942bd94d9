"""The architectures of chenyaofo/pytorch-cifar-models, with the module names of its published weights.

CIFAR variants of ResNet (He et al. 2016, 3 stages of 16/32/64 channels), VGG with batch norm (one
512-wide 1x1 map after five poolings), MobileNetV2 (first two strides 1 for 32x32 inputs) and RepVGG
in its training form (3x3, 1x1 and identity branches, first strides 1). Inputs are normalised
images (see :mod:`art_bmtad_cifar.catalog`); outputs are logits.
"""
from __future__ import annotations

import torch
from torch import nn


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and an identity (or 1x1 projection) shortcut."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for 32x32 inputs: ``blocks`` basic blocks in each of three stages."""

    def __init__(self, blocks: int, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._stage(16, 16, blocks, stride=1)
        self.layer2 = self._stage(16, 32, blocks, stride=2)
        self.layer3 = self._stage(32, 64, blocks, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, num_classes)

    @staticmethod
    def _stage(in_planes: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
        rest = (BasicBlock(planes, planes) for _ in range(blocks - 1))
        return nn.Sequential(BasicBlock(in_planes, planes, stride), *rest)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


VGG_LAYOUTS: dict[str, list[int | str]] = {
    "vgg11_bn": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg13_bn": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16_bn": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19_bn": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}


class VGG(nn.Module):
    """VGG with batch norm: ``features`` (conv-BN-ReLU, ``"M"`` = 2x2 max pool) and a 512-512-classes head."""

    def __init__(self, layout: list[int | str], num_classes: int = 10) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for item in layout:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                width = int(item)
                layers += [nn.Conv2d(channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
                channels = width
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Linear(512, 512), nn.ReLU(True), nn.Dropout(),
            nn.Linear(512, 512), nn.ReLU(True), nn.Dropout(),
            nn.Linear(512, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


def _make_divisible(value: float, divisor: int = 8) -> int:
    """Round ``value`` to a multiple of ``divisor`` without going more than 10% below it (MobileNet's rule)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


class ConvBNReLU(nn.Sequential):
    """Convolution (same padding, no bias), batch norm, ReLU6."""

    def __init__(self, in_planes: int, out_planes: int, kernel_size: int = 3, stride: int = 1, groups: int = 1) -> None:
        super().__init__(
            nn.Conv2d(in_planes, out_planes, kernel_size, stride, (kernel_size - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(out_planes),
            nn.ReLU6(inplace=True),
        )


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expansion (unless ``expand_ratio`` is 1), 3x3 depthwise, linear 1x1 projection."""

    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = int(round(inp * expand_ratio))
        self.use_res_connect = stride == 1 and inp == oup
        layers: list[nn.Module] = [ConvBNReLU(inp, hidden, kernel_size=1)] if expand_ratio != 1 else []
        layers += [ConvBNReLU(hidden, hidden, stride=stride, groups=hidden),
                   nn.Conv2d(hidden, oup, 1, 1, 0, bias=False), nn.BatchNorm2d(oup)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


# (expansion t, channels c, repeats n, first stride s); strides of the stem and the second row are 1 for 32x32.
MOBILENETV2_SETTING = (
    (1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
)
MOBILENETV2_WIDTHS = {
    "mobilenetv2_x0_5": 0.5, "mobilenetv2_x0_75": 0.75, "mobilenetv2_x1_0": 1.0, "mobilenetv2_x1_4": 1.4,
}


class MobileNetV2(nn.Module):
    """MobileNetV2 for 32x32 inputs with width multiplier ``width_mult``."""

    def __init__(self, width_mult: float = 1.0, num_classes: int = 10) -> None:
        super().__init__()
        channels = _make_divisible(32 * width_mult)
        last_channel = _make_divisible(1280 * max(1.0, width_mult))
        features: list[nn.Module] = [ConvBNReLU(3, channels, stride=1)]
        for t, c, n, s in MOBILENETV2_SETTING:
            out_channels = _make_divisible(c * width_mult)
            for i in range(n):
                features.append(InvertedResidual(channels, out_channels, s if i == 0 else 1, t))
                channels = out_channels
        features.append(ConvBNReLU(channels, last_channel, kernel_size=1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(last_channel, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.adaptive_avg_pool2d(self.features(x), 1)
        return self.classifier(torch.flatten(x, 1))


def _conv_bn(in_channels: int, out_channels: int, kernel_size: int, stride: int, padding: int) -> nn.Sequential:
    branch = nn.Sequential()
    branch.add_module("conv", nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=False))
    branch.add_module("bn", nn.BatchNorm2d(out_channels))
    return branch


class RepVGGBlock(nn.Module):
    """RepVGG block in training form: ReLU(3x3 conv-BN + 1x1 conv-BN + BN identity where shapes allow)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.nonlinearity = nn.ReLU()
        self.rbr_identity = nn.BatchNorm2d(in_channels) if in_channels == out_channels and stride == 1 else None
        self.rbr_dense = _conv_bn(in_channels, out_channels, 3, stride, 1)
        self.rbr_1x1 = _conv_bn(in_channels, out_channels, 1, stride, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.rbr_dense(x) + self.rbr_1x1(x)
        if self.rbr_identity is not None:
            out = out + self.rbr_identity(x)
        return self.nonlinearity(out)


REPVGG_BLOCKS = (2, 4, 14, 1)
REPVGG_WIDTHS = {"repvgg_a0": (0.75, 0.75, 0.75, 2.5), "repvgg_a1": (1, 1, 1, 2.5), "repvgg_a2": (1.5, 1.5, 1.5, 2.75)}


class RepVGG(nn.Module):
    """RepVGG-A for 32x32 inputs: a stem block and four stages of (2, 4, 14, 1) blocks."""

    def __init__(self, width_multiplier: tuple[float, float, float, float], num_classes: int = 10) -> None:
        super().__init__()
        self.in_planes = min(64, int(64 * width_multiplier[0]))
        self.stage0 = RepVGGBlock(3, self.in_planes, stride=1)
        self.stage1 = self._stage(int(64 * width_multiplier[0]), REPVGG_BLOCKS[0], stride=1)
        self.stage2 = self._stage(int(128 * width_multiplier[1]), REPVGG_BLOCKS[1], stride=2)
        self.stage3 = self._stage(int(256 * width_multiplier[2]), REPVGG_BLOCKS[2], stride=2)
        self.stage4 = self._stage(int(512 * width_multiplier[3]), REPVGG_BLOCKS[3], stride=2)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.linear = nn.Linear(int(512 * width_multiplier[3]), num_classes)

    def _stage(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        layers = []
        for block_stride in [stride] + [1] * (blocks - 1):
            layers.append(RepVGGBlock(self.in_planes, planes, block_stride))
            self.in_planes = planes
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stage4(self.stage3(self.stage2(self.stage1(self.stage0(x)))))
        return self.linear(torch.flatten(self.gap(x), 1))


RESNET_BLOCKS = {"resnet20": 3, "resnet32": 5, "resnet44": 7, "resnet56": 9}


def build(arch: str, num_classes: int) -> nn.Module:
    """A randomly initialised ``arch`` (see :data:`art_bmtad_cifar.catalog.ARCHITECTURES`), ``num_classes`` outputs."""
    if arch in RESNET_BLOCKS:
        return CifarResNet(RESNET_BLOCKS[arch], num_classes)
    if arch in VGG_LAYOUTS:
        return VGG(VGG_LAYOUTS[arch], num_classes)
    if arch in MOBILENETV2_WIDTHS:
        return MobileNetV2(MOBILENETV2_WIDTHS[arch], num_classes)
    if arch in REPVGG_WIDTHS:
        return RepVGG(REPVGG_WIDTHS[arch], num_classes)
    raise KeyError(f"no CIFAR architecture {arch!r}")
