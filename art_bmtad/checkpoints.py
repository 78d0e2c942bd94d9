"""Safe checkpoint loading and saving: safetensors, or ``torch.load(weights_only=True)``; never pickle.

Loading accepts ``.safetensors`` files and ``.pt`` / ``.pth`` / ``.bin`` / ``.ckpt`` files whose
content is tensors in plain containers. A file that needs pickle to restore other objects
(code, custom classes, ``argparse.Namespace`` ...) is refused, and nothing in it is executed.
Wrapped layouts are unwrapped: ``{"state_dict": ...}``, ``{"model": ...}``,
``{"model_state_dict": ...}``, ``{"net": ...}``, RobustBench's ``{"last": ...}``, and key prefixes
``module.`` (DataParallel / DDP) and ``_orig_mod.`` (``torch.compile``); RobustBench's
``model.`` prefix is removed by :func:`load_weights` when the target model's keys lack it.

Saving writes ``<stem>.safetensors`` plus ``<stem>.json`` (the :class:`ModelSpec` fields, the
art-bmtad version and any extra metadata), each atomically, so that a saved student or
teacher reloads with one call to :func:`load_classifier`.
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import secrets
from dataclasses import asdict, replace
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Mapping

import safetensors.torch
import torch
from art.estimators.classification import PyTorchClassifier
from safetensors import SafetensorError
from torch import nn

from art_bmtad.adapters.timm import ModelSpec, model_spec, timm_classifier
from art_bmtad.json_documents import read_json_document

TORCH_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")
WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "net", "last")
WRAPPER_PREFIXES = ("module.", "_orig_mod.")
ROBUSTBENCH_PREFIX = "model."
RUN_FOLDER_WEIGHTS = "student.safetensors"
FORMAT = "art-bmtad-checkpoint/1"


def load_state_dict(path: str | Path, *, sha256: str | None = None) -> dict[str, torch.Tensor]:
    """Read a state dict from a checkpoint file without unpickling anything.

    Args:
        path: A ``.safetensors``, ``.pt``, ``.pth``, ``.bin`` or ``.ckpt`` file.
        sha256: Expected hex digest of the file; checked before the file is parsed.

    Returns:
        The state dict on the CPU, unwrapped and with wrapper prefixes removed.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: Unsupported suffix, digest mismatch, a file that needs pickle (refused,
            not unpickled), a truncated or unreadable file, or content that is not tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if sha256 is not None:
        verify_sha256(path, sha256)
    payload = _read_safetensors(path) if path.suffix == ".safetensors" else _read_torch(path)
    return _strip_prefixes(_unwrap(payload, path))


def load_weights(model: nn.Module, path: str | Path, *, sha256: str | None = None) -> nn.Module:
    """Load a checkpoint into a model, strictly: every key must match, with the right shape.

    Args:
        model: The model to fill.
        path: Checkpoint file (see :func:`load_state_dict`).
        sha256: Expected hex digest of the file.

    Returns:
        The same model.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: Everything :func:`load_state_dict` raises, plus missing or unexpected keys
            (listed) and shape mismatches (named); the model is left untouched in that case.
    """
    expected = model.state_dict()
    state = _match_robustbench_prefix(load_state_dict(path, sha256=sha256), expected)
    check_compatible(state, expected, path)
    model.load_state_dict(state, strict=True)
    return model


