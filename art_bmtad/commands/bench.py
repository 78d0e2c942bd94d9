"""``art-bmtad bench``: train every selected defence under one recipe, evaluate all alike, write the run folder."""
from __future__ import annotations

import argparse
from pathlib import Path

from art_bmtad.commands import add_command
from art_bmtad.commands.recipe_options import add_recipe_options, quiet_or_progress, recipe_from_args
from art_bmtad.commands.tracking_options import add_log_option, check_log_option
from art_bmtad.recipes.recipe import DEFAULT_DEFENCES, EXTRA_DEFENCES
from art_bmtad.run import add_overwrite_option

DESCRIPTION = f"""\
Benchmark B-MTARD against its relatives and ART's own adversarial training under one recipe: the same
student architecture, data split, epochs, optimiser, schedule, batch size and training attack for all.
Teachers are prepared first (from --robust-teacher/--clean-teacher checkpoints, the teacher cache, or
trained) and get their own rows, with their training cost, which the "Total s" column adds to each
distillation defence's. Every defence, ART's trainers included, is trained epoch by epoch and keeps the epoch
that is best on the validation split; with schedule.augment every defence's batches are cropped and flipped
on the fly (ART's trainers through an ART DataGenerator), without it nobody's are. A defence's own options
(TRADES beta, AWP gamma, FBF's step, the distillation kl_scale) start from its paper's values and are set
per defence with --set defence_options.<name>.<option>=VALUE; results.json records both. Every model gets
the same evaluation on the test split.

Defences: {', '.join(DEFAULT_DEFENCES)} by default; {', '.join(EXTRA_DEFENCES)} when asked
(--defences or --all); any defence a plugin registers (see `art-bmtad plugins`).

Under torchrun (`torchrun --nproc_per_node N -m art_bmtad bench ...`) the distillation defences train on all
processes with DistributedDataParallel (the batch size stays the global batch); ART's trainers, which are
single-process, then train on rank 0 alone, which also evaluates everything and writes the run folder.

The run folder (--out) gets config.yaml (the resolved recipe: re-run with --config), results.json
(config, versions, device, seed, every accuracy, training time, seconds per epoch, peak memory, each
model's inference cost), results.md (printed at the end), tradeoff.png, accuracy_latency.png,
bmtard_balance.png and one folder per defence with its student and history. `art-bmtad report RUN_DIR`
re-renders the table and plots.

Examples:
  art-bmtad bench --preset smoke --out runs/smoke
  art-bmtad bench --preset cifar10-cpu --data-path data/cifar10.npz --out runs/cifar10-cpu
  art-bmtad bench --preset smoke --defences bmtard,art-fbf,plain --set schedule.epochs=2 --out runs/mini"""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = add_command(
        subparsers, run,
        "bench", help="train and evaluate every selected defence under one recipe; table, JSON and plots",
        description=DESCRIPTION,
    )
    parser.add_argument("--out", type=Path, required=True, metavar="RUN_DIR", help="the run folder to write")
    chosen = parser.add_mutually_exclusive_group()
    chosen.add_argument("--defences", metavar="LIST",
                        help="comma-separated defences to train, in table order [defences]")
    chosen.add_argument("--all", action="store_true",
                        help=f"every built-in defence: the defaults plus {', '.join(EXTRA_DEFENCES)}")
    add_overwrite_option(parser)
    add_log_option(parser)
    add_recipe_options(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Check the recipe, run the benchmark and print the Markdown table.

    Args:
        args: the parsed command line.

    Returns:
        0.
    """
    from art_bmtad.benchmark import run_benchmark
    from art_bmtad.benchmark.render import render_markdown
    from art_bmtad.utils import distributed

    progress = quiet_or_progress(args)
    extra = {}
    if args.defences:
        extra["defences"] = args.defences
    elif args.all:
        extra["defences"] = [*DEFAULT_DEFENCES, *EXTRA_DEFENCES]
    recipe = recipe_from_args(args, extra)
    backends = check_log_option(args)
    with distributed.process_group_from_env() as context:
        results = run_benchmark(recipe, args.out, progress=progress, device=context and context.device,
                                overwrite=args.overwrite, log=backends)
    if results is not None:  # rank 0 (or a single process); run_benchmark already wrote results.md and the plots
        print(render_markdown(results), end="")
    return 0
