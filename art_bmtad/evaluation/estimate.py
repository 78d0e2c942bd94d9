"""A wall-clock estimate of an evaluation, from timing one batch first, printed before the expensive attacks.

Cost model: every attack costs a number of gradient passes (or, for Square, forward passes) per example it
attacks; the cost of one step is timed on one batch (PGD with 1 and with 5 steps), and the counts come from
the attacks' budgets:

- FGSM 1, PGD-20 20, CW-inf 30 gradient passes per example correct on the clean input;
- AutoAttack: APGD-CE ``apgd_steps`` on every correct example, then APGD-T ``apgd_steps`` per target class, FAB-T
  (reference backend) about ``2 * apgd_steps`` per target class, and Square ``square_queries`` forward passes,
  each on the examples still robust (taken as the PGD-20 robust count once known, else all correct ones: an
  upper bound);
- sanity checks: PGD-50 and PGD-20 at twice eps on ``sanity_examples`` examples.

Attacks stop early on examples they break (APGD, Square), so the figure is an upper bound on robust models' cost
and rough for the others; it is a guide for planning, not a measurement.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from art_bmtad.evaluation.settings import CW_STEPS, PGD_STEPS, SANITY_PGD_STEPS, AttackSettings

if TYPE_CHECKING:
    from art_bmtad.evaluation.runner import AttackRunner

CALIBRATION_STEPS = 4
"""Extra PGD steps timed to calibrate the cost of one gradient pass."""
FAB_PASSES_PER_STEP = 2
"""FAB's gradient passes per iteration and target class (the targeted Jacobian rows and a line search)."""


@dataclass(frozen=True)
class PassCost:
    """Seconds per example of one gradient pass inside an attack, and of one forward pass, timed on one batch."""

    gradient: float
    forward: float

    @classmethod
    def measure(cls, runner: AttackRunner) -> PassCost:
        """Time PGD with 1 and with 1 + ``CALIBRATION_STEPS`` steps on the first batch (the difference is the cost
        of the steps alone, without the per-call overhead), and one prediction, after a warm-up."""
        from art_bmtad.evaluation import suite

        x = runner.x[: runner.batch_size]
        y = runner.one_hot[: len(x)]
        view = suite.cross_entropy_view(runner.classifier)
        timed = []
        for steps in (1, 1, 1 + CALIBRATION_STEPS):  # the first call warms up
            attack = suite.projected_gradient(view, runner, runner.threat, steps)
            started = time.perf_counter()
            attack.generate(x, y=y)
            timed.append(time.perf_counter() - started)
        started = time.perf_counter()
        runner.logits(x)
        forward = time.perf_counter() - started
        gradient = max(timed[2] - timed[1], 0.0) / CALIBRATION_STEPS
        return cls(gradient / len(x), forward / len(x))


def autoattack_seconds(cost: PassCost, settings: AttackSettings, backend: str, n_correct: int, n_robust: int,
                       nb_classes: int) -> float:
    """Estimated seconds of AutoAttack on ``n_correct`` examples, ``n_robust`` of them left after APGD-CE."""
    targets = min(settings.n_target_classes, nb_classes - 1)
    steps = settings.apgd_steps
    gradient_passes = steps * n_correct + steps * targets * n_robust
    if backend == "reference":
        gradient_passes += FAB_PASSES_PER_STEP * steps * targets * n_robust
    return cost.gradient * gradient_passes + cost.forward * settings.square_queries * n_robust


def evaluation_seconds(cost: PassCost, attacks: Sequence[str], settings: AttackSettings, backend: str,
                       n_correct: int, nb_classes: int, sanity_checks: bool) -> float:
    """Estimated seconds of the whole evaluation after clean accuracy (AutoAttack's later parts at their upper
    bound: every correct example still robust)."""
    passes = {"fgsm": 1, "pgd20": PGD_STEPS, "cw": CW_STEPS}
    seconds = cost.gradient * n_correct * sum(passes.get(key, 0) for key in attacks)
    if "autoattack" in attacks:
        seconds += autoattack_seconds(cost, settings, backend, n_correct, n_correct, nb_classes)
    if sanity_checks:
        seconds += cost.gradient * min(settings.sanity_examples, n_correct) * (SANITY_PGD_STEPS + PGD_STEPS)
    return seconds


def format_seconds(seconds: float) -> str:
    """``45 s``, ``12 min`` or ``3.2 h``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
