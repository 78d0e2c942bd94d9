"""Build a RobustBench model and load its published file from RobustBench's folder layout, without unpickling."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from art_bmtad.models.classifier_files import ROBUSTBENCH_PREFIX, load_state_dict
from art_bmtad.models.zoo import ModelCfg
from art_bmtad.utils.state_dicts import check_compatible
from art_bmtad_robustbench import architectures, catalog, weight_files

UNUSED_PREFIX = "sub_block1."
"""TRADES' WideResNet builds a ``sub_block1`` that ``forward`` never uses; RobustBench's files carry it."""
NORMALISATION_KEYS = (("mu", "sigma"), ("mean", "std"))
"""Buffers in which some RobustBench wrappers keep the normalisation that art-bmtad applies in the classifier."""


def build(entry: catalog.Entry, num_classes: int) -> nn.Module:
    """A randomly initialised network of ``entry``'s architecture with ``num_classes`` outputs."""
    if entry.family == "wrn":
        return architectures.WideResNet(entry.depth, entry.width, num_classes)
    if entry.family == "dmwrn":
        return architectures.DMWideResNet(entry.depth, entry.width, num_classes)
    if entry.family == "resnet18":
        return architectures.ResNet(architectures.BasicBlock, (2, 2, 2, 2), num_classes)
    if entry.family == "resnet50":
        return architectures.ResNet(architectures.Bottleneck, (3, 4, 6, 3), num_classes)
    version_2 = entry.family == "preact18v2"
    return architectures.PreActResNet(num_classes, shortcut_from_activation=version_2, bn_before_fc=version_2)


def create_model(model: str, *, pretrained: bool = False, weights: str | Path | None = None,
                 num_classes: int | None = None, input_size: tuple[int, int, int] | None = None,
                 download: bool = False) -> nn.Module:
    """Build a RobustBench model by its RobustBench name (see :mod:`art_bmtad_robustbench.catalog`).

    Args:
        model: ``Zhang2019Theoretically`` (CIFAR-10, Linf) or ``<dataset>/<threat_model>/<name>``.
        pretrained: load the published weights (also implied by ``weights``).
        weights: a weight file (by its suffix, ``.pt`` ...), else RobustBench's ``model_dir`` holding
            ``<dataset>/<threat_model>/<name>.pt``; default ``$ART_BMTAD_ROBUSTBENCH_DIR`` or ``./models``.
        input_size: (C, H, W) of the inputs; C must be 3, any H, W (global pooling before the head).
        num_classes: output classes; must equal the dataset's when weights are loaded.
        download: fetch a missing file through RobustBench's own download (needs the ``robustbench`` package).

    Returns:
        The network; it takes inputs normalised as the model's :class:`~art_bmtad.models.zoo.ModelCfg` says.

    Raises:
        KeyError: unknown name.
        ValueError: ``num_classes`` differs from the published one, or the file does not match or needs pickle.
        MissingWeightsError: the file is absent (and ``download`` is off or impossible).
    """
    dataset, _, _ = catalog.parse_name(model)
    entry = catalog.entry(model)
    published = catalog.NUM_CLASSES[dataset]
    load = pretrained or weights is not None
    if input_size is not None and input_size[0] != 3:
        raise ValueError(f"robustbench/{model} takes 3-channel images, not input_size={tuple(input_size)}")
    if load and num_classes not in (None, published):
        raise ValueError(f"robustbench/{model}: the published weights have {published} classes, not "
                         f"num_classes={num_classes}; drop pretrained/weights to train a new head")
    network = build(entry, num_classes or published)
    if load:
        path = weight_files.download(model, weights) if download else weight_files.find_weights(model, weights)
        state = _published_state(load_state_dict(path), entry, catalog.model_cfg(model), path)
        check_compatible(state, network.state_dict(), path)
        network.load_state_dict(state, strict=True)
    return network


def _published_state(state: dict[str, torch.Tensor], entry: catalog.Entry, cfg: ModelCfg,
                     path: Path) -> dict[str, torch.Tensor]:
    """Drop RobustBench's ``model.`` prefix, TRADES' unused ``sub_block1`` and normalisation buffers (after
    checking that they hold the normalisation art-bmtad applies)."""
    if all(key.startswith(ROBUSTBENCH_PREFIX) for key in state):
        state = {key[len(ROBUSTBENCH_PREFIX):]: value for key, value in state.items()}
    if entry.sub_block1:
        state = {key: value for key, value in state.items() if not key.startswith(UNUSED_PREFIX)}
    for mean_key, std_key in NORMALISATION_KEYS:
        if mean_key in state and std_key in state:
            mean, std = state.pop(mean_key).flatten().double(), state.pop(std_key).flatten().double()
            expected = torch.tensor(cfg.mean, dtype=torch.float64), torch.tensor(cfg.std, dtype=torch.float64)
            if not (torch.allclose(mean, expected[0], atol=1e-4) and torch.allclose(std, expected[1], atol=1e-4)):
                raise ValueError(f"{path}: its normalisation {mean.tolist()} / {std.tolist()} is not the one this zoo "
                                 f"applies for the model ({cfg.mean} / {cfg.std})")
    return state