def save_classifier(
    classifier_or_module: PyTorchClassifier | nn.Module,
    path: str | Path,
    *,
    name: str | None = None,
    nb_classes: int | None = None,
    input_shape: tuple[int, int, int] | None = None,
    mean: tuple[float, ...] | None = None,
    std: tuple[float, ...] | None = None,
    cifar_stem: bool | None = None,
    model_kwargs: dict[str, Any] | None = None,
    **extra_meta: Any,
) -> Path:
    """Save weights as ``<stem>.safetensors`` and metadata as ``<stem>.json``, atomically.

    Both files are first written to temporary files in the same folder and only then moved
    into place with ``os.replace``, so a failed save leaves earlier files intact. Metadata not given here is
    taken from the :class:`ModelSpec` that :func:`timm_classifier` attached to the model.

    Args:
        classifier_or_module: An ART ``PyTorchClassifier`` or its ``nn.Module``.
        path: Target path; the suffix is replaced by ``.safetensors`` and ``.json``.
        name: timm model name.
        nb_classes: Number of classes.
        input_shape: Shape of one input, (C, H, W).
        mean: Per-channel normalisation mean.
        std: Per-channel normalisation standard deviation.
        cifar_stem: Whether the model has the CIFAR stem.
        model_kwargs: Extra ``timm.create_model`` keyword arguments.
        **extra_meta: JSON-serialisable metadata stored under ``"extra"`` (e.g. training config).

    Returns:
        Path of the ``.safetensors`` file.

    Raises:
        ValueError: Metadata missing and not attached to the model.
    """
    module = classifier_or_module.model if isinstance(classifier_or_module, PyTorchClassifier) else classifier_or_module
    spec = _spec_for_saving(module, name, nb_classes, input_shape, mean, std, cifar_stem, model_kwargs)
    weights_path = Path(path).with_suffix(".safetensors")
    weights_path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {key: value.detach().to("cpu", copy=True).contiguous() for key, value in module.state_dict().items()}
    meta = {"format": FORMAT, **asdict(spec), "art_bmtad_version": _version(), "extra": extra_meta}
    text = json.dumps(meta, indent=2, sort_keys=True)
    _write_atomically({
        weights_path: lambda tmp: Path(tmp).write_bytes(safetensors.torch.save(tensors)),  # save_file makes 0600
        weights_path.with_suffix(".json"): lambda tmp: Path(tmp).write_text(text),
    })
    return weights_path


def load_classifier(path: str | Path, *, device: str | torch.device = "auto") -> PyTorchClassifier:
    """Rebuild a saved classifier (timm model, normalisation, CIFAR stem) and load its weights.

    Args:
        path: The ``.safetensors`` file, its ``.json``, or a run folder holding ``student.safetensors``.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.

    Returns:
        The classifier, in eval mode.

    Raises:
        FileNotFoundError: The weights or their JSON are missing.
        ValueError: The JSON is not an art-bmtad checkpoint or names no timm model, or the weights
            do not match the model.
    """
    weights_path = _weights_path(Path(path))
    meta = read_metadata(weights_path)
    if meta.get("name") is None:
        raise ValueError(f"{weights_path.with_suffix('.json')} names no timm model; rebuild the module yourself")
    classifier = timm_classifier(
        meta["name"],
        dataset=None,
        num_classes=meta["num_classes"],
        input_size=tuple(meta["input_shape"]),
        mean=tuple(meta["mean"]),
        std=tuple(meta["std"]),
        cifar_stem=meta["cifar_stem"],
        device=device,
        **meta["model_kwargs"],
    )
    load_weights(classifier.model, weights_path)
    classifier.model.eval()
    return classifier


def read_metadata(path: str | Path) -> dict[str, Any]:
    """Read the JSON written next to a checkpoint by :func:`save_classifier`.

    Args:
        path: The ``.safetensors`` file or its ``.json``.

    Returns:
        The metadata.

    Raises:
        FileNotFoundError: The JSON is missing.
        ValueError: It is not valid JSON or not an art-bmtad checkpoint description.
    """
    json_path = Path(path).with_suffix(".json")
    return read_json_document(json_path, FORMAT, "art-bmtad checkpoint description",
                              f"checkpoint metadata not found: {json_path}")


