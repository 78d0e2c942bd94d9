"""``art-bmtad eval``: evaluate a saved classifier under the robustness protocol (``art_bmtad.evaluation``)."""
from __future__ import annotations

import argparse
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from art_bmtad.commands import add_command
from art_bmtad.commands.recipe_options import add_data_options, add_device_options, add_output_options, fraction
from art_bmtad.evaluation.settings import (
    ATTACKS,
    AUTOATTACK_BACKENDS,
    AUTOATTACK_VARIANTS,
    BUDGETS,
    DEFAULT_EPS,
    NORMS,
    AttackSettings,
    check_reference_available,
    parse_budget,
)
from art_bmtad.recipes.recipe import RECIPE_FILE
from art_bmtad.run import add_overwrite_option

logger = logging.getLogger(__name__)

COMMAND_LINE, DEFAULT = "command line", "default"

_DESCRIPTION = f"""\
Evaluate a saved classifier (for example the student of `art-bmtad train`) on a dataset: clean accuracy,
FGSM, PGD-20, CW-inf and AutoAttack, the worst case per example, accuracy per class, and sanity checks
against gradient masking. Prints a Markdown report; --out also writes it as JSON.

When --model is a run folder (with its {RECIPE_FILE}), the threat model (eps, Linf), the data (source, path,
split sizes, seed) come from the run's recipe, and the normalisation from the saved classifier; any option
given here overrides them, and the report lists where every value came from.

Before the attacks start, one batch is timed and the expected wall-clock time is logged; each attack then
shows a progress bar with the examples still robust (on a terminal; --quiet for neither).

AutoAttack budgets: standard (APGD 100 steps, APGD-T 9 targets, Square 5,000 queries), fast (10 steps,
3 targets, 100 queries: for a quick look, never to report as standard), or N (APGD N steps, Square 50 N
queries). Backends: art (assembled from ART's attacks; FAB-T is not in ART) or reference (Croce & Hein's
code as RobustBench runs it: APGD-CE, APGD-T, FAB-T, Square; `pip install 'art-bmtad[autoattack]'`).

Examples:
  art-bmtad eval --model runs/student --autoattack-budget fast
  art-bmtad eval --model runs/student --autoattack-backend reference --out runs/student/robustness.json
  art-bmtad eval --model teacher.safetensors --data cifar10 --data-path ./data --eps 8/255 --n-examples 1000"""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = add_command(
        subparsers, run,
        "eval",
        help="robust accuracy of a saved classifier (FGSM, PGD-20, CW-inf, AutoAttack)",
        description=_DESCRIPTION,
    )
    parser.add_argument(
        "--model", required=True, type=Path, metavar="PATH",
        help="saved classifier: a run folder with student.safetensors and student.json (its config.yaml gives "
        "the defaults below), or such a file; or a file from `art-bmtad export` (clean and transfer attacks "
        "crafted on its PyTorch student, whose run gives the defaults)",
    )
    parser.add_argument(
        "--arch", metavar="NAME",
        help="the registered architecture of a plain weight file without its .json sidecar, e.g. "
        "robustbench/Zhang2019Theoretically (see `art-bmtad models`)",
    )
    add_data_options(parser)
    evaluation = parser.add_argument_group("evaluation")
    evaluation.add_argument(
        "--split", choices=("test", "val"), default="test",
        help="evaluate the test split, or the validation split for model selection (default: %(default)s)",
    )
    evaluation.add_argument(
        "--n-examples", type=int, default=None, metavar="N",
        help="evaluate the first N examples of the split (default: all of them)",
    )
    evaluation.add_argument(
        "--batch-size", type=int, default=128, metavar="B",
        help="batch size of attacks and predictions (default: %(default)s)",
    )
    evaluation.add_argument(
        "--seed", type=int, default=None,
        help="seed of the attacks' random starts and searches, and of the data split (default: the run's, else 0)",
    )
    evaluation.add_argument(
        "--norm", choices=NORMS, default=None,
        help="threat model: Linf or L2 perturbations (default: the run's, Linf, else inf)",
    )
    evaluation.add_argument(
        "--eps", type=fraction, default=None, metavar="EPS",
        help="perturbation budget in [0, 1] pixel units, a number or a fraction such as 8/255 (default: the run's "
        "threat.eps, else 8/255 for --norm inf and 0.5 for --norm 2); steps scale with it (PGD/CW: eps/4)",
    )
    evaluation.add_argument(
        "--attacks", type=_attack_list, default=list(ATTACKS), metavar="LIST",
        help=f"comma-separated attacks to run, from {','.join(ATTACKS)} "
        "(default: all; clean accuracy is always measured)",
    )
    evaluation.add_argument(
        "--autoattack-budget", type=_budget, default="standard", metavar="standard|fast|N",
        help=f"AutoAttack's budget: {', '.join(BUDGETS)} or N APGD steps (default: %(default)s)",
    )
    evaluation.add_argument(
        "--autoattack-backend", choices=AUTOATTACK_BACKENDS, default="art",
        help="art: assembled from ART's attacks; reference: Croce & Hein's AutoAttack (pyautoattack), the code "
        "RobustBench runs (default: %(default)s)",
    )
    evaluation.add_argument(
        "--autoattack", choices=AUTOATTACK_VARIANTS, default="standard",
        help="with the art backend: standard (APGD-CE, APGD-T, Square; FAB-T is not in ART and is skipped) or "
        "art-default (ART's own AutoAttack class: APGD-CE, APGD-DLR, DeepFool, Square; not the protocol papers "
        "report) (default: %(default)s)",
    )
    evaluation.add_argument(
        "--no-sanity-checks", dest="sanity_checks", action="store_false",
        help="skip the gradient-masking checks (PGD-50 vs PGD-20, 2 eps vs eps, FGSM vs PGD on 100 examples)",
    )
    add_device_options(parser)
    output = add_output_options(parser, out_help="also write the report as JSON", metavar="FILE.json")
    output.add_argument(
        "--robustbench-json", type=Path, metavar="FILE.json",
        help="also write the model-info JSON of a RobustBench leaderboard entry (only from the reference AutoAttack "
        "at the standard budget on the whole test split; anything else is refused before any attack runs)",
    )
    add_overwrite_option(output, "the --out and --robustbench-json files")
    return parser


