"""The threat model and the attack budgets of the evaluation protocol, with their units, in one place.

The protocol (``bmtard-spec.md``, "Evaluation protocol"): Linf, eps = 8/255; FGSM one step without random
start; PGD-20 and CW-inf (PGD on the CW margin loss, 30 steps) with step 2/255 = eps / 4 and a uniform random
start; AutoAttack standard (APGD-CE, APGD-T with 9 target classes, FAB-T, Square with 5,000 queries).
In L2 the same fractions of eps are used (default eps = 0.5, step 0.125).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

ATTACKS = ("clean", "fgsm", "pgd20", "cw", "autoattack")
"""Attack keys, in the order of the protocol's table. ``"clean"`` is always evaluated."""
AUTOATTACK_VARIANTS = ("standard", "art-default")
"""AutoAttack as assembled from ART's attacks (:mod:`~.autoattack`); see :data:`AUTOATTACK_BACKENDS`."""
AUTOATTACK_BACKENDS = ("art", "reference")
"""Who runs AutoAttack: ``art``, the suite assembled from ART's attacks (:mod:`~.autoattack`), or ``reference``,
Croce & Hein's own code as RobustBench runs it (the ``pyautoattack`` package, :mod:`~.reference_autoattack`)."""

REFERENCE_PACKAGE = "pyautoattack"
"""Croce & Hein's AutoAttack on PyPI (the optional extra ``autoattack``)."""


def check_reference_available() -> None:
    """Raise ``ValueError`` naming the install command when the reference AutoAttack is not installed."""
    import importlib.util

    if importlib.util.find_spec(REFERENCE_PACKAGE) is None:
        raise ValueError("the reference AutoAttack backend needs Croce & Hein's code: pip install "
                         f"'art-bmtad[autoattack]' (the {REFERENCE_PACKAGE} package)")


NORMS = ("inf", "2")
DEFAULT_EPS = {"inf": 8 / 255, "2": 0.5}

PGD_STEPS = 20
"""Steps of the PGD-20 attack."""
CW_STEPS = 30
"""Steps of PGD on the CW margin loss."""
STEP_FRACTION = 0.25
"""PGD and CW step size as a fraction of eps (2/255 for eps = 8/255)."""
APGD_STEP_FACTOR = 2.0
"""APGD's initial step size as a multiple of eps (AutoAttack's choice)."""
SQUARE_P_INIT = 0.8
"""Square's initial fraction of pixels changed per query (AutoAttack's choice)."""
SANITY_PGD_STEPS = 50
"""Steps of the stronger PGD that the "more steps" sanity check compares with PGD-20."""
SANITY_EPS_FACTOR = 2.0
"""The "larger eps" sanity check attacks with this multiple of eps."""


def parse_norm(norm: str | int | float) -> str:
    """``"inf"`` or ``"2"`` from the spellings users type (``"inf"``, ``"linf"``, ``np.inf``, ``2``, ``"l2"``).

    Raises:
        ValueError: any other norm.
    """
    text = str(norm).lower().removeprefix("l")
    if text in ("inf", "2", "2.0"):
        return "inf" if text == "inf" else "2"
    raise ValueError(f"norm must be 'inf' or 2, got {norm!r}")


@dataclass(frozen=True)
class ThreatModel:
    """A perturbation budget: ``||x_adv - x||_norm <= eps`` inside the classifier's clip values.

    Attributes:
        norm: ``"inf"`` or ``"2"``.
        eps: the radius, in the units of the inputs (clip-value space, usually [0, 1]).
    """

    norm: str
    eps: float

    @classmethod
    def create(cls, norm: str | int | float, eps: float | None, clip_values: tuple[float, float]) -> ThreatModel:
        """Checked threat model; ``eps=None`` takes the norm's default (8/255 in Linf, 0.5 in L2).

        Raises:
            ValueError: unknown norm, or eps not in ``(0, clip range]``.
        """
        import numpy as np

        norm = parse_norm(norm)
        eps = DEFAULT_EPS[norm] if eps is None else float(eps)
        span = float(np.max(clip_values[1]) - np.min(clip_values[0]))
        if not math.isfinite(eps) or not 0 < eps <= span:
            raise ValueError(f"eps must be in (0, {span:g}] (the clip-value range), got {eps}")
        return cls(norm, eps)

    @property
    def art_norm(self) -> float:
        """The norm as ART's attacks take it (``np.inf`` or ``2``)."""
        return math.inf if self.norm == "inf" else 2

    @property
    def pgd_step(self) -> float:
        """Step size of PGD-20 and CW: eps / 4."""
        return self.eps * STEP_FRACTION

    def scaled(self, factor: float) -> ThreatModel:
        """The same norm with ``factor * eps``."""
        return ThreatModel(self.norm, self.eps * factor)

    def describe(self) -> str:
        """E.g. ``"Linf, eps = 8/255"`` or ``"L2, eps = 0.5"``."""
        return f"L{self.norm}, eps = {format_eps(self.eps)}"


