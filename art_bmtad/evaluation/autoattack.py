"""AutoAttack (Croce & Hein, 2020, https://arxiv.org/abs/2003.01690) assembled from ART's attack classes.

Two variants, and a report always says which one ran:

``standard``
    The version papers report: APGD-CE, then APGD-T with the targeted DLR loss against the 9 most likely
    wrong classes (one run each), then FAB-T, then Square with 5,000 queries; every sub-attack runs only on
    the examples that all earlier ones left robust, so the result is the worst case per example. APGD and
    Square are ART's classes (``AutoProjectedGradientDescent``, ``SquareAttack``); APGD-T attacks a view of
    the classifier whose loss is :class:`~art_bmtad.evaluation.objectives.TargetedDLRLoss`. **ART has no FAB
    attack** (``FeatureAdversariesPyTorch`` is a feature-matching attack, not FAB), so FAB-T is skipped and the
    report says so; the number can only be equal to or above the full standard AutoAttack's.
``art-default``
    ART's own ``AutoAttack`` class with its default attacks: APGD-CE and APGD-DLR (untargeted, 5 restarts
    each), DeepFool, and Square (5 restarts). It is not the standard protocol and is offered only by name.

Note on ART's APGD in targeted mode: it keeps an example's adversarial version only if the prediction reached
the target class, where the reference implementation counts any misclassification.
"""
from __future__ import annotations

import math

import art
import numpy as np
from art.attacks.attack import EvasionAttack
from art.attacks.evasion import AutoAttack, AutoProjectedGradientDescent, SquareAttack

from art_bmtad.algorithm.adversarial import gradient_view
from art_bmtad.evaluation.objectives import TargetedDLRLoss
from art_bmtad.evaluation.report import AttackResult
from art_bmtad.evaluation.runner import AttackRunner
from art_bmtad.evaluation.settings import APGD_STEP_FACTOR, AUTOATTACK_VARIANTS, SQUARE_P_INIT, AttackSettings

VARIANTS = AUTOATTACK_VARIANTS

FAB_T_NOTE = (
    f"FAB-T skipped: ART {art.__version__} has no FAB attack, so AutoAttack from ART's attacks is APGD-CE, "
    "APGD-T and Square (not the standard protocol); its robust accuracy can only be equal to or above that of the "
    "full standard version (--autoattack-backend reference runs all four)."
)


def autoattack(runner: AttackRunner, points: np.ndarray, variant: str, settings: AttackSettings) -> AttackResult:
    """Run AutoAttack ``variant`` (``"standard"`` or ``"art-default"``) on the examples in ``points``.

    Raises:
        ValueError: unknown variant.
    """
    if variant == "standard":
        return standard(runner, points, settings)
    if variant == "art-default":
        return art_default(runner, points)
    raise ValueError(f"autoattack must be one of {VARIANTS}, got {variant!r}")


def standard_notes(runner: AttackRunner, settings: AttackSettings) -> list[str]:
    """What the standard assembly leaves out or changes for this classifier and these settings."""
    notes = [FAB_T_NOTE]
    if reason := _square_skip_reason(runner):
        notes.append(f"Square skipped: {reason}.")
    if (n_targets := _n_targets(runner, settings)) < settings.n_target_classes:
        notes.append(
            f"APGD-T attacks {n_targets} target class(es), not {settings.n_target_classes}: "
            f"the classifier has {runner.classifier.nb_classes} classes."
        )
    if budgets := settings.non_standard():
        notes.append("Non-standard AutoAttack budget: " + ", ".join(budgets) + ".")
    return notes


def standard(runner: AttackRunner, points: np.ndarray, settings: AttackSettings) -> AttackResult:
    """APGD-CE, APGD-T (targeted DLR), Square; each on the examples still robust (FAB-T: not in ART)."""
    parts = [apgd_ce(runner, points, settings)]
    parts.append(apgd_t(runner, parts[-1].robust, settings))
    if _square_skip_reason(runner) is None:
        parts.append(square(runner, parts[-1].robust, settings))
    seconds = sum(part.seconds or 0.0 for part in parts)
    label = f"AutoAttack (art, {settings.budget_label()} budget)"
    return AttackResult("autoattack", label, parts[-1].robust, seconds, int(points.sum()), parts)


def apgd_ce(runner: AttackRunner, points: np.ndarray, settings: AttackSettings) -> AttackResult:
    """APGD on cross-entropy, untargeted, one random start."""
    attack = _apgd(runner, runner.classifier, settings, targeted=False, loss_type="cross_entropy")
    robust, seconds = runner.attack("apgd-ce", attack, points)
    return AttackResult("apgd-ce", "APGD-CE", robust, seconds, int(points.sum()))