@dataclass
class EvalSetting:
    """The values an evaluation runs with and where each came from (command line, the run's recipe, default)."""

    values: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)

    def take(self, name: str, given: Any, from_run: Any, run_key: str, default: Any) -> None:
        """``given`` (the command line) if set, else the run's recipe value if there is one, else ``default``."""
        if given is not None:
            self.values[name], self.origins[name] = given, COMMAND_LINE
        elif from_run is not None:
            self.values[name], self.origins[name] = from_run, f"run {RECIPE_FILE} ({run_key})"
        else:
            self.values[name], self.origins[name] = default, DEFAULT


def resolve_setting(args: argparse.Namespace) -> EvalSetting:
    """Data, threat model and seed from the command line, else the run folder's recipe, else the defaults.

    Raises:
        ValueError: the run folder's recipe cannot be read.
    """
    from art_bmtad.deploy.serving import export_run_folder, is_export
    from art_bmtad.recipes.recipe import load_recipe

    folder = export_run_folder(args.model) if is_export(args.model) else args.model  # an export: its student's run
    recipe_file = folder / RECIPE_FILE if folder is not None and folder.is_dir() else None
    recipe = load_recipe(config_file=recipe_file, check_names=False) if recipe_file and recipe_file.is_file() else None
    data, threat = (recipe.data, recipe.threat) if recipe is not None else (None, None)
    setting = EvalSetting()
    setting.take("data", args.data, data and data.source, "data.source", "digits")
    setting.take("data_path", args.data_path, data and (data.path or data.root), "data.path", None)
    setting.take("n_train", args.n_train, data and data.n_train, "data.n_train", None)
    setting.take("n_test", args.n_test, data and data.n_test, "data.n_test", None)
    setting.take("val_size", args.val_size, data and data.val_size, "data.val_size", 0.1)
    setting.take("seed", args.seed, recipe and recipe.seed, "seed", 0)
    setting.take("norm", args.norm, recipe and "inf", "threat: Linf", "inf")
    setting.take("eps", args.eps, threat and threat.eps, "threat.eps", DEFAULT_EPS[setting.values["norm"]])
    return setting


def run(args: argparse.Namespace) -> int:
    """Resolve the setting, load the classifier and data, evaluate, print the Markdown report, write the JSON.

    Args:
        args: the parsed ``eval`` options.

    Returns:
        0 (a failed sanity check is reported loudly, not as an exit status).
    """
    from art_bmtad.commands.recipe_options import quiet_or_progress
    from art_bmtad.run import check_output_file, write_atomic

    progress = quiet_or_progress(args)
    setting = resolve_setting(args)
    if args.out is not None:
        check_output_file(args.out, option="--out", overwrite=args.overwrite)  # before the evaluation, not after
    if args.robustbench_json is not None:
        _check_robustbench_request(args)
    if args.autoattack_backend == "reference" and "autoattack" in args.attacks:
        check_reference_available()
    report = _evaluate(args, setting, progress)
    print(report.to_markdown())
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(args.out, json.dumps(report.to_dict(), indent=2) + "\n")
        logger.info("wrote %s", args.out)
    if args.robustbench_json is not None:
        _write_robustbench_entry(args, setting, report)
    return 0


def _check_robustbench_request(args: argparse.Namespace) -> None:
    """Refuse a RobustBench entry from anything but a standard reference AutoAttack evaluation, before any work."""
    from art_bmtad.deploy.serving import is_export
    from art_bmtad.evaluation.robustbench import check_robustbench_request
    from art_bmtad.run import check_output_file

    check_robustbench_request(attacks=args.attacks, backend=args.autoattack_backend,
                              settings=args.autoattack_budget, split=args.split, exported=is_export(args.model))
    check_output_file(args.robustbench_json, option="--robustbench-json", overwrite=args.overwrite)


