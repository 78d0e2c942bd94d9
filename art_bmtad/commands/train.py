"""``art-bmtad train``: train one student with one defence under a recipe, resumable, torchrun-aware."""
from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path
from typing import Any

from art_bmtad.commands import add_command
from art_bmtad.commands.recipe_options import add_recipe_options, quiet_or_progress, recipe_from_args
from art_bmtad.commands.tracking_options import add_log_option, check_log_option
from art_bmtad.recipes.recipe import RECIPE_FILE, Recipe
from art_bmtad.run import add_overwrite_option

logger = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"
RESUMABLE_CHANGES = ("schedule.epochs", "device", "threads")
"""Recipe keys a resumed run may change: more epochs, where it runs, how many CPU threads."""

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
    add_overwrite_option(parser)
    add_log_option(parser)
    add_recipe_options(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Train the student and save it, its history and the resolved recipe in the run folder.

    Everything is checked before any expensive work, in this order: the recipe, the resumed run's recipe, the run
    folder (locked for the whole run), the student's construction, the data and the batching, the resumed
    run's data, each teacher against the data. Only then does the run begin (an earlier run replaced with
    ``--overwrite``, the recipe written).

    Args:
        args: the parsed command line.

    Returns:
        0.

    Raises:
        ValueError: a bad recipe, data or teacher; a run folder that holds another run or is in use; a resumed
            run whose recipe or data differ from the checkpoints' (naming the keys).
    """
    from art_bmtad.benchmark import save_trained, train_defence
    from art_bmtad.data.datasets import dataset_digest
    from art_bmtad.pipeline.checks import check_training_data
    from art_bmtad.pipeline.components import apply_runtime, check_student_builds, load_data, prepare_teachers
    from art_bmtad.pipeline.training import teachers_needed
    from art_bmtad.recipes.recipe import write_recipe
    from art_bmtad.run import RunFolder, opened_by_rank_zero
    from art_bmtad.tracking import open_tracking
    from art_bmtad.trainers import training_checkpoints
    from art_bmtad.utils import distributed
    from art_bmtad.utils.device import resolve_device

    progress = quiet_or_progress(args)
    resume = args.resume is not None
    run_dir = args.resume or args.out
    folder = RunFolder(run_dir, command="art-bmtad train", option="--resume" if resume else "--out",
                       overwrite=args.overwrite, resume=resume, resume_option="--resume")
    recipe = _recipe(args, run_dir)
    record = _check_same_recipe(recipe, run_dir) if resume else None
    name = recipe.defences[0]
    backends = check_log_option(args)
    with distributed.process_group_from_env() as context:
        main = distributed.is_main_process()
        _check_distributable(name)
        with opened_by_rank_zero(folder):
            device = context.device if context is not None else resolve_device(recipe.device)
            apply_runtime(recipe)
            check_student_builds(recipe)
            data = load_data(recipe)
            check_training_data(recipe, data, processes=distributed.world_size())
            digest = dataset_digest(data)
            if record is not None and record.get("data") not in (None, digest):
                raise ValueError(f"--resume {run_dir}: the data differ from those the run was trained on (digest "
                                 f"{digest[:12]} vs {record['data'][:12]}); resume with the same data files")
            teachers = prepare_teachers(recipe, data, teachers_needed([name]), device=device, progress=progress)
            if main:
                folder.begin()
                write_recipe(recipe, run_dir / RECIPE_FILE)
            checkpoint_dir = _checkpoint_dir(name, run_dir)
            with open_tracking(backends, run_dir, name) as tracker:  # after begin(): into the new run's folder
                tracker.log_params({"defence": name, **recipe.to_dict()})
                try:
                    with training_checkpoints.recording({"recipe": recipe.to_dict(), "data": digest}):
                        trained = train_defence(name, recipe, data, teachers.classifiers, device=device,
                                                progress=progress, checkpoint_dir=checkpoint_dir, resume=resume,
                                                tracker=tracker)
                except KeyboardInterrupt:
                    if main and checkpoint_dir is not None:
                        print("art-bmtad train: stopped; continue with: art-bmtad train --resume "
                              f"{shlex.quote(str(run_dir))}", file=sys.stderr)
                    raise
            if main:
                save_trained(trained, run_dir, recipe=recipe.to_dict())
                print(f"{name}: student saved in {run_dir} ({trained.selection}; {trained.train_seconds:.1f} s of "
                      f"training). Evaluate it with: {eval_command(run_dir)}")
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


def _check_same_recipe(recipe: Recipe, run_dir: Path) -> dict[str, Any] | None:
    """Refuse a resumed run whose recipe differs from the one its checkpoints recorded, except in
    :data:`RESUMABLE_CHANGES`; return the checkpoints' run record (``None`` for checkpoints written without one,
    which are compared with the run's saved recipe instead)."""
    from art_bmtad.recipes.recipe import load_recipe, recipe_from_dict
    from art_bmtad.trainers import training_checkpoints

    record = training_checkpoints.read_run_record(run_dir / CHECKPOINTS)
    if record is None:
        saved = load_recipe(config_file=run_dir / RECIPE_FILE, check_names=False).to_dict()
    else:  # keys added to the recipe since the checkpoint was written take their defaults
        saved = recipe_from_dict(record["recipe"]).to_dict()
    changed = [key for key in training_checkpoints.differing_keys(saved, recipe.to_dict())
               if key not in RESUMABLE_CHANGES]
    if changed:
        raise ValueError(f"--resume {run_dir}: changes the recipe of the run being resumed in {', '.join(changed)}; "
                         f"a resumed run may only change {', '.join(RESUMABLE_CHANGES)} (start a new run with --out "
                         "to change the others)")
    return record


def _check_distributable(name: str) -> None:
    """Under torchrun only the distillation defences train with DistributedDataParallel; ART's trainers would
    train the whole student on every rank."""
    from art_bmtad.pipeline.training import DISTILLATION_TEACHERS
    from art_bmtad.utils import distributed

    if distributed.is_distributed() and name not in DISTILLATION_TEACHERS:
        raise ValueError(f"{name!r} trains in one process (only {', '.join(DISTILLATION_TEACHERS)} train with "
                         f"DistributedDataParallel); launch it without torchrun")


def _checkpoint_dir(name: str, run_dir: Path) -> Path | None:
    from art_bmtad.pipeline.training import DISTILLATION_TEACHERS

    if name not in DISTILLATION_TEACHERS:
        logger.info("%s keeps no training checkpoints (only the distillation defences do); it cannot be resumed",
                    name)
        return None
    return run_dir / CHECKPOINTS


def eval_command(run_dir: Path) -> str:
    """The ``art-bmtad eval`` command line for the run: eval reads the data and threat model from its config.yaml."""
    return f"art-bmtad eval --model {shlex.quote(str(run_dir))}"
