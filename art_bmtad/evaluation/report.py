"""The result of a robustness evaluation: per-attack, worst-case and per-class accuracy, sanity checks.

A :class:`RobustnessReport` serialises to a JSON-ready dict (:meth:`RobustnessReport.to_dict`) and to
Markdown (:meth:`RobustnessReport.to_markdown`), which opens with a warning banner when a sanity check failed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from art_bmtad.evaluation.settings import AttackSettings, ThreatModel, format_eps
from art_bmtad.evaluation.weighted_robust import robust_metric, w_robust, w_robust_label


@dataclass
class AttackResult:
    """One attack's outcome on the evaluated examples.

    Attributes:
        name: key of the attack (``"pgd20"``, ``"apgd-ce"``, ...).
        label: display name (``"PGD-20"``).
        robust: boolean per evaluated example: classified correctly, before and after this attack (for a
            sub-attack of AutoAttack: after it and every earlier sub-attack).
        seconds: wall time of the attack (``None`` where ART does not expose it).
        n_attacked: examples the attack was run on (the ones still robust when it started).
        sub_attacks: AutoAttack's parts, in the order they ran.
    """

    name: str
    label: str
    robust: np.ndarray
    seconds: float | None
    n_attacked: int
    sub_attacks: list[AttackResult] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        """Robust accuracy: the share of evaluated examples in :attr:`robust`."""
        return float(np.mean(self.robust))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (without the per-example mask)."""
        out: dict[str, Any] = {
            "name": self.name,
            "label": self.label,
            "robust_accuracy": self.accuracy,
            "n_robust": int(np.sum(self.robust)),
            "n_attacked": self.n_attacked,
            "seconds": self.seconds,
        }
        if self.sub_attacks:
            out["sub_attacks"] = [sub.to_dict() for sub in self.sub_attacks]
        return out


@dataclass(frozen=True)
class ClassAccuracy:
    """Accuracy of one class, clean and in the worst case over all attacks."""

    index: int
    name: str
    n: int
    clean_accuracy: float
    robust_accuracy: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return dict(vars(self))


def per_class_accuracy(
    labels: np.ndarray, clean: np.ndarray, robust: np.ndarray, class_names: Sequence[str]
) -> list[ClassAccuracy]:
    """Clean and robust accuracy of every class that occurs in ``labels``.

    Args:
        labels: ``(N,)`` class indices.
        clean: ``(N,)`` booleans, correct on the clean input.
        robust: ``(N,)`` booleans, correct under the worst case.
        class_names: a name per class index.
    """
    rows = []
    for index in np.unique(labels):
        members = labels == index
        rows.append(
            ClassAccuracy(
                index=int(index),
                name=str(class_names[index]),
                n=int(members.sum()),
                clean_accuracy=float(clean[members].mean()),
                robust_accuracy=float(robust[members].mean()),
            )
        )
    return rows


@dataclass(frozen=True)
class SanityCheck:
    """A test that a stronger attack leaves no more examples robust than a weaker one.

    Attributes:
        name: ``"more_steps"``, ``"larger_eps"`` or ``"fgsm_vs_pgd"``.
        rule: the rule in words.
        passed: whether the rule held (within the tolerance).
        accuracies: robust accuracy of each attack compared, on the sanity examples.
        n_examples: the number of sanity examples.
    """

    name: str
    rule: str
    passed: bool
    accuracies: dict[str, float]
    n_examples: int

    def describe(self) -> str:
        """``rule: A 12.0% vs B 10.0%``."""
        values = " vs ".join(f"{label} {accuracy:.1%}" for label, accuracy in self.accuracies.items())
        return f"{self.rule}: {values} on {self.n_examples} examples"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return dict(vars(self))


