"""The CIFAR architectures behind the RobustBench models this zoo carries, with the key names of their files.

* :class:`WideResNet`: the TRADES / RobustBench WideResNet (pre-activation blocks, ``block1..3``,
  ``convShortcut``); RobustBench builds several with a ``sub_block1`` that ``forward`` never uses:
  its entries in the published files are dropped on loading (see :mod:`art_bmtad_robustbench.zoo`).
* :class:`DMWideResNet`: DeepMind's WideResNet (Gowal et al. 2020, Rebuffi et al. 2021): ``init_conv``,
  ``layer.<group>.block.<i>``, explicit "SAME" padding, Swish (SiLU) activations.
* :class:`ResNet`: the CIFAR ResNet-18/50 of kuangliu/pytorch-cifar (``layerN``, ``shortcut``, ``linear``).
* :class:`PreActResNet`: the pre-activation ResNet-18 of Wong et al. 2020 / Rice et al. 2020.

Every module takes *normalised* inputs: the per-model normalisation that RobustBench keeps in ``mu`` /
``sigma`` buffers or in the forward pass is the model's :class:`~art_bmtad.models.zoo.ModelCfg`, applied
by art-bmtad inside the ART classifier.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class WideBasicBlock(nn.Module):
    """Pre-activation WRN block; when the width changes, the activation feeds the convolution and the 1x1 shortcut."""

    def __init__(self, in_planes: int, out_planes: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_planes, out_planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_planes)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_planes, out_planes, 3, 1, 1, bias=False)
        self.equal_in_out = in_planes == out_planes
        self.convShortcut = None if self.equal_in_out else nn.Conv2d(in_planes, out_planes, 1, stride, 0, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        activated = self.relu1(self.bn1(x))
        out = self.conv2(self.relu2(self.bn2(self.conv1(activated))))
        return out + (x if self.equal_in_out else self.convShortcut(activated))


class NetworkBlock(nn.Module):
    """``blocks`` WRN blocks as ``layer``; the first one changes the width and the stride."""

    def __init__(self, blocks: int, in_planes: int, out_planes: int, stride: int) -> None:
        super().__init__()
        self.layer = nn.Sequential(*(
            WideBasicBlock(in_planes if i == 0 else out_planes, out_planes, stride if i == 0 else 1)
            for i in range(blocks)
        ))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


class WideResNet(nn.Module):
    """WRN-``depth``-``widen_factor`` for 32x32 inputs (Zagoruyko & Komodakis 2016, TRADES' key names)."""

    def __init__(self, depth: int = 34, widen_factor: int = 10, num_classes: int = 10) -> None:
        super().__init__()
        if (depth - 4) % 6:
            raise ValueError(f"WideResNet depth must be 6n+4, got {depth}")
        blocks = (depth - 4) // 6
        widths = [16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
        self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        self.block1 = NetworkBlock(blocks, widths[0], widths[1], 1)
        self.block2 = NetworkBlock(blocks, widths[1], widths[2], 2)
        self.block3 = NetworkBlock(blocks, widths[2], widths[3], 2)
        self.bn1 = nn.BatchNorm2d(widths[3])
        self.relu = nn.ReLU(inplace=True)
        self.fc = nn.Linear(widths[3], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block3(self.block2(self.block1(self.conv1(x))))
        out = self.relu(self.bn1(out))
        return self.fc(F.adaptive_avg_pool2d(out, 1).flatten(1))


class DMBlock(nn.Module):
    """DeepMind's pre-activation block: "SAME" padding done by hand (asymmetric for stride 2), Swish activations."""

    def __init__(self, in_planes: int, out_planes: int, stride: int) -> None:
        super().__init__()
        self.batchnorm_0 = nn.BatchNorm2d(in_planes)
        self.relu_0 = nn.SiLU()
        self.conv_0 = nn.Conv2d(in_planes, out_planes, 3, stride, 0, bias=False)
        self.batchnorm_1 = nn.BatchNorm2d(out_planes)
        self.relu_1 = nn.SiLU()
        self.conv_1 = nn.Conv2d(out_planes, out_planes, 3, 1, 1, bias=False)
        self.shortcut = None if in_planes == out_planes else nn.Conv2d(in_planes, out_planes, 1, stride, 0, bias=False)
        self.same_padding = (1, 1, 1, 1) if stride == 1 else (0, 1, 0, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        activated = self.relu_0(self.batchnorm_0(x))
        out = self.conv_0(F.pad(activated, self.same_padding))
        out = self.conv_1(self.relu_1(self.batchnorm_1(out)))
        return out + (x if self.shortcut is None else self.shortcut(activated))


class DMBlockGroup(nn.Module):
    """``blocks`` :class:`DMBlock` as ``block``; the first one changes the width and the stride."""

    def __init__(self, blocks: int, in_planes: int, out_planes: int, stride: int) -> None:
        super().__init__()
        self.block = nn.Sequential(*(
            DMBlock(in_planes if i == 0 else out_planes, out_planes, stride if i == 0 else 1) for i in range(blocks)
        ))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class DMWideResNet(nn.Module):
    """DeepMind's WRN-``depth``-``width`` with Swish activations (the Gowal 2020 / Rebuffi 2021 RobustBench models)."""

    def __init__(self, depth: int = 28, width: int = 10, num_classes: int = 10) -> None:
        super().__init__()
        if (depth - 4) % 6:
            raise ValueError(f"WideResNet depth must be 6n+4, got {depth}")
        blocks = (depth - 4) // 6
        widths = [16, 16 * width, 32 * width, 64 * width]
        self.init_conv = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        self.layer = nn.Sequential(
            DMBlockGroup(blocks, widths[0], widths[1], 1),
            DMBlockGroup(blocks, widths[1], widths[2], 2),
            DMBlockGroup(blocks, widths[2], widths[3], 2),
        )
        self.batchnorm = nn.BatchNorm2d(widths[3])
        self.relu = nn.SiLU()
        self.logits = nn.Linear(widths[3], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.batchnorm(self.layer(self.init_conv(x))))
        return self.logits(F.adaptive_avg_pool2d(out, 1).flatten(1))


class BasicBlock(nn.Module):
    """Post-activation basic block (two 3x3 convolutions) with a 1x1 conv-BN shortcut where shapes change."""

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = _projection(in_planes, planes * self.expansion, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(out + self.shortcut(x))


class Bottleneck(nn.Module):
    """Post-activation bottleneck block (1x1, 3x3, 1x1 x4) with a 1x1 conv-BN shortcut where shapes change."""

    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.shortcut = _projection(in_planes, planes * self.expansion, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        return F.relu(self.bn3(self.conv3(out)) + self.shortcut(x))


def _projection(in_planes: int, out_planes: int, stride: int) -> nn.Sequential:
    """Empty (identity) when shapes agree, else a 1x1 convolution and batch norm."""
    if stride == 1 and in_planes == out_planes:
        return nn.Sequential()
    return nn.Sequential(nn.Conv2d(in_planes, out_planes, 1, stride, bias=False), nn.BatchNorm2d(out_planes))


class ResNet(nn.Module):
    """CIFAR ResNet (3x3 stem, no max pool): four stages of 64..512 channels, global average pool, ``linear``."""

    def __init__(self, block: type[BasicBlock] | type[Bottleneck], blocks: tuple[int, int, int, int],
                 num_classes: int = 10) -> None:
        super().__init__()
        self.in_planes = 64
        self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.layer1 = self._stage(block, 64, blocks[0], 1)
        self.layer2 = self._stage(block, 128, blocks[1], 2)
        self.layer3 = self._stage(block, 256, blocks[2], 2)
        self.layer4 = self._stage(block, 512, blocks[3], 2)
        self.linear = nn.Linear(512 * block.expansion, num_classes)

    def _stage(self, block, planes: int, blocks: int, stride: int) -> nn.Sequential:
        layers = []
        for block_stride in [stride] + [1] * (blocks - 1):
            layers.append(block(self.in_planes, planes, block_stride))
            self.in_planes = planes * block.expansion
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        return self.linear(F.adaptive_avg_pool2d(out, 1).flatten(1))


class PreActBlock(nn.Module):
    """Pre-activation basic block; ``shortcut_from_activation`` feeds the 1x1 shortcut BN-ReLU(x) instead of x."""

    def __init__(self, in_planes: int, planes: int, stride: int, shortcut_from_activation: bool) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.shortcut_from_activation = shortcut_from_activation
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, bias=False))
        else:
            self.shortcut = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        activated = F.relu(self.bn1(x))
        if self.shortcut is None:
            shortcut = x
        else:
            shortcut = self.shortcut(activated if self.shortcut_from_activation else x)
        return self.conv2(F.relu(self.bn2(self.conv1(activated)))) + shortcut


class PreActResNet(nn.Module):
    """Pre-activation ResNet-18 for 32x32 inputs; ``bn_before_fc`` adds a final BN-ReLU (``bn``)."""

    def __init__(self, num_classes: int = 10, *, shortcut_from_activation: bool = False,
                 bn_before_fc: bool = False) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        stages, in_planes = [], 64
        for planes, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            stages.append(nn.Sequential(PreActBlock(in_planes, planes, stride, shortcut_from_activation),
                                        PreActBlock(planes, planes, 1, shortcut_from_activation)))
            in_planes = planes
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.bn = nn.BatchNorm2d(512) if bn_before_fc else None
        self.linear = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.layer4(self.layer3(self.layer2(self.layer1(self.conv1(x)))))
        if self.bn is not None:
            out = F.relu(self.bn(out))
        return self.linear(F.adaptive_avg_pool2d(out, 1).flatten(1))