def _write_robustbench_entry(args: argparse.Namespace, setting: EvalSetting, report: Any) -> None:
    """The leaderboard entry of the evaluated student: its architecture, defence and teachers from its run."""
    from art_bmtad.deploy.model_card import zoo_name
    from art_bmtad.deploy.sources import run_recipe, student_weights
    from art_bmtad.evaluation.robustbench import robustbench_entry, threat_model_folder
    from art_bmtad.models.classifier_files import read_metadata
    from art_bmtad.pipeline.training import DISTILLATION_TEACHERS
    from art_bmtad.run import write_atomic

    weights = student_weights(args.model)
    metadata = read_metadata(weights) if weights.with_suffix(".json").is_file() else {}
    defence = metadata.get("extra", {}).get("defence")
    recipe = run_recipe(weights) if metadata else None
    teachers = [f"{role} teacher {zoo_name(getattr(recipe.teachers, role).model)}"
                for role in DISTILLATION_TEACHERS.get(defence, ())] if recipe is not None else []
    architecture = (metadata.get("name") or args.arch or "unknown").removeprefix("timm/")
    if metadata.get("model_kwargs", {}).get("cifar_stem"):
        architecture += " (CIFAR stem)"
    entry = robustbench_entry(report, dataset=setting.values["data"], architecture=architecture, defence=defence,
                              teachers=teachers)
    args.robustbench_json.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(args.robustbench_json, json.dumps(entry, indent=2) + "\n")
    print(f"RobustBench entry: {args.robustbench_json} (submit it as model_info/{entry['dataset']}/"
          f"{threat_model_folder(report)}/<Name>.json with the weights"
          + ("; fill in link, name, authors and venue" if not entry["link"] else "") + ")")


def _evaluate(args: argparse.Namespace, setting: EvalSetting, progress: bool) -> Any:
    import torch

    from art_bmtad.deploy.serving import is_export, serving_check
    from art_bmtad.evaluation import evaluate_robustness
    from art_bmtad.models.classifier_files import load_classifier
    from art_bmtad.pipeline.checks import check_fits_data
    from art_bmtad.utils.device import physical_cores

    torch.set_num_threads(args.threads or physical_cores())
    values = setting.values
    data = _load_data(values, download=args.download)
    x, y = (data.x_test, data.y_test) if args.split == "test" else (data.x_val, data.y_val)
    if args.robustbench_json is not None:
        from art_bmtad.evaluation.robustbench import check_whole_split

        check_whole_split(args.n_examples, len(x))
    if is_export(args.model):  # an exported student: clean and transfer attacks crafted on its PyTorch student
        return serving_check(args.model, x[: args.n_examples], y[: args.n_examples], attacks=args.attacks,
                             eps=values["eps"], norm=values["norm"], batch_size=args.batch_size, seed=values["seed"],
                             device=args.device or "auto")
    classifier = load_classifier(args.model, arch=args.arch, device=args.device or "auto",
                                 **({"dataset": data} if args.arch else {}))  # plain weights: sizes from the data
    check_fits_data(classifier, data, f"--model {args.model}")
    report = evaluate_robustness(
        classifier, x, y,
        attacks=args.attacks,
        eps=values["eps"],
        norm=values["norm"],
        n_examples=args.n_examples,
        batch_size=args.batch_size,
        seed=values["seed"],
        autoattack=args.autoattack,
        settings=args.autoattack_budget,
        backend=args.autoattack_backend,
        sanity_checks=args.sanity_checks,
        class_names=data.class_names,
        progress=progress,
    )
    report.origins = {**setting.origins, "normalisation": _normalisation(classifier)}
    return report


def _load_data(values: dict[str, Any], *, download: bool | None) -> Any:
    """The dataset the resolved setting names (every source, plugins' included, or a path ending in .npz)."""
    from art_bmtad.pipeline.components import open_dataset

    return open_dataset(values["data"], values["data_path"], download=download, n_train=values["n_train"],
                        n_test=values["n_test"], val_size=values["val_size"], seed=values["seed"])


def _normalisation(classifier: Any) -> str:
    """Where the inputs' normalisation comes from: the saved classifier's own preprocessing."""
    preprocessing = getattr(classifier, "preprocessing", None)
    mean, std = getattr(preprocessing, "mean", None), getattr(preprocessing, "std", None)
    if mean is None:
        return "saved classifier (inside its model)"
    return f"saved classifier (mean {_rounded(mean)}, std {_rounded(std)})"


def _rounded(values: Any) -> str:
    return "(" + ", ".join(f"{float(v):.4g}" for v in list(getattr(values, "flatten", lambda: values)())) + ")"


def _budget(text: str) -> AttackSettings:
    """``standard``, ``fast`` or N, as attack settings."""
    try:
        return parse_budget(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _attack_list(text: str) -> list[str]:
    """Comma-separated attack keys, each checked against the known ones."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in ATTACKS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown attacks {unknown}; choose from {','.join(ATTACKS)}")
    return names
