"""Which of a study's trials count: the scored ones, the Pareto front, the best one (for the progress line and
the report)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from art_bmtad.tuning.objective import Objective

if TYPE_CHECKING:
    import optuna


def short_name(key: str) -> str:
    """``balancing.temperature_lr`` -> ``temperature_lr``."""
    return key.rpartition(".")[2]


def scored_trials(study: "optuna.Study") -> list["optuna.trial.FrozenTrial"]:
    """Complete trials with validation scores."""
    from optuna.trial import TrialState

    return [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]


def pareto_front(trials: list["optuna.trial.FrozenTrial"]) -> list["optuna.trial.FrozenTrial"]:
    """The trials no other trial beats on both validation clean and PGD accuracy, by clean accuracy."""
    points = [(t.user_attrs["val_clean_acc"], t.user_attrs["val_pgd_acc"]) for t in trials]
    front = [t for t, (c, r) in zip(trials, points)
             if not any(c2 >= c and r2 >= r and (c2, r2) != (c, r) for c2, r2 in points)]
    return sorted(front, key=lambda t: t.user_attrs["val_clean_acc"])


def best_trial(study: "optuna.Study", objective: Objective) -> "optuna.trial.FrozenTrial | None":
    """The complete trial with the best weighted score (for a pareto study: on its front); ``None`` before any."""
    trials = scored_trials(study)
    candidates = pareto_front(trials) if objective.multi else trials
    if not candidates:
        return None
    return max(candidates, key=lambda t: (objective.score(t.user_attrs["val_clean_acc"], t.user_attrs["val_pgd_acc"]),
                                          -t.number))
