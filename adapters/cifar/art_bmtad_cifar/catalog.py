"""What the ``cifar`` zoo holds: its names, their :class:`ModelCfg` and the published weight files (no torch here).

Names are the torch.hub entry points of chenyaofo/pytorch-cifar-models, ``<dataset>_<architecture>``
(``cifar10_resnet56``, ``cifar100_vgg16_bn``); a bare architecture name (``resnet56``) means its
CIFAR-10 model. The dataset is part of the name because it fixes both the classes and the
normalisation of the published weights.
"""
from __future__ import annotations

from art_bmtad.models.zoo import ModelCfg

DATASETS = ("cifar10", "cifar100")
DEFAULT_DATASET = "cifar10"
NUM_CLASSES = {"cifar10": 10, "cifar100": 100}
# The normalisation of the repository's training code (image-classification-codebase conf/cifar10.conf, cifar100.conf).
MEAN = {"cifar10": (0.4914, 0.4822, 0.4465), "cifar100": (0.5070, 0.4865, 0.4409)}
STD = {"cifar10": (0.2023, 0.1994, 0.2010), "cifar100": (0.2673, 0.2564, 0.2761)}
INPUT_SIZE = (3, 32, 32)
RELEASES = "https://github.com/chenyaofo/pytorch-cifar-models/releases/download"
HUB_CHECKPOINTS = "$TORCH_HOME/hub/checkpoints"

# architecture -> (release tag, readable name, {dataset: hash suffix of the published file name})
ARCHITECTURES: dict[str, tuple[str, str, dict[str, str]]] = {
    "resnet20": ("resnet", "CIFAR ResNet-20", {"cifar10": "4118986f", "cifar100": "23dac2f1"}),
    "resnet32": ("resnet", "CIFAR ResNet-32", {"cifar10": "ef93fc4d", "cifar100": "84213ce6"}),
    "resnet44": ("resnet", "CIFAR ResNet-44", {"cifar10": "2a3cabcb", "cifar100": "ffe32858"}),
    "resnet56": ("resnet", "CIFAR ResNet-56", {"cifar10": "187c023a", "cifar100": "f2eff4c8"}),
    "vgg11_bn": ("vgg", "VGG-11-BN", {"cifar10": "eaeebf42", "cifar100": "57d0759e"}),
    "vgg13_bn": ("vgg", "VGG-13-BN", {"cifar10": "c01e4a43", "cifar100": "5ebe5778"}),
    "vgg16_bn": ("vgg", "VGG-16-BN", {"cifar10": "6ee7ea24", "cifar100": "7d8c4031"}),
    "vgg19_bn": ("vgg", "VGG-19-BN", {"cifar10": "57191229", "cifar100": "b98f7bd7"}),
    "mobilenetv2_x0_5": ("mobilenetv2", "MobileNetV2 x0.5", {"cifar10": "ca14ced9", "cifar100": "9f915757"}),
    "mobilenetv2_x0_75": ("mobilenetv2", "MobileNetV2 x0.75", {"cifar10": "a53c314e", "cifar100": "d7891e60"}),
    "mobilenetv2_x1_0": ("mobilenetv2", "MobileNetV2 x1.0", {"cifar10": "fe6a5b48", "cifar100": "1311f9ff"}),
    "mobilenetv2_x1_4": ("mobilenetv2", "MobileNetV2 x1.4", {"cifar10": "3bbbd6e2", "cifar100": "8a269f5e"}),
    "repvgg_a0": ("repvgg", "RepVGG-A0", {"cifar10": "ef08a50e", "cifar100": "2df1edd0"}),
    "repvgg_a1": ("repvgg", "RepVGG-A1", {"cifar10": "38d2431b", "cifar100": "c06b21a7"}),
    "repvgg_a2": ("repvgg", "RepVGG-A2", {"cifar10": "09488915", "cifar100": "8e71b1f8"}),
}


def list_models() -> list[str]:
    """Every model name of the zoo: ``cifar10_<arch>`` and ``cifar100_<arch>``."""
    return [f"{dataset}_{arch}" for dataset in DATASETS for arch in ARCHITECTURES]


def parse_name(name: str) -> tuple[str, str]:
    """``"cifar100_resnet56"`` -> ``("cifar100", "resnet56")``; ``"resnet56"`` -> ``("cifar10", "resnet56")``.

    Raises:
        KeyError: the name is not in the zoo (the message lists the architectures).
    """
    dataset, sep, arch = name.partition("_")
    if not (sep and dataset in DATASETS):
        dataset, arch = DEFAULT_DATASET, name
    if arch not in ARCHITECTURES:
        raise KeyError(f"cifar zoo has no model {name!r}; architectures: {', '.join(ARCHITECTURES)} "
                       f"(prefix cifar10_ or cifar100_; a bare name means cifar10)")
    return dataset, arch


def weight_file_name(dataset: str, arch: str) -> str:
    """The published file name, e.g. ``cifar10_resnet56-187c023a.pt``."""
    return f"{dataset}_{arch}-{ARCHITECTURES[arch][2][dataset]}.pt"


def weight_url(dataset: str, arch: str) -> str:
    """Where the repository publishes the file (used only by an explicit ``download=True``)."""
    return f"{RELEASES}/{ARCHITECTURES[arch][0]}/{weight_file_name(dataset, arch)}"


def model_cfg(name: str) -> ModelCfg:
    """The :class:`ModelCfg` of one name (raises ``KeyError`` for a name the zoo lacks)."""
    dataset, arch = parse_name(name)
    return ModelCfg(
        num_classes=NUM_CLASSES[dataset],
        input_size=INPUT_SIZE,
        mean=MEAN[dataset],
        std=STD[dataset],
        dataset=dataset,
        weights=f"{HUB_CHECKPOINTS}/{weight_file_name(dataset, arch)}",
        architecture=ARCHITECTURES[arch][1],
    )
