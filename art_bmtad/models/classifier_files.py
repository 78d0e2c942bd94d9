"""Safe checkpoint loading and saving: safetensors, or ``torch.load(weights_only=True)``; never pickle.

Loading accepts ``.safetensors`` files and ``.pt`` / ``.pth`` / ``.bin`` / ``.ckpt`` files whose
content is tensors in plain containers. A file that needs pickle to restore other objects
(code, custom classes, ``argparse.Namespace`` ...) is refused, and nothing in it is executed.
Wrapped layouts are unwrapped: ``{"state_dict": ...}``, ``{"model": ...}``,
``{"model_state_dict": ...}``, ``{"net": ...}``, RobustBench's ``{"last": ...}``, and key prefixes
``module.`` (DataParallel / DDP) and ``_orig_mod.`` (``torch.compile``); RobustBench's
``model.`` prefix is removed by :func:`load_weights` when the target model's keys lack it.

Saving writes ``<stem>.safetensors`` plus ``<stem>.json`` (the sidecar: the
:class:`~art_bmtad.models.spec.ModelSpec` fields, i.e. the registry name of the architecture and its
arguments, the art-bmtad version and any extra metadata), each atomically, so that a saved student or
teacher of any registered zoo reloads with one call to :func:`load_classifier`, which rebuilds the model
through the registry. The sidecar is checked field by field before anything is built. A plain weight file
without a sidecar loads when the caller names its architecture (``arch=``).

A plain ``nn.Module`` gets a rebuildable sidecar by naming its builder: register a factory through the
``art_bmtad_register_models`` hook (or a zoo) and pass ``name=`` (and ``model_kwargs=``) to :func:`save_classifier`.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import pickle
from dataclasses import asdict, replace
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping

import safetensors.torch
import torch
from art.estimators.classification import PyTorchClassifier
from safetensors import SafetensorError
from torch import nn

from art_bmtad.models.classifier import create_classifier, model_spec
from art_bmtad.models.spec import ModelSpec, spec_from_dict
from art_bmtad.run.files import atomic_path
from art_bmtad.utils.json_documents import read_json_document
from art_bmtad.utils.state_dicts import check_compatible

TORCH_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")
WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "net", "last")
WRAPPER_PREFIXES = ("module.", "_orig_mod.")
ROBUSTBENCH_PREFIX = "model."
RUN_FOLDER_WEIGHTS = "student.safetensors"
FORMAT = "art-bmtad-checkpoint/2"
LEGACY_FORMAT = "art-bmtad-checkpoint/1"
"""Sidecars of art-bmtad before model zoos: a bare timm name and a separate ``cifar_stem`` field; still read."""
SIDECAR_FIELDS = ("format", "art_bmtad_version", "extra")
"""Sidecar keys besides the :class:`ModelSpec` fields."""


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
    model_kwargs: dict[str, Any] | None = None,
    **extra_meta: Any,
) -> Path:
    """Save weights as ``<stem>.safetensors`` and the sidecar as ``<stem>.json``, atomically.

    Both files are first written to temporary files in the same folder, fsynced and only then moved into place
    (:func:`art_bmtad.run.files.atomic_path`), so a failed save leaves earlier files intact. What is not given here
    is taken from the :class:`ModelSpec` that :func:`~art_bmtad.models.classifier.create_classifier` attached to the
    model.

    Args:
        classifier_or_module: an ART ``PyTorchClassifier`` or its ``nn.Module``.
        path: target path; the suffix is replaced by ``.safetensors`` and ``.json``.
        name: registry name of the architecture (a zoo model or a single registered model), so that
            :func:`load_classifier` can rebuild it; stored qualified (``"resnet18"`` -> ``"timm/resnet18"``).
        nb_classes: number of classes.
        input_shape: shape of one input, (C, H, W).
        mean: per-channel normalisation mean.
        std: per-channel normalisation standard deviation.
        model_kwargs: the arguments the architecture was created with (JSON scalars), e.g. ``{"cifar_stem": True}``.
        **extra_meta: JSON-serialisable metadata stored under ``"extra"`` (e.g. training config).

    Returns:
        Path of the ``.safetensors`` file.

    Raises:
        ValueError: metadata missing and not attached to the model, or not valid for a sidecar (names the field).
        UnknownNameError: ``name`` is not registered.
    """
    module = classifier_or_module.model if isinstance(classifier_or_module, PyTorchClassifier) else classifier_or_module
    spec = _spec_for_saving(module, name, nb_classes, input_shape, mean, std, model_kwargs)
    weights_path = Path(path).with_suffix(".safetensors")
    weights_path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {key: value.detach().to("cpu", copy=True).contiguous() for key, value in module.state_dict().items()}
    meta = {"format": FORMAT, **asdict(spec), "art_bmtad_version": _version(), "extra": extra_meta}
    spec_from_dict(json.loads(json.dumps(meta)), "save_classifier", ignored=SIDECAR_FIELDS)  # reloadable as written
    text = json.dumps(meta, indent=2, sort_keys=True)
    with contextlib.ExitStack() as files:  # both written before either replaces its earlier version
        sidecar = files.enter_context(atomic_path(weights_path.with_suffix(".json")))
        weights = files.enter_context(atomic_path(weights_path))
        weights.write_bytes(safetensors.torch.save(tensors))  # save_file would make it 0600
        sidecar.write_text(text)
    return weights_path


def load_classifier(
    path: str | Path, *, arch: str | None = None, device: str | torch.device = "auto", **options: Any
) -> PyTorchClassifier:
    """Rebuild a saved classifier through the registry and load its weights.

    Args:
        path: a weight file (``.safetensors``, ``.pt``, ``.pth``, ``.bin``, ``.ckpt``) with its sidecar ``.json``
            of the same stem, the sidecar itself, or a run folder holding ``student.safetensors``; with ``arch``,
            a weight file without sidecar.
        arch: the registry name of the architecture of a plain weight file without a sidecar, e.g.
            ``"robustbench/Zhang2019Theoretically"``; the classifier is then built as
            :func:`~art_bmtad.models.classifier.create_classifier` builds it: sizes from ``options`` (e.g.
            ``dataset=``), else from the zoo's :class:`~art_bmtad.models.zoo.ModelCfg`; normalisation from
            ``options``, else the zoo's (as for its published weights), else the dataset's.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        **options: with ``arch`` only: options of ``create_classifier`` (``dataset``, ``num_classes``,
            ``mean``, ``std``, model options).

    Returns:
        The classifier, in eval mode.

    Raises:
        FileNotFoundError: the weights or their sidecar are missing.
        ValueError: the sidecar is not an art-bmtad checkpoint description, a field is invalid (named), it names
            no architecture, or the weights do not match the model.
        UnknownNameError: the architecture is not registered (e.g. its zoo's plugin is not installed).
    """
    weights_path = _weights_path(Path(path))
    if arch is not None:
        defaults = {"dataset": None, "zoo_normalisation": True, "device": device}  # weights as the zoo publishes them
        classifier = create_classifier(arch, **{**defaults, **options})
    else:
        if options:
            raise ValueError(f"options {sorted(options)} apply to a plain weight file with arch=; a sidecar has them")
        if not weights_path.with_suffix(".json").is_file():
            raise FileNotFoundError(f"{weights_path} has no sidecar {weights_path.with_suffix('.json')}: name its "
                                    "architecture with arch=<registry name> (art-bmtad eval --arch NAME)")
        spec = read_spec(weights_path)
        if spec.name is None:
            raise ValueError(f"{weights_path.with_suffix('.json')} names no architecture (field 'name' is null): "
                             "load it with arch=<registry name> (eval --arch), or save it with name=")
        classifier = _build_described(spec, weights_path.with_suffix(".json"), device)
        try:
            load_weights(classifier.model, weights_path)
        except ValueError as err:
            raise ValueError(f"{err} (the model built as {weights_path.with_suffix('.json')} describes it: "
                             f"{_described(spec)})") from err
        return classifier
    load_weights(classifier.model, weights_path)
    classifier.model.eval()
    return classifier


def _build_described(spec: ModelSpec, source: Path, device: str | torch.device) -> PyTorchClassifier:
    """The classifier a checked description names; a field its architecture refuses (an unknown model option, one
    of the wrong type, an input shape or class count the architecture cannot take) is named with ``source``."""
    from art_bmtad.registry import UnknownNameError

    try:
        classifier = create_classifier(spec.name, dataset=None, num_classes=spec.num_classes,
                                       input_size=spec.input_shape, mean=spec.mean, std=spec.std, device=device,
                                       **spec.model_kwargs)
        classifier.model.eval()
        with torch.no_grad():  # some options are only read in forward (e.g. timm's drop_rate)
            shape = tuple(classifier.model(torch.zeros(1, *spec.input_shape, device=classifier.device)).shape)
    except UnknownNameError as err:
        raise UnknownNameError(f"{source}: field 'name': {err}") from err
    except (TypeError, ValueError, KeyError, AssertionError, RuntimeError) as err:
        raise ValueError(f"{source}: its architecture {spec.name!r} refuses the fields it describes "
                         f"({_described(spec)}): {type(err).__name__}: {err}") from err
    if shape != (1, spec.num_classes):
        raise ValueError(f"{source}: its architecture {spec.name!r} gives outputs of shape {shape} for one image, not "
                         f"(1, {spec.num_classes}) as the fields it describes say ({_described(spec)})")
    return classifier


def _described(spec: ModelSpec) -> str:
    kwargs = f"model_kwargs {spec.model_kwargs}, " if spec.model_kwargs else ""
    return f"{kwargs}num_classes {spec.num_classes}, input_shape {list(spec.input_shape)}"


def read_spec(path: str | Path) -> ModelSpec:
    """The :class:`ModelSpec` in a checkpoint's sidecar, every field checked (sidecars of earlier versions too).

    Raises:
        FileNotFoundError: the sidecar is missing.
        ValueError: not a sidecar, or a field of the wrong type or value (named).
    """
    json_path = Path(path).with_suffix(".json")
    meta = read_metadata(json_path)
    if meta["format"] == LEGACY_FORMAT:
        meta = _upgrade_legacy(meta, json_path)
    return spec_from_dict(meta, str(json_path), ignored=SIDECAR_FIELDS)


def read_metadata(path: str | Path) -> dict[str, Any]:
    """Read the sidecar JSON written next to a checkpoint by :func:`save_classifier`.

    Args:
        path: The ``.safetensors`` file or its ``.json``.

    Returns:
        The metadata (fields unchecked; :func:`read_spec` checks them).

    Raises:
        FileNotFoundError: The JSON is missing.
        ValueError: It is not valid JSON or not an art-bmtad checkpoint description.
    """
    json_path = Path(path).with_suffix(".json")
    missing = f"checkpoint metadata not found: {json_path}"
    what = "art-bmtad checkpoint description"
    try:
        return read_json_document(json_path, FORMAT, what, missing)
    except ValueError as current:
        try:
            return read_json_document(json_path, LEGACY_FORMAT, what, missing)
        except ValueError:
            raise current from None


def _upgrade_legacy(meta: dict[str, Any], source: Path) -> dict[str, Any]:
    """A format-1 sidecar in today's terms: its ``cifar_stem`` field becomes a timm model option."""
    meta = dict(meta)
    stem = meta.pop("cifar_stem", False)
    if not isinstance(stem, bool):
        raise ValueError(f"{source}: field 'cifar_stem' must be true or false, got {stem!r}")
    kwargs = meta.get("model_kwargs", {})
    if stem and isinstance(kwargs, dict):
        meta["model_kwargs"] = {**kwargs, "cifar_stem": True}
    return meta


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


def _spec_for_saving(module: nn.Module, name, nb_classes, input_shape, mean, std, model_kwargs) -> ModelSpec:
    from art_bmtad.registry import qualified_name

    given = {
        "name": qualified_name(name) if name is not None else None,
        "num_classes": nb_classes,
        "input_shape": tuple(input_shape) if input_shape is not None else None,
        "mean": tuple(mean) if mean is not None else None,
        "std": tuple(std) if std is not None else None,
        "model_kwargs": model_kwargs,
    }
    overrides = {key: value for key, value in given.items() if value is not None}
    attached = model_spec(module)
    if attached is not None:
        return replace(attached, **overrides)
    required = ("num_classes", "input_shape", "mean", "std")
    missing = [key for key in required if key not in overrides]
    if missing:
        raise ValueError(f"save_classifier needs {missing} for a model not built by create_classifier")
    return ModelSpec(**{"model_kwargs": {}, "name": None, **overrides})


def _weights_path(path: Path) -> Path:
    """The weight file ``path`` names: a run folder's student, a ``.pt``/``.pth``/``.bin``/``.ckpt`` file as
    given, else the ``.safetensors`` file of that stem (so a sidecar ``.json`` names its weights)."""
    if path.is_dir():
        path = path / RUN_FOLDER_WEIGHTS
    elif path.suffix not in TORCH_SUFFIXES:
        path = path.with_suffix(".safetensors")
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint weights not found: {path}")
    return path


def _version() -> str:
    try:
        return metadata.version("art-bmtad")
    except metadata.PackageNotFoundError:
        return "unknown"
