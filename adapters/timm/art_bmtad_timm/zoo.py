"""The zoo ``timm``: listing, each model's :class:`ModelCfg` from timm's ``pretrained_cfg``, creation, and
pretrained weights read offline (a local file, or the local Hugging Face cache) through art-bmtad's safe loader.

timm itself is imported inside the functions, so registering the zoo costs nothing.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from art_bmtad.models.zoo import WEIGHT_SUFFIXES, MissingWeightsError, ModelCfg

HUB_FILES = ("model.safetensors", "pytorch_model.bin")
"""What timm publishes in a Hugging Face repository, in the order timm itself prefers them."""
REFUSED_KWARGS = ("checkpoint_path", "pretrained_cfg", "pretrained_cfg_overlay")
"""timm options that would load weights outside art-bmtad's safe loader."""
DATASET_TAGS = (("in22k", "imagenet-22k"), ("in21k", "imagenet-21k"), ("in12k", "imagenet-12k"), ("in1k", "imagenet"))


def list_models() -> Sequence[str]:
    """Every architecture of ``timm.list_models()``."""
    import timm

    return timm.list_models()


def model_cfg(model: str) -> ModelCfg:
    """timm's default ``pretrained_cfg`` of ``model`` as a :class:`ModelCfg`.

    Raises:
        KeyError: timm has no such model.
    """
    import timm

    if not timm.is_model(model):
        raise KeyError(model)
    cfg = timm.models.get_pretrained_cfg(model)
    if cfg is None:
        return ModelCfg(architecture=model)
    tag = cfg.tag or ""
    return ModelCfg(
        num_classes=cfg.num_classes,
        input_size=tuple(cfg.input_size) if cfg.input_size else None,
        mean=tuple(cfg.mean) if cfg.mean else None,
        std=tuple(cfg.std) if cfg.std else None,
        dataset=next((name for key, name in DATASET_TAGS if key in tag), None),
        weights=f"HF cache: {_hub_folder(cfg.hf_hub_id, None)}" if cfg.hf_hub_id else None,
        architecture=cfg.architecture or model,
    )


def find_weights(model: str, weights: str | Path | None = None) -> Path:
    """The local file of ``model``'s default pretrained weights.

    Args:
        model: a timm model name.
        weights: a weight file (``.safetensors``, ``.pth``, ...), else a Hugging Face hub cache folder (default:
            the one ``huggingface_hub`` uses, ``$HF_HUB_CACHE`` or ``$HF_HOME/hub``).

    Returns:
        The file.

    Raises:
        MissingWeightsError: not there; the message names the file and folder (and how to fetch it).
    """
    import timm

    if weights is not None and Path(weights).suffix in WEIGHT_SUFFIXES:
        if not Path(weights).is_file():
            raise MissingWeightsError(f"timm/{model}: weight file {weights} not found (folder {Path(weights).parent})")
        return Path(weights)
    cfg = timm.models.get_pretrained_cfg(model)
    if cfg is None or not cfg.hf_hub_id:
        raise MissingWeightsError(f"timm/{model}: timm publishes no Hugging Face weights for it; pass weights=FILE")
    from huggingface_hub import try_to_load_from_cache

    names = (cfg.hf_hub_filename,) if cfg.hf_hub_filename else HUB_FILES
    for name in names:
        found = try_to_load_from_cache(cfg.hf_hub_id, name, cache_dir=weights)
        if isinstance(found, str):
            return Path(found)
    folder = _hub_folder(cfg.hf_hub_id, weights)
    raise MissingWeightsError(
        f"timm/{model}: pretrained weights not found: expected {' or '.join(names)} of {cfg.hf_hub_id} in the "
        f"Hugging Face cache folder {folder}/snapshots/<revision>/ (nothing is downloaded; fetch it once with "
        f"`huggingface-cli download {cfg.hf_hub_id}`), or pass the file itself as weights"
    )


def create(
    model: str,
    *,
    pretrained: bool = False,
    weights: str | Path | None = None,
    num_classes: int | None = None,
    input_size: tuple[int, int, int] | None = None,
    cifar_stem: bool = False,
    download: bool = False,
    **kwargs: Any,
) -> Any:
    """``timm.create_model`` with art-bmtad's conventions.

    Args:
        model: a timm model name.
        pretrained: load the weights :func:`find_weights` finds; timm adapts them to ``num_classes`` (new head)
            and the input channels as it does for its own downloads.
        weights: a weight file or a Hugging Face cache folder (see :func:`find_weights`).
        num_classes: classes (default: timm's).
        input_size: (C, H, W) of the data: sets ``in_chans`` and, for fixed-size models such as ViTs, ``img_size``.
        cifar_stem: apply :func:`art_bmtad_timm.stem.apply_cifar_stem` (ResNet family; after any weights load).
        download: with ``pretrained``, fetch a missing file from the Hugging Face hub into the cache folder first
            (``huggingface_hub.hf_hub_download``; needs a network).
        **kwargs: other ``timm.create_model`` options (e.g. ``drop_rate``).

    Returns:
        The model, taking inputs normalised as :func:`model_cfg` (or the dataset) says.

    Raises:
        ValueError: unknown model, or options that would load weights outside the safe loader.
        MissingWeightsError: ``pretrained`` and the weights are not found.
    """
    import timm

    from art_bmtad.models.classifier_files import load_state_dict

    if not timm.is_model(model):
        raise ValueError(f"unknown timm model {model!r}; see timm.list_models()")
    refused = [key for key in REFUSED_KWARGS if kwargs.get(key)]
    if refused:
        raise ValueError(f"{refused} would load weights outside art-bmtad's safe loader; use pretrained and weights")
    if input_size is not None:
        kwargs.setdefault("in_chans", input_size[0])
        pretrained_cfg = timm.models.get_pretrained_cfg(model)
        if pretrained_cfg is not None and pretrained_cfg.fixed_input_size:
            kwargs.setdefault("img_size", tuple(input_size[1:]))
    if num_classes is not None:
        kwargs["num_classes"] = num_classes
    if pretrained:
        if download:
            _download(model, weights)
        state = load_state_dict(find_weights(model, weights))
        kwargs["pretrained_cfg_overlay"] = {"source": "", "state_dict": state}
    module = timm.create_model(model, pretrained=pretrained, **kwargs)
    if cifar_stem:
        from art_bmtad_timm.stem import apply_cifar_stem

        apply_cifar_stem(module)
    return module


def _download(model: str, weights: str | Path | None) -> None:
    """Fetch ``model``'s published file into the Hugging Face cache unless :func:`find_weights` finds it."""
    import timm
    from huggingface_hub import hf_hub_download

    try:
        find_weights(model, weights)
    except MissingWeightsError:
        cfg = timm.models.get_pretrained_cfg(model)
        if cfg is None or not cfg.hf_hub_id or (weights is not None and Path(weights).suffix in WEIGHT_SUFFIXES):
            raise
        hf_hub_download(cfg.hf_hub_id, cfg.hf_hub_filename or HUB_FILES[0], cache_dir=weights)


def _hub_folder(repo_id: str, cache_dir: str | Path | None) -> Path:
    from huggingface_hub import constants

    return Path(cache_dir or constants.HF_HUB_CACHE) / f"models--{repo_id.replace('/', '--')}"
