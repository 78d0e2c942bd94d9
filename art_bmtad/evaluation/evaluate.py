"""``evaluate_robustness``: the protocol's attacks on one classifier, the worst case, per-class accuracy, checks."""
from __future__ import annotations

import contextlib
import importlib.metadata
import logging
from typing import Iterator, Sequence

import art
import numpy as np
import torch
from art.estimators.classification import PyTorchClassifier

from art_bmtad.algorithm.arguments import check_data
from art_bmtad.evaluation import autoattack as autoattack_module
from art_bmtad.evaluation import estimate, sanity, suite
from art_bmtad.evaluation.report import AttackResult, RobustnessReport, per_class_accuracy
from art_bmtad.evaluation.runner import AttackRunner
from art_bmtad.evaluation.settings import (
    ATTACKS,
    AUTOATTACK_BACKENDS,
    AttackSettings,
    ThreatModel,
    check_reference_available,
)

logger = logging.getLogger(__name__)



def evaluate_robustness(
    classifier: PyTorchClassifier,
    x: np.ndarray,
    y: np.ndarray,
    *,
    attacks: Sequence[str] = ATTACKS,
    eps: float | None = None,
    norm: str | int | float = "inf",
    n_examples: int | None = None,
    batch_size: int = 128,
    seed: int = 0,
    autoattack: str = "standard",
    sanity_checks: bool = True,
    settings: AttackSettings | None = None,
    class_names: Sequence[str] | None = None,
    backend: str = "art",
    progress: bool = False,
) -> RobustnessReport:
    """Evaluate a classifier under the protocol's attacks and return a report.

    Each single attack (FGSM, PGD-20, CW) runs on the examples that are correct on the clean input; AutoAttack's
    sub-attacks run in sequence, each on the examples still robust. The worst case counts an example as robust
    only if it is robust under every attack run. Repeated calls with the same arguments give identical numbers
    on CPU (every attack has its own seed derived from ``seed``).

    Args:
        classifier: an ART ``PyTorchClassifier`` that outputs logits, with ``clip_values`` (usually (0, 1)) and
            any normalisation inside its preprocessing or model.
        x: ``(N, *input_shape)`` inputs inside the clip values.
        y: ``(N,)`` class indices or ``(N, nb_classes)`` one-hot labels.
        attacks: keys from :data:`ATTACKS`, run in the order given.
        eps: perturbation budget in input units; ``None`` takes 8/255 in Linf and 0.5 in L2.
        norm: ``"inf"`` or ``2``.
        n_examples: evaluate the first ``n_examples`` examples (all when ``None`` or larger than ``N``).
        batch_size: batch size of the attacks and predictions.
        seed: seed of every random start and random search.
        autoattack: ``"standard"`` (APGD-CE, APGD-T, FAB-T where ART has it, Square) or ``"art-default"``
            (ART's own ``AutoAttack`` class: APGD-CE, APGD-DLR, DeepFool, Square).
        sanity_checks: run the gradient-masking checks (:mod:`art_bmtad.evaluation.sanity`).
        settings: AutoAttack and sanity-check budgets; the standard ones by default.
        class_names: a name per class for the per-class table; the indices by default.

    Returns:
        The :class:`RobustnessReport`.

    Raises:
        TypeError: ``classifier`` is not a ``PyTorchClassifier``.
        ValueError: no clip values, probability outputs, bad data or labels (shape, range, NaN, values outside
            the clip values), unknown attack, norm, AutoAttack variant or backend, bad eps, batch size, n_examples or
            seed; the reference backend without ``pyautoattack`` installed.
    """
    _check_classifier(classifier)
    threat = ThreatModel.create(norm, eps, classifier.clip_values)
    keys = _check_options(attacks, autoattack, batch_size, n_examples, seed)
    _check_backend(backend, autoattack, keys)
    settings = settings or AttackSettings()
    names = _names(class_names, classifier)
    x, labels = check_data(x, y, classifier, name="x")
    notes = _limit_note(n_examples, len(x))
    x, labels = x[:n_examples], labels[:n_examples]
    runner = AttackRunner(classifier, x, labels, threat, batch_size=batch_size, seed=seed, progress=progress)
    with _mode_restored(classifier.model):
        _check_logits(runner)
        results = {"clean": runner.clean()}
        cost = _log_estimate(runner, results["clean"], keys, settings, backend, sanity_checks) if progress else None
        for key in keys:
            if key == "autoattack" and cost is not None:
                _log_autoattack_estimate(runner, cost, results, settings, backend)
            results[key] = result = _run(key, runner, results["clean"].robust, autoattack, settings, backend)
            logger.info("%s: %.2f%% robust (%.1f s)", result.label, 100 * result.accuracy, result.seconds)
        checks = sanity.run_checks(runner, results, settings) if sanity_checks else []
    if "autoattack" in keys and backend == "art" and autoattack == "standard":
        notes.extend(autoattack_module.standard_notes(runner, settings))
    elif "autoattack" in keys and backend == "reference":
        from art_bmtad.evaluation.reference_autoattack import reference_notes

        notes.extend(reference_notes(runner, settings))
    worst = _worst_case(results)
    return RobustnessReport(
        threat=threat,
        n_examples=len(x),
        seed=seed,
        batch_size=batch_size,
        autoattack=autoattack if "autoattack" in keys else None,
        backend=backend if "autoattack" in keys else None,
        settings=settings,
        results=results,
        worst_case=worst,
        per_class=per_class_accuracy(labels, results["clean"].robust, worst.robust, names),
        sanity_checks=checks,
        notes=notes,
        device=str(classifier.device),
        versions=_versions(),
    )


