"""The search space: which recipe keys a study varies, over which ranges, and how a trial's values become a recipe.

Keys are dotted recipe keys (``balancing.temperature_lr`` is the paper's eta_tau). The default space covers
B-MTARD's balance settings; for its relatives only the keys they use are kept. ``KEY=LOW:HIGH[:log]`` adds or
changes a range (e.g. ``schedule.lr=0.01:0.3:log``), ``KEY=fixed`` keeps the recipe's own value.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from art_bmtad.recipes.recipe import Recipe, merge_dotted, recipe_from_dict
from art_bmtad.utils.errors import ConfigError

if TYPE_CHECKING:
    import optuna

T_MIN, T_INIT, T_MAX = "balancing.t_min", "balancing.t_init", "balancing.t_max"


@dataclass(frozen=True)
class Range:
    """One searched recipe key: a float drawn from ``[low, high]``, on a log scale when ``log``."""

    key: str
    low: float
    high: float
    log: bool = False

    def to_text(self) -> str:
        """``KEY=LOW:HIGH[:log]``, the form :func:`parse_space` reads."""
        return f"{self.key}={self.low:g}:{self.high:g}" + (":log" if self.log else "")


DEFAULT_SPACE: tuple[Range, ...] = (
    Range("balancing.temperature_lr", 1e-4, 0.2, log=True),  # eta_tau (paper 0.001)
    Range("balancing.t_min", 0.3, 1.5),  # paper 1; below 1 a high-entropy teacher can be sharpened
    Range("balancing.t_init", 1.0, 4.0),  # paper 1
    Range("balancing.weight_lr", 1e-3, 0.5, log=True),  # eta_w (paper 0.025)
    Range("balancing.kl_scale", 1.0, 30.0, log=True),  # 1: the papers' CIFAR-10, 10: the released CIFAR-100
)
"""B-MTARD's balance settings and their default ranges."""

KEYS_USED = {
    "bmtard": {r.key for r in DEFAULT_SPACE},
    "mtard": {"balancing.weight_lr", "balancing.kl_scale"},
    "rslad": {"balancing.kl_scale"},
    "ard": {"balancing.kl_scale"},
}
"""The balancing keys each distillation defence reads (the others would be searched for nothing)."""


def parse_space(items: Sequence[str], defence: str) -> tuple[Range, ...]:
    """The default space of ``defence`` with ``KEY=LOW:HIGH[:log]`` and ``KEY=fixed`` changes applied.

    Args:
        items: changes, e.g. ``["schedule.lr=0.01:0.3:log", "balancing.t_init=fixed"]``.
        defence: a key of :data:`KEYS_USED`.

    Returns:
        The ranges, defaults first, added keys after them.

    Raises:
        ConfigError: an unknown defence, a malformed item, ``low > high``, a log range that is not positive, a
            key fixed that is not searched, or an empty space.
    """
    if defence not in KEYS_USED:
        raise ConfigError(f"--defence: tuning needs a distillation defence ({', '.join(KEYS_USED)}), not {defence!r}")
    space = {r.key: r for r in DEFAULT_SPACE if r.key in KEYS_USED[defence]}
    for item in items:
        key, sep, text = (part.strip() for part in item.partition("="))
        if not sep or not key:
            raise ConfigError(f"--space {item!r} must look like KEY=LOW:HIGH, KEY=LOW:HIGH:log or KEY=fixed")
        if text == "fixed":
            if key not in space:
                raise ConfigError(f"--space {item!r}: {key} is not searched; searched: {', '.join(space)}")
            del space[key]
            continue
        space[key] = parse_range(item)
    if not space:
        raise ConfigError("--space: every key is fixed; nothing left to search")
    return tuple(space.values())


def parse_range(item: str) -> Range:
    """``KEY=LOW:HIGH[:log]`` as a :class:`Range`.

    Raises:
        ConfigError: a malformed item, ``low > high`` or a log range that is not positive.
    """
    key, _, text = (part.strip() for part in item.partition("="))
    parts = text.split(":")
    log = len(parts) == 3 and parts[2] == "log"
    if len(parts) not in (2, 3) or (len(parts) == 3 and not log):
        raise ConfigError(f"--space {item!r} must look like KEY=LOW:HIGH, KEY=LOW:HIGH:log or KEY=fixed")
    try:
        low, high = float(parts[0]), float(parts[1])
    except ValueError as err:
        raise ConfigError(f"--space {item!r}: LOW and HIGH must be numbers") from err
    if not low <= high:
        raise ConfigError(f"--space {item!r}: LOW must not exceed HIGH")
    if log and low <= 0:
        raise ConfigError(f"--space {item!r}: a log range needs LOW > 0")
    return Range(key, low, high, log)


def suggest(trial: "optuna.Trial", space: Sequence[Range]) -> dict[str, float]:
    """Draw one value per range from the trial's sampler (parameter names are the recipe keys)."""
    return {r.key: trial.suggest_float(r.key, r.low, r.high, log=r.log) for r in space}


def apply_values(recipe: Recipe, values: Mapping[str, Any]) -> tuple[Recipe, dict[str, Any]]:
    """The recipe with ``values`` (dotted keys) set, and the values as applied.

    The initial temperature is kept inside ``[t_min, t_max]`` (B-MTARD refuses any other), so a drawn ``t_init``
    below the drawn ``t_min`` is applied as ``t_min``.

    Args:
        recipe: the base recipe (not changed).
        values: dotted recipe key -> value.

    Returns:
        The new recipe (checked like any recipe) and the applied values.

    Raises:
        ConfigError: a key that is not a recipe key, or a value of the wrong type for it.
    """
    applied = dict(values)
    t_min = applied.get(T_MIN, recipe.balancing.t_min)
    t_max = applied.get(T_MAX, recipe.balancing.t_max)
    if T_INIT in applied or T_MIN in applied or T_MAX in applied:
        t_init = applied.get(T_INIT, recipe.balancing.t_init)
        clipped = min(max(t_init, t_min), t_max)
        if T_INIT in applied or clipped != t_init:
            applied[T_INIT] = clipped
    return recipe_from_dict(merge_dotted(recipe.to_dict(), applied)), applied


def check_space(recipe: Recipe, space: Sequence[Range]) -> None:
    """Check, before any work, that every key is a float recipe key and both ends of each range give a valid
    recipe.

    Raises:
        ConfigError: names the key.
    """
    for bound in ("low", "high"):
        values = {r.key: getattr(r, bound) for r in space}
        try:
            apply_values(recipe, values)
        except ConfigError as err:
            raise ConfigError(f"--space: {err}") from err
