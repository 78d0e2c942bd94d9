"""``art-bmtad tune``: search B-MTARD's balance settings with Optuna on a pilot subset, scored on validation data."""
from __future__ import annotations

import argparse
import importlib.util
import shlex
import time
from pathlib import Path
from typing import TYPE_CHECKING

from art_bmtad.commands import add_command
from art_bmtad.commands.recipe_options import (FLAGS, SHORTCUTS, add_recipe_options, count_or_fraction,
                                               quiet_or_progress, recipe_from_args)
from art_bmtad.commands.tracking_options import add_log_option, check_log_option
from art_bmtad.recipes.recipe import RECIPE_FILE

if TYPE_CHECKING:
    from art_bmtad.tuning import TuneSettings

DESCRIPTION = f"""\
Search B-MTARD's balance settings with Optuna: eta_tau (balancing.temperature_lr), t_min, t_init, eta_w
(balancing.weight_lr) and kl_scale, over ranges that --space changes or extends (e.g. the learning rate).
Each trial trains the student on a pilot subset of the training split (--pilot) for the recipe's epochs,
with teachers prepared once (teacher cache) and shared by all trials, and is scored on the validation split
only: the study never loads the test split. The objective is a weighted sum of validation clean and PGD
accuracy (--clean-weight), or both at once as a Pareto front (--objective pareto, NSGA-II). Weighted trials
report after every epoch and unpromising ones are pruned (median rule; --pruner); Optuna does not prune
multi-objective studies, so pareto trials always run all their epochs.

The run folder gets study.db (Optuna's SQLite storage: sqlite:///RUN_DIR/study.db), tune.json (the
settings), {RECIPE_FILE} (the best recipe, trained on the whole pool by `art-bmtad train --config` or
`art-bmtad bench --config`), trials.csv and trials.md (every trial), pareto.png (validation clean against
PGD accuracy) and importance.png (fANOVA importance of each setting; rough from a few trials). One line is
printed per trial. A killed study continues with --resume RUN_DIR (finished trials are kept, an interrupted
one runs again); a second process works on the same study with --join RUN_DIR.

--storage URL keeps the study in any database Optuna takes instead of study.db (sqlite:////mnt/studies/study.db,
postgresql://user:password@host/db with psycopg2 installed, mysql+pymysql://...), so processes on many machines
work on one study: start each with the same options and its own --out. The study remembers its settings and
refuses a process whose settings differ (device, threads and file locations may). tune.json keeps the URL with
its password masked: --resume and --join then take --storage again.

Examples:
  art-bmtad tune --preset smoke --trials 6 --out runs/tune
  art-bmtad train --config runs/tune/{RECIPE_FILE} --out runs/tuned
  art-bmtad tune --resume runs/tune --trials 10
  art-bmtad tune --preset smoke --objective pareto --trials 12 --out runs/pareto
  art-bmtad tune --preset smoke --space schedule.lr=0.01:0.3:log --space balancing.t_init=fixed --out runs/t2
  art-bmtad tune --preset smoke --trials 40 --storage postgresql://user:password@db-host/tune --out runs/tune-a"""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = add_command(subparsers, run, "tune", help="tune B-MTARD's balance settings on a pilot subset (Optuna)",
                         description=DESCRIPTION)
    folder = parser.add_mutually_exclusive_group(required=True)
    folder.add_argument("--out", type=Path, metavar="RUN_DIR", help="the run folder of a new study")
    folder.add_argument("--resume", type=Path, metavar="RUN_DIR",
                        help="continue the study in RUN_DIR with its own settings (after a kill, or to add trials)")
    folder.add_argument("--join", type=Path, metavar="RUN_DIR",
                        help="run trials of the study in RUN_DIR alongside the process that holds it")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an earlier run in --out (as a whole, once every input has been checked)")
    study = parser.add_argument_group("study")
    study.add_argument("--defence", default=None, metavar="NAME",
                       help="the distillation defence to tune: bmtard (default), mtard, rslad or ard")
    study.add_argument("--trials", type=int, metavar="N",
                       help="trials to finish (default 20; with --resume: the study's own unless given)")
    study.add_argument("--pilot", type=count_or_fraction, metavar="N|F",
                       help="training images per trial: a count, or a fraction of the training split (default 0.5)")
    study.add_argument("--objective", choices=("weighted", "pareto"),
                       help="weighted: one score, prunable (default); pareto: clean and PGD accuracy as two "
                            "objectives (NSGA-II, no pruning)")
    study.add_argument("--clean-weight", type=float, metavar="W",
                       help="score = W x clean + (1 - W) x PGD validation accuracy (default 0.5); pareto studies "
                            f"use it to pick {RECIPE_FILE} from the front")
    study.add_argument("--space", action="append", default=[], metavar="KEY=LOW:HIGH[:log]|KEY=fixed",
                       help="add or change a searched range, or keep a key at the recipe's value (repeatable)")
    study.add_argument("--pruner", choices=("median", "threshold", "none"),
                       help="median (default), threshold (with --prune-below) or none")
    study.add_argument("--prune-below", type=float, metavar="X",
                       help="with --pruner threshold: stop a trial whose score after an epoch is below X")
    study.add_argument("--storage", metavar="URL",
                       help="the study's Optuna storage, a database URL such as postgresql://user:password@host/db "
                            "(default: sqlite:///RUN_DIR/study.db); processes on many machines share a study this way")
    add_log_option(parser)
    add_recipe_options(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run (or continue, or join) the study and write its outputs.

    Args:
        args: the parsed command line.

    Returns:
        0.

    Raises:
        ValueError: bad settings, or a run folder that cannot be used as asked.
        FileNotFoundError: --resume/--join of a folder without a study.
    """
    from art_bmtad.run import RunFolder, RunFolderBusy
    from art_bmtad.tuning import (SETTINGS_FILE, TuneSettings, best_trial, load_tuning_data, open_study, run_study,
                                  write_report, write_trials_table)

    if importlib.util.find_spec("optuna") is None:
        raise ValueError("tune needs Optuna: pip install 'art-bmtad[tune]' (or pip install optuna)")
    from art_bmtad.tuning.storage import resumed_storage

    backends = check_log_option(args)
    progress = quiet_or_progress(args)
    started = time.perf_counter()
    existing = args.resume or args.join
    if existing is not None:
        _check_no_new_settings(args)
        settings = TuneSettings.read(existing)
        settings.storage = resumed_storage(settings.storage, args.storage, existing)
        if args.trials is not None:
            settings.n_trials = args.trials
    else:
        settings = _new_settings(args)
    settings.check()
    run_dir = existing or args.out
    folder = None
    if args.join is None:  # the folder is checked (and locked) before the data is loaded
        folder = RunFolder(run_dir, command="art-bmtad tune", overwrite=args.overwrite, resume=args.resume is not None,
                           marker=SETTINGS_FILE, resume_option="--resume").open()
    try:
        data = load_tuning_data(settings.recipe, settings.pilot_size)  # checks the pilot size
        if args.join is not None:
            study = run_study(settings, run_dir, progress=progress, data=data, trackers=backends)
            try:
                folder = RunFolder(run_dir, command="art-bmtad tune --join", resume=True, marker=SETTINGS_FILE).open()
            except RunFolderBusy:
                print(f"tune: trials added to {run_dir}; the process holding it writes the outputs")
                return 0
        if settings.storage is not None and args.join is None:
            open_study(settings, run_dir)  # a shared study: refused here, before any output, if its settings differ
        folder.begin()
        folder.write_text(SETTINGS_FILE, _json(settings.to_dict()))
        if args.join is None:
            study = run_study(settings, run_dir, progress=progress, data=data, trackers=backends,
                              after_trial=lambda study: write_trials_table(study, settings, run_dir))
        write_report(study, settings, run_dir)
    finally:
        if folder is not None:
            folder.close()
    best = best_trial(study, settings.objective)
    elapsed = time.perf_counter() - started
    if best is None:
        print(f"tune: no trial completed ({elapsed:.0f} s); see {run_dir}/trials.md")
        return 0
    print(f"tune: {elapsed:.0f} s; best trial {best.number}, written as {run_dir / RECIPE_FILE}; train it on the "
          f"whole pool with: art-bmtad train --config {shlex.quote(str(run_dir / RECIPE_FILE))} --out RUN_DIR")
    return 0


def _new_settings(args: argparse.Namespace) -> "TuneSettings":
    from art_bmtad.tuning import Objective, TuneSettings, parse_space

    defence = args.defence or "bmtard"
    recipe = recipe_from_args(args, {"defences": [defence]})
    objective = Objective(args.objective or "weighted", 0.5 if args.clean_weight is None else args.clean_weight)
    return TuneSettings(recipe, defence, parse_space(args.space, defence), objective,
                        0.5 if args.pilot is None else args.pilot, 20 if args.trials is None else args.trials,
                        args.pruner or "median", args.prune_below, args.storage)


def _check_no_new_settings(args: argparse.Namespace) -> None:
    """--resume and --join continue the study with its own settings (only --trials may change)."""
    options = (*SHORTCUTS, "preset", "config", "defence", "pilot", "objective", "clean_weight", "pruner", "prune_below")
    given = [f"--{dest.replace('_', '-')}" for dest in options if getattr(args, dest) is not None]
    given += [f"--{dest.replace('_', '-')}" for dest in FLAGS if getattr(args, dest, None)]
    given += ["--set"] * bool(args.overrides) + ["--space"] * bool(args.space)
    if args.join is not None and args.trials is not None:
        given.append("--trials")
    if given:
        which = "--resume" if args.resume is not None else "--join"
        raise ValueError(f"{which} continues the study with its own settings (tune.json); drop {', '.join(given)}")


def _json(document: dict) -> str:
    import json

    return json.dumps(document, indent=2) + "\n"