@contextlib.contextmanager
def _mode_restored(model: torch.nn.Module) -> Iterator[None]:
    """ART switches the model to eval mode; give it back in the mode the caller left it in."""
    training = model.training
    try:
        yield
    finally:
        model.train(training)


def _run(key: str, runner: AttackRunner, points: np.ndarray, variant: str, settings: AttackSettings,
         backend: str) -> AttackResult:
    if key == "autoattack" and backend == "reference":
        from art_bmtad.evaluation.reference_autoattack import reference_autoattack

        return reference_autoattack(runner, points, settings)
    if key == "autoattack":
        return autoattack_module.autoattack(runner, points, variant, settings)
    single = {"fgsm": suite.fgsm, "pgd20": suite.pgd, "cw": suite.cw}[key]
    return single(runner, points, runner.threat)


def _log_estimate(runner: AttackRunner, clean: AttackResult, keys: list[str], settings: AttackSettings,
                  backend: str, sanity_checks: bool) -> estimate.PassCost:
    """Time one batch and log what the whole evaluation should take; return the timed cost."""
    cost = estimate.PassCost.measure(runner)
    n_correct = int(clean.robust.sum())
    seconds = estimate.evaluation_seconds(cost, keys, settings, backend, n_correct, runner.classifier.nb_classes,
                                          sanity_checks)
    logger.info("estimated time: at most about %s for %s on %d correct examples (one batch timed: %.2f ms per "
                "example and gradient pass)", estimate.format_seconds(seconds), ", ".join(keys) or "nothing",
                n_correct, 1000 * cost.gradient)
    return cost


def _log_autoattack_estimate(runner: AttackRunner, cost: estimate.PassCost, results: dict[str, AttackResult],
                             settings: AttackSettings, backend: str) -> None:
    """Before AutoAttack: its estimate, taking the examples PGD-20 left robust (if it ran) as the ones its later
    parts attack."""
    n_correct = int(results["clean"].robust.sum())
    n_robust = int(results["pgd20"].robust.sum()) if "pgd20" in results else n_correct
    seconds = estimate.autoattack_seconds(cost, settings, backend, n_correct, n_robust, runner.classifier.nb_classes)
    basis = f"{n_robust} of them robust to PGD-20" if "pgd20" in results else "all counted as robust: at most"
    logger.info("AutoAttack (%s backend, %s budget): about %s (%d examples, %s)", backend, settings.budget_label(),
                estimate.format_seconds(seconds), n_correct, basis)


