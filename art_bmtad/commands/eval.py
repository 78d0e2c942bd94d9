"""``art-bmtad eval``: evaluate a saved classifier under the robustness protocol (``art_bmtad.evaluation``)."""
from __future__ import annotations

import argparse
import json
import logging
from fractions import Fraction
from pathlib import Path

from art_bmtad.commands import add_command
from art_bmtad.evaluation import ATTACKS

logger = logging.getLogger(__name__)

_DESCRIPTION = """\
Evaluate a saved classifier (for example the student of `art-bmtad train`) on a dataset: clean accuracy,
FGSM, PGD-20, CW-inf and AutoAttack, the worst case per example, accuracy per class, and sanity checks
against gradient masking. Prints a Markdown report; --out also writes it as JSON."""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = add_command(
        subparsers, run,
        "eval",
        help="robust accuracy of a saved classifier (FGSM, PGD-20, CW-inf, AutoAttack)",
        description=_DESCRIPTION,
    )
    parser.add_argument(
        "--model", required=True, type=Path, metavar="PATH",
        help="saved classifier: a run folder with student.safetensors and student.json, or such a file",
    )
    parser.add_argument(
        "--data", default="digits", metavar="SOURCE",
        help="dataset: digits (built in), cifar10, cifar100, npz, imagefolder, or a path to a .npz file "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--data-path", type=Path, default=None, metavar="PATH",
        help="where the dataset lives (the .npz file or image folder) for sources that read files",
    )
    parser.add_argument(
        "--split", choices=("test", "val"), default="test",
        help="evaluate the test split, or the validation split for model selection (default: %(default)s)",
    )
    parser.add_argument(
        "--n-examples", type=int, default=None, metavar="N",
        help="evaluate the first N examples of the split (default: all of them)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=128, metavar="B",
        help="batch size of attacks and predictions (default: %(default)s)",
    )
    parser.add_argument(
        "--seed", type=int, default=0,
        help="seed of the attacks' random starts and searches, and of the data split (default: %(default)s)",
    )
    parser.add_argument(
        "--norm", choices=("inf", "2"), default="inf",
        help="threat model: Linf or L2 perturbations (default: %(default)s)",
    )
    parser.add_argument(
        "--eps", type=_fraction, default=None, metavar="EPS",
        help="perturbation budget in [0, 1] pixel units, a number or a fraction such as 8/255 "
        "(default: 8/255 for --norm inf, 0.5 for --norm 2); steps scale with it (PGD/CW: eps/4)",
    )
    parser.add_argument(
        "--attacks", type=_attack_list, default=list(ATTACKS), metavar="LIST",
        help=f"comma-separated attacks to run, from {','.join(ATTACKS)} "
        "(default: all; clean accuracy is always measured)",
    )
    parser.add_argument(
        "--autoattack", choices=("standard", "art-default"), default="standard",
        help="standard: APGD-CE, APGD-T (9 targets), Square 5000 queries, worst case per example (FAB-T is not in "
        "ART and is skipped); art-default: ART's own AutoAttack class (APGD-CE, APGD-DLR, DeepFool, Square), "
        "not the protocol papers report (default: %(default)s)",
    )
    parser.add_argument(
        "--no-sanity-checks", dest="sanity_checks", action="store_false",
        help="skip the gradient-masking checks (PGD-50 vs PGD-20, 2 eps vs eps, FGSM vs PGD on 100 examples)",
    )
    parser.add_argument("--out", type=Path, default=None, metavar="FILE.json", help="also write the report as JSON")
    parser.add_argument(
        "--device", default="auto",
        help="auto (cuda if available, else cpu), cpu or cuda (default: %(default)s)",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """Load the classifier and data, evaluate, print the Markdown report and write the JSON.

    Args:
        args: the parsed ``eval`` options.

    Returns:
        0 (a failed sanity check is reported loudly, not as an exit status).
    """
    from art_bmtad.checkpoints import load_classifier
    from art_bmtad.datasets import load_dataset
    from art_bmtad.evaluation import evaluate_robustness

    logging.getLogger("art").setLevel(max(logging.WARNING, logging.getLogger().level))
    classifier = load_classifier(args.model, device=args.device)
    data = load_dataset(args.data, path=args.data_path, seed=args.seed)
    x, y = (data.x_test, data.y_test) if args.split == "test" else (data.x_val, data.y_val)
    report = evaluate_robustness(
        classifier,
        x,
        y,
        attacks=args.attacks,
        eps=args.eps,
        norm=args.norm,
        n_examples=args.n_examples,
        batch_size=args.batch_size,
        seed=args.seed,
        autoattack=args.autoattack,
        sanity_checks=args.sanity_checks,
        class_names=data.class_names,
    )
    print(report.to_markdown())
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report.to_dict(), indent=2) + "\n")
        logger.info("wrote %s", args.out)
    return 0


def _fraction(text: str) -> float:
    """``"8/255"`` or ``"0.03"`` as a float."""
    try:
        return float(Fraction(text))
    except (ValueError, ZeroDivisionError) as err:
        raise argparse.ArgumentTypeError(f"not a number or fraction: {text!r}") from err


def _attack_list(text: str) -> list[str]:
    """Comma-separated attack keys, each checked against the known ones."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in ATTACKS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown attacks {unknown}; choose from {','.join(ATTACKS)}")
    return names
