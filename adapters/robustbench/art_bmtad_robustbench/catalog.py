"""The RobustBench models this zoo carries: names, architectures, normalisation and file layout (no torch here).

Names are RobustBench's own. ``<dataset>/<threat_model>/<name>`` names any entry
(``cifar100/Linf/Gowal2020Uncovering``, ``cifar10/L2/Rice2020Overfitting``); a bare ``<name>`` means
RobustBench's defaults, CIFAR-10 and Linf (``Zhang2019Theoretically``), as in ``robustbench.load_model``.
Each entry was read from RobustBench's ``model_zoo/cifar10.py`` and ``cifar100.py``: the architecture
(and whether its files carry TRADES' unused ``sub_block1``) and the normalisation its wrapper applies
before the network (``mu`` / ``sigma`` buffers, ``2x - 1``, or none).

Weights live where RobustBench keeps them: ``<model_dir>/<dataset>/<threat_model>/<name>.pt``, with
``model_dir`` ``./models`` unless the environment variable ``ART_BMTAD_ROBUSTBENCH_DIR`` (or ``weights=``) says
otherwise.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from art_bmtad.models.zoo import ModelCfg

MODEL_DIR_ENV = "ART_BMTAD_ROBUSTBENCH_DIR"
DEFAULT_MODEL_DIR = "models"
DEFAULT_DATASET, DEFAULT_THREAT_MODEL = "cifar10", "Linf"
NUM_CLASSES = {"cifar10": 10, "cifar100": 100}
INPUT_SIZE = (3, 32, 32)

Normalisation = tuple[tuple[float, float, float], tuple[float, float, float]]
RAW: Normalisation = ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
TWO_X_MINUS_ONE: Normalisation = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))  # Hendrycks2019Using: 2x - 1
CIFAR10: Normalisation = ((0.4914, 0.4822, 0.4465), (0.2471, 0.2435, 0.2616))  # also DeepMind's CIFAR10_MEAN/STD
CIFAR10_ENGSTROM: Normalisation = ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010))
CIFAR10_AUGUSTIN: Normalisation = ((0.4913997551666284, 0.48215855929893703, 0.4465309133731618),
                                   (0.24703225141799082, 0.24348516474564, 0.26158783926049628))
CIFAR100_DM: Normalisation = ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762))
CIFAR100_CHEN: Normalisation = ((0.5071, 0.4867, 0.4408), (0.2675, 0.2565, 0.2761))
CIFAR100_EXACT: Normalisation = ((0.5070751592371323, 0.48654887331495095, 0.4409178433670343),
                                 (0.2673342858792401, 0.2564384629170883, 0.27615047132568404))


@dataclass(frozen=True)
class Entry:
    """One RobustBench model.

    Attributes:
        family: ``"wrn"``, ``"dmwrn"`` (Swish), ``"resnet18"``, ``"resnet50"``, ``"preact18"`` (shortcut
            from x) or ``"preact18v2"`` (shortcut from the activation, final BN-ReLU: RobustBench's
            ``PreActBlockV2`` / ``out_shortcut=True`` with ``bn_before_fc=True``).
        depth: WideResNet depth (``0`` for the ResNets).
        width: WideResNet widening factor.
        normalisation: (mean, std) in [0, 1] pixel units.
        sub_block1: the published file carries TRADES' unused ``sub_block1`` (dropped on loading).
    """

    family: str
    depth: int = 0
    width: int = 0
    normalisation: Normalisation = RAW
    sub_block1: bool = False

    @property
    def architecture(self) -> str:
        """Readable architecture name for listings."""
        if self.family == "wrn":
            return f"WideResNet-{self.depth}-{self.width}"
        if self.family == "dmwrn":
            return f"WideResNet-{self.depth}-{self.width} (DeepMind, Swish)"
        return {"resnet18": "ResNet-18", "resnet50": "ResNet-50", "preact18": "PreAct ResNet-18",
                "preact18v2": "PreAct ResNet-18 (final BN)"}[self.family]


def _wrn(depth: int, width: int, normalisation: Normalisation = RAW, sub_block1: bool = False) -> Entry:
    return Entry("wrn", depth, width, normalisation, sub_block1)


def _dm(depth: int, width: int, normalisation: Normalisation = CIFAR10) -> Entry:
    return Entry("dmwrn", depth, width, normalisation)


WRN_34_10_TRADES = _wrn(34, 10, sub_block1=True)
WRN_28_10_TRADES = _wrn(28, 10, sub_block1=True)

MODELS: dict[tuple[str, str], dict[str, Entry]] = {
    ("cifar10", "Linf"): {
        "Andriushchenko2020Understanding": Entry("preact18"),
        "Carmon2019Unlabeled": WRN_28_10_TRADES,
        "Sehwag2020Hydra": WRN_28_10_TRADES,
        "Wang2020Improving": WRN_28_10_TRADES,
        "Hendrycks2019Using": _wrn(28, 10, TWO_X_MINUS_ONE),
        "Rice2020Overfitting": _wrn(34, 20, CIFAR10),
        "Zhang2019Theoretically": WRN_34_10_TRADES,
        "Engstrom2019Robustness": Entry("resnet50", normalisation=CIFAR10_ENGSTROM),
        "Huang2020Self": WRN_34_10_TRADES,
        "Wong2020Fast": Entry("preact18", normalisation=CIFAR10),
        "Zhang2019You": WRN_34_10_TRADES,
        "Zhang2020Attacks": WRN_34_10_TRADES,
        "Wu2020Adversarial_extra": WRN_28_10_TRADES,
        "Wu2020Adversarial": _wrn(34, 10),
        "Gowal2020Uncovering_70_16": _dm(70, 16),
        "Gowal2020Uncovering_70_16_extra": _dm(70, 16),
        "Gowal2020Uncovering_34_20": _dm(34, 20),
        "Gowal2020Uncovering_28_10_extra": _dm(28, 10),
        "Sehwag2021Proxy": _wrn(34, 10),
        "Sehwag2021Proxy_R18": Entry("resnet18"),
        "Sitawarin2020Improving": WRN_34_10_TRADES,
        "Rebuffi2021Fixing_28_10_cutmix_ddpm": _dm(28, 10),
        "Rebuffi2021Fixing_70_16_cutmix_ddpm": _dm(70, 16),
        "Rebuffi2021Fixing_70_16_cutmix_extra": _dm(70, 16),
        "Rebuffi2021Fixing_106_16_cutmix_ddpm": _dm(106, 16),
        "Standard": _wrn(28, 10),
    },
    ("cifar10", "L2"): {
        "Augustin2020Adversarial": Entry("resnet50", normalisation=CIFAR10_AUGUSTIN),
        "Engstrom2019Robustness": Entry("resnet50", normalisation=CIFAR10_ENGSTROM),
        "Rice2020Overfitting": Entry("preact18v2", normalisation=CIFAR10),
        "Standard": _wrn(28, 10),
        "Wu2020Adversarial": _wrn(34, 10),
        "Gowal2020Uncovering": _dm(70, 16),
        "Gowal2020Uncovering_extra": _dm(70, 16),
        "Sehwag2021Proxy": _wrn(34, 10),
        "Sehwag2021Proxy_R18": Entry("resnet18"),
        "Augustin2020Adversarial_34_10": _wrn(34, 10, CIFAR10_AUGUSTIN),
        "Augustin2020Adversarial_34_10_extra": _wrn(34, 10, CIFAR10_AUGUSTIN),
        "Rebuffi2021Fixing_28_10_cutmix_ddpm": _dm(28, 10),
        "Rebuffi2021Fixing_70_16_cutmix_ddpm": _dm(70, 16),
        "Rebuffi2021Fixing_70_16_cutmix_extra": _dm(70, 16),
    },
    ("cifar100", "Linf"): {
        "Gowal2020Uncovering": _dm(70, 16, CIFAR100_DM),
        "Gowal2020Uncovering_extra": _dm(70, 16, CIFAR100_DM),
        "Cui2020Learnable_34_20_LBGAT6": _wrn(34, 20, sub_block1=True),
        "Cui2020Learnable_34_10_LBGAT0": WRN_34_10_TRADES,
        "Cui2020Learnable_34_10_LBGAT6": WRN_34_10_TRADES,
        "Chen2020Efficient": _wrn(34, 10, CIFAR100_CHEN, sub_block1=True),
        "Wu2020Adversarial": _wrn(34, 10, CIFAR100_EXACT),
        "Sehwag2021Proxy": _wrn(34, 10),
        "Sitawarin2020Improving": WRN_34_10_TRADES,
        "Hendrycks2019Using": _wrn(28, 10, TWO_X_MINUS_ONE),
        "Rice2020Overfitting": Entry("preact18v2", normalisation=CIFAR100_EXACT),
        "Rebuffi2021Fixing_28_10_cutmix_ddpm": _dm(28, 10, CIFAR100_DM),
        "Rebuffi2021Fixing_70_16_cutmix_ddpm": _dm(70, 16, CIFAR100_DM),
    },
}


def list_models() -> list[str]:
    """Every name: CIFAR-10 Linf models by their bare RobustBench name, the others as ``<dataset>/<threat>/<name>``."""
    return [name if (dataset, threat) == (DEFAULT_DATASET, DEFAULT_THREAT_MODEL) else f"{dataset}/{threat}/{name}"
            for (dataset, threat), entries in MODELS.items() for name in entries]


def parse_name(name: str) -> tuple[str, str, str]:
    """``"cifar100/Linf/Gowal2020Uncovering"`` -> ``("cifar100", "Linf", "Gowal2020Uncovering")``; a bare name
    means CIFAR-10, Linf.

    Raises:
        KeyError: no such model (the message names the datasets and threat models carried, or close names).
    """
    parts = name.split("/")
    if len(parts) == 1:
        dataset, threat, model = DEFAULT_DATASET, DEFAULT_THREAT_MODEL, name
    elif len(parts) == 3:
        dataset, threat, model = parts
    else:
        raise KeyError("robustbench model names are <name> (CIFAR-10, Linf) or <dataset>/<threat_model>/<name>, "
                       f"got {name!r}")
    entries = MODELS.get((dataset, threat))
    if entries is None:
        raise KeyError(f"robustbench zoo carries no {dataset}/{threat} models; it has "
                       f"{', '.join(f'{d}/{t}' for d, t in MODELS)}")
    if model not in entries:
        raise KeyError(f"robustbench zoo has no {dataset}/{threat} model {model!r}; it has {', '.join(entries)}")
    return dataset, threat, model


def entry(name: str) -> Entry:
    """The :class:`Entry` of a name (raises ``KeyError`` like :func:`parse_name`)."""
    dataset, threat, model = parse_name(name)
    return MODELS[(dataset, threat)][model]


def model_dir() -> Path:
    """RobustBench's ``model_dir``: ``$ART_BMTAD_ROBUSTBENCH_DIR`` or ``./models``."""
    return Path(os.environ.get(MODEL_DIR_ENV) or DEFAULT_MODEL_DIR)


def weight_path(name: str, root: str | Path | None = None) -> Path:
    """``<root>/<dataset>/<threat_model>/<name>.pt``, ``root`` defaulting to :func:`model_dir`."""
    dataset, threat, model = parse_name(name)
    return Path(root if root is not None else model_dir()) / dataset / threat / f"{model}.pt"


def model_cfg(name: str) -> ModelCfg:
    """The :class:`ModelCfg` of one name (raises ``KeyError`` for a name the zoo lacks)."""
    dataset, threat, _ = parse_name(name)
    found = entry(name)
    return ModelCfg(
        num_classes=NUM_CLASSES[dataset],
        input_size=INPUT_SIZE,
        mean=found.normalisation[0],
        std=found.normalisation[1],
        dataset=dataset,
        threat_model=threat,
        weights=str(weight_path(name)),
        architecture=found.architecture,
    )
