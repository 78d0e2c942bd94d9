""":class:`ModelSpec`: what rebuilds a classifier (the checkpoint sidecar holds exactly these fields), checked
field by field when read back so that saved weights never load into a different architecture silently.

A light module (no torch): the sidecar is validated before anything is built.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

SCALARS = (str, int, float, bool, type(None))
"""JSON values a ``model_kwargs`` entry may hold (or a list of them)."""
SPEC_FIELDS = ("name", "num_classes", "input_shape", "mean", "std", "model_kwargs")
CLASSIFIER_ARGUMENTS = frozenset({"model", "dataset", "num_classes", "input_size", "mean", "std", "pretrained",
                                  "weights", "download", "lr", "momentum", "weight_decay", "optimizer", "device",
                                  "channels_last", "zoo_normalisation"})
"""The arguments :func:`~art_bmtad.models.classifier.create_classifier` takes itself, which a description's other
fields or its loader set: never model options in ``model_kwargs``."""


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to rebuild a classifier.

    Attributes:
        name: the registry name of the architecture (``"timm/resnet18"``, ``"cifar/resnet56"``, a single
            registered model's name), or ``None`` for a module the registry cannot rebuild.
        num_classes: number of classes.
        input_shape: shape of one input, (C, H, W).
        mean: per-channel normalisation mean (applied inside the classifier), in [0, 1] pixel units.
        std: per-channel normalisation standard deviation.
        model_kwargs: the other arguments the model was created with (e.g. ``{"cifar_stem": true}`` for timm).
    """

    name: str | None
    num_classes: int
    input_shape: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    model_kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        channels = self.input_shape[0]
        if len(self.mean) != channels or len(self.std) != channels:
            raise ValueError(f"mean {self.mean} and std {self.std} need one value per channel "
                             f"({channels} input channels)")
        if min(self.std) <= 0:
            raise ValueError(f"std must be positive, got {self.std}")


def spec_from_dict(values: Mapping[str, Any], source: str, *, ignored: tuple[str, ...] = ()) -> ModelSpec:
    """A :class:`ModelSpec` from its JSON form, every field checked.

    Args:
        values: the JSON object (``name``, ``num_classes``, ``input_shape``, ``mean``, ``std``, ``model_kwargs``).
        source: where it was read, for messages (e.g. the sidecar's path).
        ignored: further keys that may be present and are not part of the spec (e.g. ``format``).

    Returns:
        The spec.

    Raises:
        ValueError: an unknown key, a missing field, or a field of the wrong type or value; the message
            names the field and ``source``.
    """
    allowed = {*SPEC_FIELDS, *ignored}
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise ValueError(f"{source}: unknown fields {unknown}; allowed: {sorted(allowed)}")
    missing = [key for key in ("num_classes", "input_shape", "mean", "std") if key not in values]
    if missing:
        raise ValueError(f"{source}: missing fields {missing}")

    def fail(key: str, expected: str) -> ValueError:
        return ValueError(f"{source}: field {key!r} must be {expected}, got {values[key]!r}")

    name = values.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise fail("name", "a registry model name (a non-empty string) or null")
    if not _is_int(values["num_classes"]) or values["num_classes"] < 1:
        raise fail("num_classes", "an integer > 0")
    shape = values["input_shape"]
    if not isinstance(shape, (list, tuple)) or len(shape) != 3 or not all(_is_int(v) and v > 0 for v in shape):
        raise fail("input_shape", "3 integers > 0, [C, H, W]")
    for key in ("mean", "std"):
        numbers = values[key]
        if not isinstance(numbers, (list, tuple)) or len(numbers) != shape[0] or not all(
                _is_number(v) for v in numbers):
            raise fail(key, f"{shape[0]} finite numbers (one per input channel)")
    if min(values["std"]) <= 0:
        raise fail("std", "positive numbers")
    kwargs = values.get("model_kwargs", {})
    if not isinstance(kwargs, Mapping) or not all(
            isinstance(key, str) and _is_json_scalar_or_list(value) for key, value in kwargs.items()):
        raise ValueError(f"{source}: field 'model_kwargs' must be an object of JSON scalars (strings, numbers, "
                         f"booleans, null, or lists of them), got {kwargs!r}")
    clashing = sorted(set(kwargs) & (CLASSIFIER_ARGUMENTS | set(SPEC_FIELDS)))
    if clashing:
        raise ValueError(f"{source}: field 'model_kwargs' holds {clashing}, which are not model options (the "
                         "description's own fields, or the loader, set them); remove them from model_kwargs")
    return ModelSpec(
        name=name,
        num_classes=int(values["num_classes"]),
        input_shape=tuple(int(v) for v in shape),
        mean=tuple(float(v) for v in values["mean"]),
        std=tuple(float(v) for v in values["std"]),
        model_kwargs={key: list(value) if isinstance(value, (list, tuple)) else value for key, value in kwargs.items()},
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_json_scalar_or_list(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return all(isinstance(item, SCALARS) for item in value)
    return isinstance(value, SCALARS)
