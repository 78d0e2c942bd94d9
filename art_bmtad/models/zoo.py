"""The contract between art-bmtad and a model zoo (timm, RobustBench, the CIFAR zoo, torchvision, ...).

A zoo plugin registers one :class:`ModelZoo` through the ``art_bmtad_register_zoos`` hook. Its models
are then named ``<zoo>/<model>`` everywhere (Python, recipes, every CLI command); bare names resolve in
the default zoo (timm). Like timm's ``pretrained_cfg``, each model's :class:`ModelCfg` says what data it
expects, so the front door can put the zoo's normalisation inside the ART classifier (attacks stay in
[0, 1] pixel space) and say where the weights belong before any work starts.

This module imports neither torch nor the zoo's library: listing and describing models must stay cheap.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

if TYPE_CHECKING:
    from torch import nn


WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin", ".ckpt")
"""Weight files that :mod:`art_bmtad.models.classifier_files` reads; a ``weights`` path with one of these suffixes names a file,
any other path a folder (a zoo's root folder)."""


class MissingWeightsError(FileNotFoundError):
    """A zoo model was asked for with its pretrained weights, and the file is not where the zoo keeps it.

    The message names the exact file and folder to put it in (and, where the zoo has one, the explicit
    download option), so the CLI can stop before any work.
    """


@dataclass(frozen=True)
class ModelCfg:
    """What a zoo says about one model: the data it expects and where its weights live.

    Attributes:
        num_classes: classes of the published weights (``None``: any, set by the user).
        input_size: (C, H, W) of the published weights (``None``: any).
        mean: per-channel normalisation the model expects, in [0, 1] pixel units; applied inside the
            classifier (``(0, 0, 0)`` / ``(1, 1, 1)`` for models that take raw pixels).
        std: per-channel standard deviation of that normalisation.
        dataset: the dataset the published weights were trained on (``"cifar10"``, ``"imagenet"``, ...).
        threat_model: ``"Linf"``, ``"L2"``, ... for adversarially trained weights; ``None`` for clean ones.
        weights: where the zoo expects the weight file, as text for listings and error messages
            (e.g. ``"<model_dir>/cifar10/Linf/Zhang2019Theoretically.pt"``).
        architecture: the architecture behind the name, for listings (e.g. ``"WideResNet-34-10"``).
    """

    num_classes: int | None = None
    input_size: tuple[int, int, int] | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    dataset: str | None = None
    threat_model: str | None = None
    weights: str | None = None
    architecture: str | None = None


ModelCreator = Callable[..., "nn.Module"]
"""``create(model, *, pretrained=False, weights=None, num_classes=None, **kwargs) -> nn.Module``.

``model`` is the name inside the zoo (without the ``<zoo>/`` prefix). The returned module takes
*normalised* inputs as described by the model's :class:`ModelCfg` (the front door adds the
normalisation as ART preprocessing). ``pretrained=True`` loads the published weights from the zoo's
local layout (``weights`` may name a file or the zoo's root folder; otherwise the zoo's default
folder) through :mod:`art_bmtad.models.classifier_files` (never unpickling), and raises
:class:`MissingWeightsError` when they are not there. Nothing is downloaded unless a zoo-specific
option such as ``download=True`` asks for it.
"""


@dataclass(frozen=True)
class ModelZoo:
    """A model zoo as registered by a plugin.

    Attributes:
        name: the prefix of its qualified names (``"timm"``, ``"robustbench"``, ``"cifar"``, ``"torchvision"``).
        list_models: the names inside the zoo, without the prefix (may import the zoo's library).
        model_cfg: the :class:`ModelCfg` of one name; raises ``KeyError`` for a name the zoo lacks.
        create: builds a model (see :data:`ModelCreator`).
        description: one line for ``art-bmtad models`` and ``art-bmtad plugins``.
        find_weights: ``find_weights(model, weights=None) -> Path``: the local file that
            ``create(model, pretrained=True, weights=weights)`` would load, *without* building the model;
            raises :class:`MissingWeightsError` (exact file and folder) when it is absent. The front door
            calls it when a recipe or command line is checked, so missing weights stop a run before any
            work. ``None``: the zoo has no local files to check (``create`` still raises).
    """

    name: str
    list_models: Callable[[], Sequence[str]]
    model_cfg: Callable[[str], ModelCfg]
    create: ModelCreator
    description: str = ""
    find_weights: Callable[..., Path] | None = None


def split_name(name: str, default_zoo: str = "timm") -> tuple[str, str]:
    """``"robustbench/Zhang2019Theoretically"`` -> ``("robustbench", "Zhang2019Theoretically")``; a bare
    name belongs to ``default_zoo``. Only the first ``/`` separates (timm's hub names keep theirs)."""
    zoo, sep, model = name.partition("/")
    return (zoo, model) if sep else (default_zoo, name)


WEIGHT_FILE_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin", ".ckpt", ".th")
"""Suffixes by which a ``weights=`` path names one weight file rather than a zoo's root folder."""


def weights_file_or_folder(weights: str | Path | None) -> tuple[Path | None, Path | None]:
    """Split a ``weights=`` argument: ``(file, None)`` when it names a weight file by its suffix (present or not),
    ``(None, folder)`` for a zoo's root folder (present or not), ``(None, None)`` for ``None``. Lets a zoo report
    the exact file it expected inside a folder that does not exist."""
    if weights is None:
        return None, None
    path = Path(weights).expanduser()
    return (path, None) if path.suffix in WEIGHT_FILE_SUFFIXES else (None, path)


__all__ = ["MissingWeightsError", "ModelCfg", "ModelCreator", "ModelZoo", "WEIGHT_FILE_SUFFIXES", "split_name",
           "weights_file_or_folder"]
