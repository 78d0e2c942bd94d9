"""Sanity checks that catch gradient masking (Athalye et al., 2018; Carlini et al., 2019, arXiv:1902.06705).

A stronger attack must never leave more examples robust than a weaker one. Three comparisons, on the first
``settings.sanity_examples`` evaluated examples so that the extra attacks stay cheap:

- ``more_steps``: PGD-50 against PGD-20 (more iterations of the same attack);
- ``larger_eps``: PGD-20 at 2 eps against PGD-20 at eps (the larger ball contains the smaller one);
- ``fgsm_vs_pgd``: PGD-20 against FGSM (the iterative attack contains the one-step attack's direction).

When one fails, the gradients the attacks follow do not lead to the model's errors (masked, shattered or
obfuscated gradients) and every gradient-based number in the report is suspect. Failures are logged as
warnings and put in a banner at the top of the Markdown report.
"""
from __future__ import annotations

import logging
import math
from typing import Callable

import numpy as np

from art_bmtad.evaluation import suite
from art_bmtad.evaluation.report import AttackResult, SanityCheck
from art_bmtad.evaluation.runner import AttackRunner
from art_bmtad.evaluation.settings import (
    PGD_STEPS,
    SANITY_EPS_FACTOR,
    SANITY_PGD_STEPS,
    AttackSettings,
    format_eps,
)

logger = logging.getLogger(__name__)


def run_checks(
    runner: AttackRunner, results: dict[str, AttackResult], settings: AttackSettings
) -> list[SanityCheck]:
    """Run the three checks; FGSM and PGD-20 results of the main evaluation are reused when present.

    Args:
        runner: the evaluation's attack runner.
        results: the main results so far, ``"clean"`` included.
        settings: gives the number of sanity examples and the tolerance.

    Returns:
        The checks, passed or failed; each failure has also been logged as a warning.
    """
    subset = np.arange(len(runner.x)) < settings.sanity_examples
    points = results["clean"].robust & subset
    threat, larger = runner.threat, runner.threat.scaled(SANITY_EPS_FACTOR)
    pgd20 = _reuse_or_run(results, "pgd20", lambda: suite.pgd(runner, points, threat, key="sanity-pgd20"))
    fgsm = _reuse_or_run(results, "fgsm", lambda: suite.fgsm(runner, points, threat, key="sanity-fgsm"))
    more_steps = suite.pgd(runner, points, threat, SANITY_PGD_STEPS, key="sanity-more-steps").robust
    larger_eps = suite.pgd(runner, points, larger, key="sanity-larger-eps").robust

    base_label = f"PGD-{PGD_STEPS} @ {format_eps(threat.eps)}"
    compare = _Comparison(subset, math.ceil(settings.sanity_tolerance * subset.sum()))
    checks = [
        compare(
            "more_steps",
            f"PGD-{SANITY_PGD_STEPS} must not leave more examples robust than PGD-{PGD_STEPS}",
            (f"PGD-{SANITY_PGD_STEPS}", more_steps),
            (f"PGD-{PGD_STEPS}", pgd20),
        ),
        compare(
            "larger_eps",
            f"PGD-{PGD_STEPS} at eps {format_eps(larger.eps)} must not leave more examples robust than at "
            f"eps {format_eps(threat.eps)}",
            (f"PGD-{PGD_STEPS} @ {format_eps(larger.eps)}", larger_eps),
            (base_label, pgd20),
        ),
        compare("fgsm_vs_pgd", f"FGSM must not be stronger than PGD-{PGD_STEPS}", (base_label, pgd20), ("FGSM", fgsm)),
    ]
    for check in checks:
        if not check.passed:
            logger.warning("SANITY CHECK FAILED (%s), possible gradient masking: %s", check.name, check.describe())
    return checks


def _reuse_or_run(results: dict[str, AttackResult], key: str, run: Callable[[], AttackResult]) -> np.ndarray:
    return results[key].robust if key in results else run().robust


class _Comparison:
    """Compares robust masks on the sanity subset, allowing ``allowed`` examples of slack, or more when the two
    attacks disagree on many examples.

    Attacks with random starts disagree on borderline examples by chance. If they were equally strong, the
    examples only the stronger one leaves robust would be half of the ``d`` disagreements, so the difference of
    the robust counts has a spread of about ``sqrt(d)``: a difference above ``2 sqrt(d)`` (a one-sided sign test
    at about 2 sigma) is evidence, a smaller one is noise. A masked model (say FGSM 100% robust, PGD 0%)
    disagrees everywhere in one direction and still fails.
    """

    def __init__(self, subset: np.ndarray, allowed: int) -> None:
        self.subset = subset
        self.allowed = allowed

    def __call__(
        self, name: str, rule: str, stronger: tuple[str, np.ndarray], weaker: tuple[str, np.ndarray]
    ) -> SanityCheck:
        """``stronger`` passes if it leaves at most the allowed slack more examples robust than ``weaker``."""
        n_stronger, n_weaker = (int(np.sum(mask & self.subset)) for _, mask in (stronger, weaker))
        disagreements = int(np.sum((stronger[1] != weaker[1]) & self.subset))
        n = int(self.subset.sum())
        return SanityCheck(
            name=name,
            rule=rule,
            passed=n_stronger - n_weaker <= max(self.allowed, math.ceil(2 * math.sqrt(disagreements))),
            accuracies={stronger[0]: n_stronger / n, weaker[0]: n_weaker / n},
            n_examples=n,
        )
