"""Range checks of single values, each raising a :class:`~art_bmtad.utils.errors.ConfigError` that names the key."""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from art_bmtad.utils.errors import ConfigError


def one_of(key: str, value: Any, allowed: Sequence[Any]) -> None:
    """``value`` must be one of ``allowed`` (``None`` shown as ``null``)."""
    if value not in allowed:
        shown = ", ".join("null" if item is None else str(item) for item in allowed)
        raise ConfigError(f"{key}: unknown value {value!r}; allowed: {shown}")


def positive(key: str, value: int) -> None:
    """An integer >= 1."""
    if value < 1:
        raise ConfigError(f"{key}: expected an integer >= 1, got {value}")


def at_least(key: str, value: float, low: float, *, strict: bool = False) -> None:
    """A number >= ``low`` (> ``low`` when ``strict``)."""
    if value < low or (strict and value == low):
        raise ConfigError(f"{key}: expected a number {'>' if strict else '>='} {low}, got {value}")


def check_finite(values: Any, key: str) -> None:
    """Every number in nested mappings and lists is finite (YAML reads ``.inf`` and ``.nan`` as numbers)."""
    if isinstance(values, Mapping):
        for name, value in values.items():
            check_finite(value, f"{key}.{name}" if key else name)
    elif isinstance(values, list):
        for index, value in enumerate(values):
            check_finite(value, f"{key}[{index}]")
    elif isinstance(values, float) and not math.isfinite(values):
        raise ConfigError(f"{key}: expected a finite number, got {values}")


def check_threat(eps: float, eps_step: float, max_iter: int, *, prefix: str) -> None:
    """An Linf threat model that means something in [0, 1] pixel units.

    Args:
        eps: the radius, in (0, 1].
        eps_step: the PGD step, in (0, eps].
        max_iter: PGD steps, >= 1.
        prefix: the key or option group the values came from, for messages (e.g. ``"threat"``).

    Raises:
        ConfigError: naming the value and the allowed range.
    """
    for key, value in (("eps", eps), ("eps_step", eps_step)):
        if not math.isfinite(value):
            raise ConfigError(f"{prefix}.{key}: expected a finite number, got {value}")
    if not 0 < eps <= 1:
        raise ConfigError(f"{prefix}.eps: expected a radius in (0, 1] pixel units (e.g. 8/255), got {eps}")
    if not 0 < eps_step <= eps:
        raise ConfigError(f"{prefix}.eps_step: expected a step in (0, eps={eps:.6g}], got {eps_step:.6g}")
    positive(f"{prefix}.max_iter", max_iter)
