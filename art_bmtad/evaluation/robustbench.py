"""A RobustBench leaderboard entry: the model-info JSON of ``model_info/<dataset>/<threat model>/<Name>.json``.

RobustBench ranks models by AutoAttack as Croce & Hein's code runs it, in its standard version, on the whole test
set. So an entry is written only from such an evaluation: the ``reference`` backend, the standard budget, AutoAttack
among the attacks, the test split, all of it. :func:`check_robustbench_request` refuses anything else before any
attack runs (the ART-assembled AutoAttack lacks FAB-T and is not the code RobustBench runs; a reduced budget
overestimates robustness), and :func:`robustbench_entry` fills the fields from the report::

    {"link", "name", "authors", "additional_data", "number_forward_passes", "dataset", "venue", "architecture",
     "eps", "clean_acc", "reported", "autoattack_acc", "footnote", "unreliable"}

Accuracies are percentages with two decimals, as strings, as the leaderboard files write them; ``reported`` is the
AutoAttack accuracy measured here. ``link``, ``name``, ``authors`` and ``venue`` describe the paper of the method:
the B-MTARD paper for a B-MTARD student, left empty for the submitter to fill in otherwise.
"""
from __future__ import annotations

from typing import Any, Sequence

from art_bmtad.algorithm import citation
from art_bmtad.evaluation.report import RobustnessReport
from art_bmtad.evaluation.settings import DEFAULT_EPS, AttackSettings, format_eps

OPTION = "--robustbench-json"
THREAT_MODELS = {"inf": "Linf", "2": "L2"}
"""RobustBench's folder name of each norm."""
PAPER_DEFENCES = ("bmtard",)
"""Defences whose paper is the B-MTARD paper (the entry's link, name, authors and venue)."""


class NotARobustBenchEvaluation(ValueError):
    """The evaluation asked for is not one RobustBench's leaderboard accepts; says why."""


def check_robustbench_request(*, attacks: Sequence[str], backend: str, settings: AttackSettings, split: str,
                              exported: bool = False) -> None:
    """Refuse, before any attack runs, an evaluation whose numbers cannot go into a RobustBench entry.

    Args:
        attacks: the attacks to run.
        backend: the AutoAttack backend (``art`` or ``reference``).
        settings: the AutoAttack budget.
        split: ``test`` or ``val``.
        exported: the model is an exported file (only clean and transfer attacks run on it).

    Raises:
        NotARobustBenchEvaluation: the first reason, in words, with what to pass instead.
    """
    why = None
    if exported:
        why = ("an exported file gets clean and transfer attacks only; evaluate the run folder or its student "
               "(.safetensors) instead")
    elif "autoattack" not in attacks:
        why = "RobustBench ranks by AutoAttack: include autoattack in --attacks"
    elif backend != "reference":
        why = ("RobustBench's numbers come from Croce & Hein's AutoAttack (APGD-CE, APGD-T, FAB-T, Square); the art "
               "backend assembles AutoAttack from ART's attacks without FAB-T. Pass --autoattack-backend reference")
    elif budgets := settings.non_standard():
        why = (f"RobustBench uses AutoAttack's standard budget; this one is reduced ({', '.join(budgets)}), which "
               "overestimates robustness. Pass --autoattack-budget standard")
    elif split != "test":
        why = "RobustBench reports the test split: drop --split val"
    if why is not None:
        raise NotARobustBenchEvaluation(f"{OPTION}: not written: {why}")


def check_whole_split(n_examples: int | None, split_size: int) -> None:
    """Refuse an evaluation of part of the test split (RobustBench evaluates all of it), before any attack.

    Raises:
        NotARobustBenchEvaluation: ``n_examples`` leaves test images out.
    """
    if n_examples is not None and n_examples < split_size:
        raise NotARobustBenchEvaluation(f"{OPTION}: not written: RobustBench evaluates the whole test split; "
                                        f"--n-examples {n_examples} leaves {split_size - n_examples} of its "
                                        f"{split_size} images out")


def robustbench_entry(report: RobustnessReport, *, dataset: str, architecture: str, defence: str | None = None,
                      teachers: Sequence[str] = (), additional_data: bool = False) -> dict[str, Any]:
    """The model-info JSON of a RobustBench leaderboard entry (see the module docstring).

    Args:
        report: an evaluation that passed :func:`check_robustbench_request`.
        dataset: the dataset's name (``cifar10``, ...).
        architecture: the student's architecture.
        defence: how the student was trained, when known.
        teachers: the teachers it was distilled from, named for the footnote.
        additional_data: whether training used data beyond the dataset's training split.

    Raises:
        NotARobustBenchEvaluation: the report is not a standard reference AutoAttack evaluation.
    """
    check_robustbench_request(attacks=list(report.results), backend=report.backend or "",
                              settings=report.settings, split="test")
    paper = defence in PAPER_DEFENCES
    threat = report.threat
    footnote = [f"Trained with {defence} (art-bmtad)" + (f", distilled from {', '.join(teachers)}" if teachers
                                                         else "") + "." if defence else "",
                f"AutoAttack (Croce & Hein's code, standard version) run by art-bmtad on {report.n_examples} test "
                "images.",
                "" if abs(threat.eps - DEFAULT_EPS[threat.norm]) < 1e-9 else
                f"Uses eps = {format_eps(threat.eps)} instead of {format_eps(DEFAULT_EPS[threat.norm])}.",
                "" if report.sanity_checks and not report.failed_checks else _checks_note(report)]
    return {
        "link": citation.LINK if paper else "",
        "name": citation.TITLE if paper else "",
        "authors": ", ".join(citation.AUTHORS) if paper else "",
        "additional_data": additional_data,
        "number_forward_passes": 1,
        "dataset": dataset,
        "venue": citation.VENUE if paper else "",
        "architecture": architecture,
        "eps": format_eps(threat.eps),
        "clean_acc": _percent(report.clean_accuracy),
        "reported": _percent(report.results["autoattack"].accuracy),
        "autoattack_acc": _percent(report.results["autoattack"].accuracy),
        "footnote": " ".join(part for part in footnote if part),
        "unreliable": False,
    }


def threat_model_folder(report: RobustnessReport) -> str:
    """RobustBench's folder of the report's threat model (``Linf`` or ``L2``)."""
    return THREAT_MODELS[report.threat.norm]


def _checks_note(report: RobustnessReport) -> str:
    if not report.sanity_checks:
        return "The gradient-masking sanity checks were not run."
    failed = ", ".join(check.name for check in report.failed_checks)
    return f"Gradient-masking sanity checks failed ({failed}): the robust accuracy may be overestimated."


def _percent(accuracy: float) -> str:
    return f"{100 * accuracy:.2f}"
