"""``art-bmtad teachers``: train (or reuse from the cache) a clean or robust teacher."""
from __future__ import annotations

import argparse
from pathlib import Path

from art_bmtad.commands import add_command
from art_bmtad.commands.recipe_options import (add_data_options, add_device_options, add_output_options, at_least,
                                               fraction)
from art_bmtad.recipes.teacher_config import CACHE_ENV, KINDS, TeacherConfig
from art_bmtad.run import add_overwrite_option

DESCRIPTION = f"""\
Train a teacher for distillation and save it as <out>.safetensors + <out>.json, or reuse the
cached one when the same configuration was trained on the same data before.

  clean   standard cross-entropy training (SGD, cosine learning-rate decay)
  madry   ART's AdversarialTrainerMadryPGD (PGD adversarial training, constant learning rate)
  trades  ART's AdversarialTrainerTRADESPyTorch (constant learning rate)

The cache key is the SHA-256 of every option that shapes the teacher plus the training data.
Cache folder: --cache-dir, else ${CACHE_ENV}/teachers, else teachers in the platform's cache folder
(on Linux ~/.cache/art-bmtad/teachers).
Example:
  art-bmtad teachers --model resnet18 --data cifar10 --data-path ./data --cifar-stem \\
      --kind madry --epochs 100 --eps 8/255 --out teachers/resnet18_madry"""


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the description's layout; appends an option's default unless it is unset or already told."""

    def _get_help_string(self, action: argparse.Action) -> str:
        unset = action.default is None or action.default is False or action.default == argparse.SUPPRESS
        if unset or "default" in action.help:
            return action.help
        return f"{action.help} (default: %(default)s)"


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = add_command(
        subparsers, run,
        "teachers",
        help="train or reuse a clean / Madry / TRADES teacher",
        description=DESCRIPTION,
        formatter_class=_HelpFormatter,
    )
    defaults = TeacherConfig()
    _add_teacher_options(parser.add_argument_group("teacher"), defaults)
    data = add_data_options(parser)
    data.add_argument("--dataset", dest="data", help=argparse.SUPPRESS)  # the earlier spellings still work
    data.add_argument("--root", dest="data_path", help=argparse.SUPPRESS)
    add_device_options(parser)
    _add_training_options(parser.add_argument_group("training"), defaults)
    _add_threat_options(parser.add_argument_group("threat model (madry, trades)"), defaults)
    strength = parser.add_argument_group("strength check (madry, trades)")
    strength.add_argument("--compare-student", metavar="MODEL",
                          help="also train the student architecture MODEL with Madry PGD for --compare-epochs and say "
                               "whether the teacher is clearly more robust than that")
    strength.add_argument("--compare-epochs", type=at_least(1), default=2,
                          help="epochs of that baseline (it follows --milestones scaled to them: 9 of 12 epochs -> 3 "
                               "of 4)")
    strength.add_argument("--margin", type=float, default=0.05,
                          help="PGD accuracy the teacher must have above the baseline")
    output = add_output_options(parser, out_help="also save the teacher as OUT.safetensors + OUT.json", metavar="OUT")
    add_overwrite_option(output, "OUT.safetensors and OUT.json")
    output.add_argument(
        "--cache-dir", help=f"teacher cache folder (default: ${CACHE_ENV}/teachers, else teachers in the platform's "
                            "cache folder, on Linux ~/.cache/art-bmtad/teachers)"
    )
    return parser


def _add_teacher_options(group: argparse._ArgumentGroup, defaults: TeacherConfig) -> None:
    group.add_argument("--model", default=defaults.model,
                       help="model to train: <zoo>/<model>, a bare timm name or a registered model (`art-bmtad "
                            "models` lists them; default: %(default)s)")
    group.add_argument("--kind", choices=KINDS, default=defaults.kind, help="training method")
    group.add_argument(
        "--cifar-stem", action="store_true", help="3x3 stride-1 first conv and no max-pool (timm ResNets, 32x32 inputs)"
    )


def _add_training_options(group: argparse._ArgumentGroup, defaults: TeacherConfig) -> None:
    group.add_argument("--epochs", type=int, default=defaults.epochs, help="training epochs")
    group.add_argument("--batch-size", type=int, default=defaults.batch_size, help="batch size")
    group.add_argument("--lr", type=float, default=defaults.lr, help="SGD learning rate")
    group.add_argument("--milestones", type=_epochs, default=(), metavar="E1,E2",
                       help="robust teachers: learning rate x0.1 after these epochs (default: constant)")
    group.add_argument("--augment", action="store_true", help="random crop (zero padding 4) and flip (clean only)")
    group.add_argument("--seed", type=int, default=defaults.seed, help="seed of data split, initialisation, shuffling")


def _epochs(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated epochs such as 6,7; got {text!r}") from None


def _add_threat_options(group: argparse._ArgumentGroup, defaults: TeacherConfig) -> None:
    group.add_argument("--eps", type=fraction, default=defaults.eps,
                       help="L-inf budget, [0, 1] pixels (default: 8/255)")
    group.add_argument("--eps-step", type=fraction, default=defaults.eps_step, help="PGD step, pixels (default: 2/255)")
    group.add_argument("--max-iter", type=int, default=defaults.max_iter, help="PGD steps per batch")
    group.add_argument("--beta", type=float, default=defaults.beta, help="TRADES trade-off of clean and robust loss")


def run(args: argparse.Namespace) -> int:
    """Prepare the teacher and print where it is and its clean test accuracy.

    Args:
        args: the parsed command line.

    Returns:
        0.
    """
    import torch

    from art_bmtad.commands.recipe_options import quiet_or_progress
    from art_bmtad.pipeline.components import open_dataset
    from art_bmtad.pipeline.teacher_prep import assess_robust_teacher, prepare_teacher, resolve_cache_dir, teacher_cache_key
    from art_bmtad.registry import qualified_name
    from art_bmtad.run import check_creatable_folder, check_output_file
    from art_bmtad.utils.device import physical_cores

    config = TeacherConfig(
        model=args.model,
        kind=args.kind,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        eps=args.eps,
        eps_step=args.eps_step,
        max_iter=args.max_iter,
        beta=args.beta,
        cifar_stem=args.cifar_stem,
        augment=args.augment,
        seed=args.seed,
        milestones=args.milestones,
    )
    qualified_name(config.model)  # an unknown name stops here, with the closest names
    if args.out is not None:
        for suffix in (".safetensors", ".json"):
            check_output_file(Path(args.out).with_suffix(suffix), option="--out")
    check_creatable_folder(resolve_cache_dir(args.cache_dir), option="--cache-dir")
    data = open_dataset(args.data or "digits", args.data_path, download=args.download, n_train=args.n_train,
                        n_test=args.n_test, val_size=0.1 if args.val_size is None else args.val_size, seed=args.seed)
    if config.batch_size > len(data.x_train):
        raise ValueError(f"--batch-size {config.batch_size} is larger than the {len(data.x_train)} training examples")
    if args.out is not None and not args.overwrite:
        _check_same_teacher(Path(args.out), teacher_cache_key(config, data))
    progress = quiet_or_progress(args)
    torch.set_num_threads(args.threads or physical_cores())
    teacher = prepare_teacher(
        config, data, cache_dir=args.cache_dir, out=args.out, device=args.device or "auto", progress=progress
    )
    accuracy = (teacher.classifier.predict(data.x_test).argmax(1) == data.y_test).mean()
    origin = "reused from cache" if teacher.cached else "trained"
    print(f"{config.kind} teacher {config.model} {origin}: {teacher.path} (clean test accuracy {accuracy:.4f})")
    if config.kind != "clean":
        verdict = assess_robust_teacher(teacher.classifier, config, data, student_model=args.compare_student,
                                        student_epochs=args.compare_epochs, margin=args.margin,
                                        cache_dir=args.cache_dir, device=args.device or "auto", progress=progress)
        print(verdict.summary)
    return 0


def _check_same_teacher(out: Path, key: str) -> None:
    """An existing ``--out`` teacher may only be rewritten with the same teacher (same cache key) unless
    ``--overwrite``."""
    from art_bmtad.models.classifier_files import read_metadata

    existing = [path for path in (out.with_suffix(".safetensors"), out.with_suffix(".json")) if path.exists()]
    if not existing:
        return
    try:
        same = read_metadata(out.with_suffix(".json")).get("extra", {}).get("cache_key") == key
    except (OSError, ValueError):
        same = False
    if not same:
        raise ValueError(f"--out {existing[0]} already holds another teacher; pass --overwrite to replace it, or "
                         "choose another --out")