def verify_sha256(path: str | Path, expected: str) -> None:
    """Check a file's SHA-256 digest.

    Args:
        path: The file.
        expected: Expected hex digest (case-insensitive).

    Raises:
        ValueError: The digests differ.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() != expected.lower():
        raise ValueError(f"sha256 mismatch for {path}: expected {expected.lower()}, got {digest.hexdigest()}")


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return safetensors.torch.load_file(str(path), device="cpu")
    except SafetensorError as err:
        raise ValueError(f"cannot read {path}: not a complete safetensors file (truncated or corrupt): {err}") from err


def _read_torch(path: Path) -> Any:
    if path.suffix not in TORCH_SUFFIXES:
        raise ValueError(f"unsupported checkpoint type {path.name!r}; use .safetensors or one of {TORCH_SUFFIXES}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        reason = next((line.strip() for line in str(err).splitlines() if "GLOBAL" in line), "")
        raise ValueError(
            f"refused to load {path}: it needs pickle to rebuild objects other than tensors ({reason}); "
            "it was not unpickled. Re-save its weights as a plain state dict or .safetensors in a "
            "trusted environment."
        ) from err
    except (RuntimeError, EOFError, KeyError, OSError) as err:
        raise ValueError(
            f"cannot read {path}: not a complete PyTorch checkpoint (truncated or corrupt): {err}"
        ) from err


def _unwrap(payload: Any, path: Path) -> dict[str, torch.Tensor]:
    while isinstance(payload, Mapping) and not _all_tensors(payload):
        inner = next((payload[key] for key in WRAPPER_KEYS if isinstance(payload.get(key), Mapping)), None)
        if inner is None:
            others = sorted(str(key) for key, value in payload.items() if not isinstance(value, torch.Tensor))
            raise ValueError(
                f"{path} holds no state dict: entries {others[:10]} are not tensors and none of the "
                f"wrapper keys {WRAPPER_KEYS} holds one"
            )
        payload = inner
    if not isinstance(payload, Mapping) or not payload:
        raise ValueError(f"{path} holds {type(payload).__name__}, not a non-empty state dict")
    return dict(payload)


def _all_tensors(mapping: Mapping) -> bool:
    return all(isinstance(value, torch.Tensor) for value in mapping.values())


def _strip_prefixes(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    for prefix in WRAPPER_PREFIXES:
        state = _strip_common_prefix(state, prefix)
    return state


def _strip_common_prefix(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    if not all(key.startswith(prefix) for key in state):
        return state
    return {key[len(prefix):]: value for key, value in state.items()}


def _match_robustbench_prefix(state: dict[str, torch.Tensor], expected: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Drop RobustBench's ``model.`` prefix when the target model's keys do not carry it."""
    if any(key.startswith(ROBUSTBENCH_PREFIX) for key in expected):
        return state
    return _strip_common_prefix(state, ROBUSTBENCH_PREFIX)


def check_compatible(state: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor], path) -> None:
    """Raise a ValueError listing every missing key, unexpected key and shape mismatch of ``state`` (read from
    ``path``) against the model's ``expected`` state dict; no silent partial loads."""
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = [
        f"{key}: checkpoint {tuple(state[key].shape)} vs model {tuple(expected[key].shape)}"
        for key in sorted(set(state) & set(expected))
        if state[key].shape != expected[key].shape
    ]
    found = {"missing keys": missing, "unexpected keys": unexpected, "shape mismatches": mismatched}
    problems = [f"{label} ({len(items)}): {', '.join(items)}" for label, items in found.items() if items]
    if problems:
        raise ValueError(f"checkpoint {path} does not match the model; " + "; ".join(problems))


def _spec_for_saving(
    module: nn.Module, name, nb_classes, input_shape, mean, std, cifar_stem, model_kwargs
) -> ModelSpec:
    given = {
        "name": name,
        "num_classes": nb_classes,
        "input_shape": tuple(input_shape) if input_shape is not None else None,
        "mean": tuple(mean) if mean is not None else None,
        "std": tuple(std) if std is not None else None,
        "cifar_stem": cifar_stem,
        "model_kwargs": model_kwargs,
    }
    overrides = {key: value for key, value in given.items() if value is not None}
    attached = model_spec(module)
    if attached is not None:
        return replace(attached, **overrides)
    required = ("num_classes", "input_shape", "mean", "std")
    missing = [key for key in required if key not in overrides]
    if missing:
        raise ValueError(f"save_classifier needs {missing} for a model not built by timm_classifier")
    return ModelSpec(**{"cifar_stem": False, "model_kwargs": {}, "name": None, **overrides})


def _write_atomically(writers: dict[Path, Callable[[str], None]]) -> None:
    """Write every file to a temporary sibling, then move them all into place with ``os.replace``."""
    temps: dict[Path, str] = {}
    try:
        for target, write in writers.items():
            temps[target] = str(target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp"))
            write(temps[target])
        for target, tmp in temps.items():
            os.replace(tmp, target)
    finally:
        for tmp in temps.values():
            if os.path.exists(tmp):
                os.unlink(tmp)


def _weights_path(path: Path) -> Path:
    if path.is_dir():
        path = path / RUN_FOLDER_WEIGHTS
    path = path.with_suffix(".safetensors")
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint weights not found: {path}")
    return path


def _version() -> str:
    try:
        return metadata.version("art-bmtad")
    except metadata.PackageNotFoundError:
        return "unknown"