def _check_backend(backend: str, variant: str, keys: list[str]) -> None:
    if backend not in AUTOATTACK_BACKENDS:
        raise ValueError(f"backend must be one of {list(AUTOATTACK_BACKENDS)}, got {backend!r}")
    if backend == "reference" and "autoattack" in keys:
        if variant != "standard":
            raise ValueError(f"the reference backend runs the standard AutoAttack, not {variant!r}")
        check_reference_available()


def _worst_case(results: dict[str, AttackResult]) -> AttackResult:
    robust = np.logical_and.reduce([result.robust for result in results.values()])
    seconds = sum(result.seconds or 0.0 for result in results.values())
    return AttackResult("worst_case", "Worst case", robust, seconds, int(results["clean"].robust.sum()))


def _check_classifier(classifier: PyTorchClassifier) -> None:
    if not isinstance(classifier, PyTorchClassifier):
        raise TypeError(f"classifier must be an ART PyTorchClassifier, got {type(classifier).__name__}")
    if classifier.clip_values is None:
        raise ValueError("the classifier needs clip_values, e.g. (0.0, 1.0): eps is measured in them")


def _check_options(
    attacks: Sequence[str], autoattack: str, batch_size: int, n_examples: int | None, seed: int
) -> list[str]:
    """The attack keys to run (without ``"clean"``, which always runs), in order and without repeats."""
    if isinstance(attacks, str):
        raise ValueError(f"attacks must be a sequence of keys from {ATTACKS}, got the string {attacks!r}")
    unknown = [key for key in attacks if key not in ATTACKS]
    if unknown:
        raise ValueError(f"unknown attacks {unknown}; allowed: {list(ATTACKS)}")
    if autoattack not in autoattack_module.VARIANTS:
        raise ValueError(f"autoattack must be one of {list(autoattack_module.VARIANTS)}, got {autoattack!r}")
    for name, value, low in (("batch_size", batch_size, 1), ("n_examples", n_examples, 1), ("seed", seed, 0)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low):
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return [key for key in dict.fromkeys(attacks) if key != "clean"]


def _limit_note(n_examples: int | None, available: int) -> list[str]:
    if n_examples is not None and n_examples > available:
        return [f"n_examples={n_examples} asked, but the data has only {available} examples: all were evaluated."]
    return []


def _check_logits(runner: AttackRunner) -> None:
    """The attacks' losses need logits: refuse probability outputs and non-finite outputs."""
    outputs = runner.logits(runner.x[: runner.batch_size])
    if not np.isfinite(outputs).all():
        raise ValueError("the classifier outputs NaN or Inf on the data")
    if outputs.shape[1] > 1 and (outputs >= 0).all() and np.allclose(outputs.sum(axis=1), 1.0, atol=1e-4):
        raise ValueError("the classifier seems to output probabilities; the attacks need logits (remove the softmax)")


def _names(class_names: Sequence[str] | None, classifier: PyTorchClassifier) -> list[str]:
    if class_names is None:
        return [str(index) for index in range(classifier.nb_classes)]
    if len(class_names) != classifier.nb_classes:
        raise ValueError(f"{len(class_names)} class names given for {classifier.nb_classes} classes")
    return [str(name) for name in class_names]


def _versions() -> dict[str, str]:
    try:
        package = importlib.metadata.version("art-bmtad")
    except importlib.metadata.PackageNotFoundError:
        package = "unknown"
    return {"torch": torch.__version__, "art": art.__version__, "art_bmtad": package, "numpy": np.__version__}