@dataclass
class RobustnessReport:
    """Everything an evaluation measured, and how.

    Attributes:
        threat: the perturbation budget.
        n_examples: examples evaluated (the first ``n_examples`` of the data given).
        seed: the seed every attack's randomness derives from.
        batch_size: the attacks' batch size.
        autoattack: ``"standard"`` or ``"art-default"`` when AutoAttack ran, else ``None``.
        backend: who ran AutoAttack, ``"art"`` (assembled from ART's attacks) or ``"reference"`` (Croce & Hein's
            code), else ``None``.
        settings: AutoAttack and sanity-check budgets.
        results: per attack key (``"clean"`` first), its result.
        worst_case: per example, robust under every attack run.
        per_class: per-class clean and worst-case accuracy.
        sanity_checks: the gradient-masking checks (empty when disabled).
        notes: what was skipped or non-standard.
        device: the classifier's device.
        versions: versions of torch, ART and this package.
        origins: where each setting came from (``art-bmtad eval``: command line, the run's recipe, default).
    """

    threat: ThreatModel
    n_examples: int
    seed: int
    batch_size: int
    autoattack: str | None
    backend: str | None
    settings: AttackSettings
    results: dict[str, AttackResult]
    worst_case: AttackResult
    per_class: list[ClassAccuracy]
    sanity_checks: list[SanityCheck]
    notes: list[str]
    device: str
    versions: dict[str, str]
    origins: dict[str, str] = field(default_factory=dict)

    @property
    def clean_accuracy(self) -> float:
        """Accuracy on the unperturbed examples."""
        return self.results["clean"].accuracy

    @property
    def worst_case_accuracy(self) -> float:
        """Accuracy when each example meets the strongest of all attacks run."""
        return self.worst_case.accuracy

    @property
    def worst_class(self) -> ClassAccuracy:
        """The class with the lowest worst-case accuracy (the lowest index among ties)."""
        return min(self.per_class, key=lambda row: (row.robust_accuracy, row.index))

    @property
    def failed_checks(self) -> list[SanityCheck]:
        """The sanity checks that failed."""
        return [check for check in self.sanity_checks if not check.passed]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the whole report."""
        return {
            "threat_model": {
                "norm": self.threat.norm,
                "eps": self.threat.eps,
                "eps_label": format_eps(self.threat.eps),
            },
            "n_examples": self.n_examples,
            "seed": self.seed,
            "batch_size": self.batch_size,
            "autoattack": self.autoattack,
            "autoattack_backend": self.backend,
            "autoattack_budget": self.settings.budget_label() if self.autoattack else None,
            "settings": self.settings.to_dict(),
            "device": self.device,
            "versions": self.versions,
            "clean_accuracy": self.clean_accuracy,
            "robust_accuracy": {name: result.accuracy for name, result in self.results.items()},
            "worst_case_accuracy": self.worst_case_accuracy,
            "attacks": [result.to_dict() for result in self.results.values()],
            "per_class": [row.to_dict() for row in self.per_class],
            "worst_class": self.worst_class.to_dict(),
            "sanity_checks": [check.to_dict() for check in self.sanity_checks],
            "sanity_passed": not self.failed_checks,
            "notes": list(self.notes),
            "origins": dict(self.origins),
        }

    def to_markdown(self) -> str:
        """The report as Markdown: warning banner (if any), attack table, per-class table, checks, notes."""
        sections = [
            "# Robustness evaluation",
            _banner(self.failed_checks),
            self._summary_line(),
            _attack_table(list(self.results.values()), self.worst_case),
            _w_robust_line({name: result.accuracy for name, result in self.results.items()}),
            _class_table(self.per_class, self.worst_class),
            _checks_table(self.sanity_checks),
            "\n".join(["## Notes", *(f"- {note}" for note in self.notes)]) if self.notes else "",
            _origins_table(self.origins),
        ]
        return "\n\n".join(section for section in sections if section) + "\n"

    def _summary_line(self) -> str:
        variant = "" if self.autoattack in (None, "standard") else f", {self.autoattack} variant"
        autoattack = (f"AutoAttack: {self.settings.budget_label()} budget, {self.backend} backend{variant}"
                      if self.autoattack else "AutoAttack: not run")
        return (
            f"{self.threat.describe()} | {self.n_examples} examples | seed {self.seed} | {autoattack} | "
            f"device {self.device}"
        )


def _origins_table(origins: dict[str, str]) -> str:
    if not origins:
        return ""
    lines = ["## Where the settings came from", "", "| Setting | From |", "|---|---|"]
    lines.extend(f"| {name} | {origin} |" for name, origin in origins.items())
    return "\n".join(lines)


def _banner(failed: list[SanityCheck]) -> str:
    if not failed:
        return ""
    lines = [
        f"> **WARNING: {len(failed)} SANITY CHECK(S) FAILED - possible gradient masking. The robust accuracies "
        "below are probably overestimates; do not report them without an adaptive attack.**",
        *(f"> - `{check.name}`: {check.describe()}" for check in failed),
    ]
    return "\n".join(lines)


def _attack_table(results: list[AttackResult], worst_case: AttackResult) -> str:
    lines = ["| Attack | Robust accuracy | Attacked | Seconds |", "|---|---:|---:|---:|"]
    for result in results:
        lines.append(_attack_row(result.label, result))
        lines.extend(_attack_row(f"&nbsp;&nbsp;- {sub.label}", sub) for sub in result.sub_attacks)
    lines.append(_attack_row("**Worst case**", worst_case))
    return "\n".join(lines)


def _w_robust_line(accuracy: dict[str, float]) -> str:
    """``W-Robust (clean + AutoAttack) / 2: 42.50%``, the paper's headline metric, when clean and a robust metric
    were run."""
    metric = robust_metric(accuracy)
    value = w_robust(accuracy, metric)
    return "" if value is None else f"{w_robust_label(metric)}: {value:.2%}"


def _attack_row(label: str, result: AttackResult) -> str:
    seconds = "-" if result.seconds is None else f"{result.seconds:.1f}"
    return f"| {label} | {result.accuracy:.2%} | {result.n_attacked} | {seconds} |"


def _class_table(rows: list[ClassAccuracy], worst: ClassAccuracy) -> str:
    lines = ["## Per class", "", "| Class | n | Clean | Worst case |", "|---|---:|---:|---:|"]
    lines.extend(f"| {r.index}: {r.name} | {r.n} | {r.clean_accuracy:.2%} | {r.robust_accuracy:.2%} |" for r in rows)
    lines.append("")
    lines.append(f"Worst class: {worst.index}: {worst.name}, {worst.robust_accuracy:.2%} robust accuracy.")
    return "\n".join(lines)


def _checks_table(checks: list[SanityCheck]) -> str:
    if not checks:
        return "## Sanity checks\n\nNot run."
    lines = ["## Sanity checks", "", "| Check | Result | Detail |", "|---|---|---|"]
    lines.extend(f"| {c.name} | {'pass' if c.passed else '**FAIL**'} | {c.describe()} |" for c in checks)
    return "\n".join(lines)
