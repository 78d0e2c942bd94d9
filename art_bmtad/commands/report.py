"""``art-bmtad report``: re-render a benchmark run's table and plots from its results.json and histories."""
from __future__ import annotations

import argparse
from pathlib import Path

from art_bmtad.commands import add_command

DESCRIPTION = """\
Re-render the Markdown table (results.md, also printed) and the plots (tradeoff.png: clean versus
AutoAttack accuracy of every defence; bmtard_balance.png: B-MTARD's temperatures and loss weights
per step) of a benchmark run folder, from its results.json and the defences' history.json files.
Nothing is trained or evaluated again.

Example:
  art-bmtad report runs/smoke"""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = add_command(
        subparsers, run,
        "report", help="re-render a benchmark run's table and plots", description=DESCRIPTION,
    )
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="the --out folder of `art-bmtad bench`")
    return parser


def run(args: argparse.Namespace) -> int:
    """Re-render and print the table.

    Args:
        args: the parsed command line.

    Returns:
        0.
    """
    from art_bmtad.benchmark import render_run

    print(render_run(args.run_dir), end="")
    return 0