def apgd_t(runner: AttackRunner, points: np.ndarray, settings: AttackSettings) -> AttackResult:
    """APGD-T: one targeted-DLR run per target class, the k-th most likely wrong class on the clean input.

    Each run attacks only the examples that the earlier runs left robust.
    """
    view = gradient_view(runner.classifier, loss=TargetedDLRLoss())
    attack = _apgd(runner, view, settings, targeted=True, loss_type=None)
    ranked = np.argsort(-runner.logits(runner.x), axis=1, kind="stable")
    n_targets = _n_targets(runner, settings)
    robust, seconds = points, 0.0
    for rank in range(1, n_targets + 1):
        robust, run_seconds = runner.attack(f"apgd-t-{rank}", attack, robust, targets=ranked[:, rank])
        seconds += run_seconds
    return AttackResult("apgd-t", f"APGD-T (targets: {n_targets})", robust, seconds, int(points.sum()))


def square(runner: AttackRunner, points: np.ndarray, settings: AttackSettings) -> AttackResult:
    """Square: score-based random search on the margin loss, ``settings.square_queries`` queries, one restart."""
    attack = SquareAttack(
        runner.classifier,
        norm=runner.threat.art_norm,
        eps=runner.threat.eps,
        max_iter=settings.square_queries,
        p_init=SQUARE_P_INIT,
        nb_restarts=1,
        batch_size=runner.batch_size,
        verbose=False,
    )
    robust, seconds = runner.attack("square", attack, points)
    return AttackResult("square", f"Square ({settings.square_queries} queries)", robust, seconds, int(points.sum()))


def art_default(runner: AttackRunner, points: np.ndarray) -> AttackResult:
    """ART's ``AutoAttack`` with its default attacks; per sub-attack, the examples each one broke first.

    ART's class reports no time per sub-attack, so sub-attacks carry ``seconds=None``.
    """
    threat = runner.threat
    attack = AutoAttack(
        runner.classifier,
        norm=threat.art_norm,
        eps=threat.eps,
        eps_step=APGD_STEP_FACTOR * threat.eps,
        batch_size=runner.batch_size,
    )
    for sub in attack.attacks:
        if "verbose" in sub.attack_params:
            sub.set_params(verbose=False)
    robust, seconds = runner.attack("autoattack-art-default", attack, points, in_batches=False)
    return AttackResult(
        "autoattack", "AutoAttack (ART default)", robust, seconds, int(points.sum()), _art_parts(attack, points)
    )


def _art_parts(attack: AutoAttack, points: np.ndarray) -> list[AttackResult]:
    """Cumulative robust masks after each of ART's sub-attacks, from ``attack.best_attacks``."""
    broken_by = np.full(points.shape, AutoAttack.SAMPLE_DEFAULT)
    broken_by[np.flatnonzero(points)] = attack.best_attacks
    parts, robust = [], points.copy()
    for position, sub in enumerate(attack.attacks):
        n_attacked = int(robust.sum())
        robust = robust & (broken_by != position)
        parts.append(AttackResult(f"art-{position}", _art_label(sub), robust, None, n_attacked))
    return parts


def _art_label(attack: EvasionAttack) -> str:
    if isinstance(attack, AutoProjectedGradientDescent):
        return {"cross_entropy": "APGD-CE", "difference_logits_ratio": "APGD-DLR"}.get(attack.loss_type, "APGD")
    return type(attack).__name__


def _apgd(
    runner: AttackRunner, estimator, settings: AttackSettings, *, targeted: bool, loss_type: str | None
) -> AutoProjectedGradientDescent:
    return AutoProjectedGradientDescent(
        estimator,
        norm=runner.threat.art_norm,
        eps=runner.threat.eps,
        eps_step=APGD_STEP_FACTOR * runner.threat.eps,
        max_iter=settings.apgd_steps,
        targeted=targeted,
        nb_random_init=1,
        batch_size=runner.batch_size,
        loss_type=loss_type,
        verbose=False,
    )


def _n_targets(runner: AttackRunner, settings: AttackSettings) -> int:
    return min(settings.n_target_classes, runner.classifier.nb_classes - 1)


def _square_skip_reason(runner: AttackRunner) -> str | None:
    """Why ART's Square cannot attack these inputs, or ``None`` when it can.

    It needs (C, H, W) images; in Linf its first square must be smaller than the image (about 5 x 5 pixels or
    more), in L2 its initial 5 x 5 grid of tiles needs tiles of 2 pixels or more (10 x 10 or more); smaller
    images make it crash or produce NaN.
    """
    shape = tuple(runner.classifier.input_shape)
    if len(shape) != 3:
        return f"ART's Square attack needs image inputs (C, H, W), got input shape {shape}"
    height, width = shape[1:] if runner.classifier.channels_first else shape[:2]
    if runner.threat.norm == "inf" and round(math.sqrt(SQUARE_P_INIT * height * width)) >= min(height, width):
        return f"ART's Linf Square attack fails on images smaller than 5 x 5, got {height} x {width}"
    if runner.threat.norm == "2" and min(height, width) // 5 < 2:
        return f"ART's L2 Square attack produces NaN on images smaller than 10 x 10, got {height} x {width}"
    return None
