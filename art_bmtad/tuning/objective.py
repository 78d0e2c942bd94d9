"""What a study maximises: a weighted sum of validation clean and PGD accuracy, or both at once (a Pareto front)."""
from __future__ import annotations

from dataclasses import dataclass

from art_bmtad.utils.errors import ConfigError

WEIGHTED, PARETO = "weighted", "pareto"


@dataclass(frozen=True)
class Objective:
    """The study's objective.

    Attributes:
        kind: ``weighted`` (one value, ``clean_weight * clean + (1 - clean_weight) * pgd``; trials can be pruned)
            or ``pareto`` (two values, clean and PGD accuracy, searched with NSGA-II; Optuna cannot prune
            multi-objective studies, so every trial runs all its epochs).
        clean_weight: the weight of clean accuracy in ``[0, 1]``; a ``pareto`` study uses it only to pick the one
            recipe it writes as ``config.yaml`` from its Pareto front.
    """

    kind: str = WEIGHTED
    clean_weight: float = 0.5

    def __post_init__(self) -> None:
        if self.kind not in (WEIGHTED, PARETO):
            raise ConfigError(f"--objective: unknown value {self.kind!r}; allowed: {WEIGHTED}, {PARETO}")
        if not 0 <= self.clean_weight <= 1:
            raise ConfigError(f"--clean-weight {self.clean_weight}: must lie in [0, 1]")

    @property
    def multi(self) -> bool:
        """Whether the study has two objectives."""
        return self.kind == PARETO

    @property
    def directions(self) -> list[str]:
        """Optuna's study directions."""
        return ["maximize", "maximize"] if self.multi else ["maximize"]

    def score(self, clean: float, robust: float) -> float:
        """The weighted sum of clean and robust accuracy."""
        return self.clean_weight * clean + (1 - self.clean_weight) * robust

    def values(self, clean: float, robust: float) -> tuple[float, ...]:
        """The trial's value(s) for Optuna."""
        return (clean, robust) if self.multi else (self.score(clean, robust),)

    def describe(self) -> str:
        """The objective in words."""
        weighted = (f"{self.clean_weight:g} x clean + {1 - self.clean_weight:g} x PGD accuracy on the validation "
                    "split")
        if self.multi:
            return (f"Pareto front of clean and PGD accuracy on the validation split (NSGA-II; config.yaml: the "
                    f"front's best {weighted})")
        return weighted
