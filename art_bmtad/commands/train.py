"""``art-bmtad train``: train one student with one defence under a recipe, resumable, torchrun-aware."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from art_bmtad.commands import add_command
from art_bmtad.commands.recipe_options import add_recipe_options, quiet_or_progress, recipe_from_args
from art_bmtad.config import RECIPE_FILE, Recipe

logger = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"

DESCRIPTION = f"""\
Train one student with one defence (default: bmtard) under a recipe: the same presets, config files and
overrides as `art-bmtad bench`. Teachers come from --robust-teacher/--clean-teacher checkpoints, the
teacher cache, or are trained first. The epoch kept is selected on the validation split.

The run folder (--out RUN_DIR) gets student.safetensors + student.json (evaluate it with
`art-bmtad eval --model RUN_DIR`), history.json, {RECIPE_FILE} (the resolved recipe) and, for the
distillation defences, training checkpoints in {CHECKPOINTS}/ after every epoch. An interrupted run
continues with `art-bmtad train --resume RUN_DIR` (same recipe; --epochs may extend it).

Under torchrun (e.g. `torchrun --nproc_per_node 4 -m art_bmtad train ...`) the process group is set
up from torchrun's environment and the batch size stays the global batch; only the distillation
defences train distributed. Ctrl-C or SIGTERM finishes the current step, saves it and stops (under
torchrun, on every rank after the same step); --resume continues from there.

Examples:
  art-bmtad train --preset smoke --out runs/student
  art-bmtad train --preset smoke --defence rslad --epochs 3 --out runs/rslad
  art-bmtad train --resume runs/student"""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = add_command(
        subparsers, run,
        "train", help="train one student with one defence; saves it for `art-bmtad eval`", description=DESCRIPTION,
    )
    run_group = parser.add_mutually_exclusive_group(required=True)
    run_group.add_argument("--out", type=Path, metavar="RUN_DIR", help="the run folder to write (a new run)")
    run_group.add_argument("--resume", type=Path, metavar="RUN_DIR",
                           help=f"continue the run in RUN_DIR from its newest checkpoint, with its {RECIPE_FILE}")
    parser.add_argument("--defence", metavar="NAME",
                        help="the defence: a name from `art-bmtad plugins`, or plain (default: bmtard; "
                             "with --resume: the run's own)")
    add_recipe_options(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Train the student and save it, its history and the resolved recipe in the run folder.

    Args:
        args: the parsed command line.

    Returns:
        0.

    Raises:
        ValueError: a bad recipe, or a new run into a folder that already holds checkpoints.
    """
    from art_bmtad import distributed
    from art_bmtad.benchmark import save_trained, train_defence
    from art_bmtad.benchmark.components import apply_runtime, load_data, prepare_teachers
    from art_bmtad.benchmark.training import teachers_needed
    from art_bmtad.config import write_recipe
    from art_bmtad.device import resolve_device

    progress = quiet_or_progress(args)
    run_dir = args.resume or args.out
    recipe = _recipe(args, run_dir)
    _check_run_dir(run_dir, resume=args.resume is not None)
    with distributed.process_group_from_env() as context:
        device = context.device if context is not None else resolve_device(recipe.device)
        apply_runtime(recipe)
        main = distributed.is_main_process()
        if main:
            write_recipe(recipe, run_dir / RECIPE_FILE)
        data = load_data(recipe)
        name = recipe.defences[0]
        _check_distributable(name)
        teachers = prepare_teachers(recipe, data, teachers_needed([name]), device=device, progress=progress)
        checkpoint_dir = _checkpoint_dir(name, run_dir)
        try:
            trained = train_defence(name, recipe, data, teachers.classifiers, device=device, progress=progress,
                                    checkpoint_dir=checkpoint_dir, resume=args.resume is not None)
        except KeyboardInterrupt:
            if main and checkpoint_dir is not None:
                print(f"art-bmtad train: stopped; continue with: art-bmtad train --resume {run_dir}", file=sys.stderr)
            raise
        if main:
            save_trained(trained, run_dir, recipe=recipe.to_dict())
            print(f"{name}: student saved in {run_dir} ({trained.selection}; {trained.train_seconds:.1f} s of "
                  f"training). Evaluate it with: {eval_command(recipe, run_dir)}")
    return 0


def _recipe(args: argparse.Namespace, run_dir: Path) -> Recipe:
    """The new run's recipe, or the resumed run's own (with this command line's overrides on top)."""
    if args.resume is None:
        return recipe_from_args(args, {"defences": [args.defence or "bmtard"]})
    saved = run_dir / RECIPE_FILE
    if not saved.is_file():
        raise FileNotFoundError(f"--resume {run_dir}: no {RECIPE_FILE} there; is it the --out folder of a train run?")
    extra = {"defences": [args.defence]} if args.defence else {}
    return recipe_from_args(args, extra, config_file=saved)


def _check_run_dir(run_dir: Path, *, resume: bool) -> None:
    """A new run must not land on an earlier run's checkpoints; a resumed run needs them."""
    checkpoints = run_dir / CHECKPOINTS
    held = checkpoints.is_dir() and any(checkpoints.iterdir())
    if held and not resume:
        raise ValueError(f"{run_dir} already holds a training run ({checkpoints}); continue it with "
                         f"--resume {run_dir}, or choose another --out")
    if resume and not held:
        raise FileNotFoundError(f"--resume {run_dir}: no checkpoints in {checkpoints}")


def _check_distributable(name: str) -> None:
    """Under torchrun only the distillation defences train with DistributedDataParallel; ART's trainers would
    train the whole student on every rank."""
    from art_bmtad import distributed
    from art_bmtad.benchmark.training import DISTILLATION_TEACHERS

    if distributed.is_distributed() and name not in DISTILLATION_TEACHERS:
        raise ValueError(f"{name!r} trains in one process (only {', '.join(DISTILLATION_TEACHERS)} train with "
                         f"DistributedDataParallel); launch it without torchrun")


def _checkpoint_dir(name: str, run_dir: Path) -> Path | None:
    from art_bmtad.benchmark.training import DISTILLATION_TEACHERS

    if name not in DISTILLATION_TEACHERS:
        logger.info("%s keeps no training checkpoints (only the distillation defences do); it cannot be resumed",
                    name)
        return None
    return run_dir / CHECKPOINTS


def eval_command(recipe: Recipe, run_dir: Path) -> str:
    """The ``art-bmtad eval`` command line that evaluates the run's student on its data and threat model."""
    data = recipe.data
    parts = ["art-bmtad eval", f"--model {run_dir}", f"--data {data.source}"]
    if data.path:
        parts.append(f"--data-path {data.path}")
    parts.append(f"--eps {recipe.threat.eps:.6g}")
    if recipe.seed:
        parts.append(f"--seed {recipe.seed}")
    return " ".join(parts)