def format_eps(eps: float) -> str:
    """``8/255`` when eps is a whole number of 255ths up to 64/255 (as papers write them), else a short decimal."""
    steps = round(eps * 255)
    if 0 < steps <= 64 and abs(steps - eps * 255) < 1e-6:
        return f"{steps}/255"
    return f"{eps:.4g}"


@dataclass(frozen=True)
class AttackSettings:
    """Budgets of AutoAttack and of the sanity checks; the defaults are the standard protocol.

    Smaller budgets make quick runs (tests, CPU smoke runs); a report names any non-standard budget.

    Attributes:
        apgd_steps: iterations of APGD-CE and of each APGD-T run (standard: 100).
        n_target_classes: target classes of APGD-T (standard: 9, capped at ``nb_classes - 1``).
        square_queries: queries of the Square attack (standard: 5,000).
        sanity_examples: the sanity checks attack the first this many examples.
        sanity_tolerance: a sanity check fails when the stronger attack leaves more than
            ``ceil(sanity_tolerance * n)`` more of the ``n`` sanity examples robust than the weaker one.
    """

    apgd_steps: int = 100
    n_target_classes: int = 9
    square_queries: int = 5000
    sanity_examples: int = 100
    sanity_tolerance: float = 0.02

    def __post_init__(self) -> None:
        for name in ("apgd_steps", "n_target_classes", "square_queries", "sanity_examples"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"AttackSettings.{name} must be an integer >= 1, got {value!r}")
        if not 0 <= self.sanity_tolerance < 1:
            raise ValueError(f"AttackSettings.sanity_tolerance must be in [0, 1), got {self.sanity_tolerance}")

    def non_standard(self) -> list[str]:
        """The AutoAttack budgets that differ from the standard version, as ``name=value (standard S)``."""
        standard = AttackSettings()
        return [
            f"{name}={getattr(self, name)} (standard {getattr(standard, name)})"
            for name in ("apgd_steps", "n_target_classes", "square_queries")
            if getattr(self, name) != getattr(standard, name)
        ]

    def to_dict(self) -> dict[str, int | float]:
        """The settings as a plain dict."""
        return dataclasses.asdict(self)

    def autoattack_budget(self) -> tuple[int, int, int]:
        """``(apgd_steps, n_target_classes, square_queries)``, what AutoAttack's cost and strength depend on."""
        return self.apgd_steps, self.n_target_classes, self.square_queries

    def budget_label(self) -> str:
        """``standard``, ``fast``, or the budget spelt out (``APGD 20 steps, 3 targets, Square 500 queries``)."""
        for name, settings in BUDGETS.items():
            if settings.autoattack_budget() == self.autoattack_budget():
                return name
        return f"APGD {self.apgd_steps} steps, {self.n_target_classes} targets, Square {self.square_queries} queries"


BUDGETS = {
    "standard": AttackSettings(),
    "fast": AttackSettings(apgd_steps=10, n_target_classes=3, square_queries=100),
}
"""Named AutoAttack budgets: the standard protocol, and a fast one for quick looks (never report it as standard)."""
SQUARE_QUERIES_PER_APGD_STEP = 50
"""A budget given as N APGD steps gives Square 50 N queries (the standard's 5,000 for 100 steps)."""


def parse_budget(text: str, base: AttackSettings | None = None) -> AttackSettings:
    """The AutoAttack budget ``standard``, ``fast`` or ``N`` (APGD steps; Square gets 50 N queries, APGD-T the
    standard 9 targets), on top of ``base``'s sanity-check settings.

    Raises:
        ValueError: anything else, or N < 1.
    """
    base = base or AttackSettings()
    text = str(text).strip().lower()
    if text in BUDGETS:
        steps, targets, queries = BUDGETS[text].autoattack_budget()
    elif text.isdigit() and int(text) >= 1:
        steps, targets, queries = int(text), AttackSettings.n_target_classes, SQUARE_QUERIES_PER_APGD_STEP * int(text)
    else:
        raise ValueError(f"AutoAttack budget must be {', '.join(BUDGETS)} or a number of APGD steps >= 1, "
                         f"got {text!r}")
    return dataclasses.replace(base, apgd_steps=steps, n_target_classes=targets, square_queries=queries)
