"""``art-bmtad models``: the registered models, with each zoo's input size, normalisation, classes and weights."""
from __future__ import annotations

import argparse
from typing import Sequence

from art_bmtad.commands import add_command

DESCRIPTION = """\
List the models that art-bmtad can build, by the names every command and recipe accepts: <zoo>/<model> for
each installed model zoo (bare names are timm models) and the single models that plugins register. For each:
input size (C,H,W), the normalisation applied inside the classifier (mean / std of [0, 1] pixels; 'none' when
the model takes raw pixels), classes, dataset and threat model of the published weights, and where the
weight file goes for pretrained use. Listing a zoo imports only that zoo's library.

Examples:
  art-bmtad models --zoo robustbench
  art-bmtad models --filter resnet56
  art-bmtad models --zoo timm --filter 'resnet1*'"""

COLUMNS = ("name", "input", "normalisation", "classes", "dataset", "threat", "weights")


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = add_command(subparsers, run, "models", help="list the registered models and model zoos",
                         description=DESCRIPTION)
    parser.add_argument("--zoo", metavar="ZOO", help="only this zoo's models (see `art-bmtad plugins` for the zoos)")
    parser.add_argument("--filter", metavar="TEXT",
                        help="only names containing TEXT, or matching it as a pattern with * ? [ (case-insensitive)")
    return parser


def run(args: argparse.Namespace) -> int:
    """Print the table of models.

    Args:
        args: the parsed command line (``--zoo``, ``--filter``).

    Returns:
        0 (also when nothing matches: the table is then empty and a line says so).

    Raises:
        UnknownNameError: ``--zoo`` names no installed zoo.
    """
    from art_bmtad.registry import list_models, model_cfg

    names = list_models(args.zoo, args.filter)
    rows = [describe(name, model_cfg(name)) for name in names]
    print(format_table(rows))
    if not rows:
        print(f"(no model matches{' in zoo ' + args.zoo if args.zoo else ''}"
              f"{' the filter ' + repr(args.filter) if args.filter else ''})")
    return 0


def describe(name: str, cfg) -> tuple[str, ...]:
    """One row of the table for ``name`` and its :class:`~art_bmtad.models.zoo.ModelCfg`."""
    return (
        name,
        "x".join(str(size) for size in cfg.input_size) if cfg.input_size else "any",
        _normalisation(cfg.mean, cfg.std),
        str(cfg.num_classes) if cfg.num_classes else "any",
        cfg.dataset or "-",
        cfg.threat_model or "-",
        cfg.weights or "-",
    )


def format_table(rows: Sequence[tuple[str, ...]]) -> str:
    """The rows under :data:`COLUMNS`, each column as wide as its widest cell."""
    table = [COLUMNS, *rows]
    widths = [max(len(row[column]) for row in table) for column in range(len(COLUMNS) - 1)]
    return "\n".join(
        "  ".join([*(cell.ljust(width) for cell, width in zip(row, widths)), row[-1]]).rstrip() for row in table
    )


def _normalisation(mean: Sequence[float] | None, std: Sequence[float] | None) -> str:
    if mean is None or std is None:
        return "dataset's"
    if all(value == 0 for value in mean) and all(value == 1 for value in std):
        return "none"
    return f"{','.join(f'{v:.3g}' for v in mean)} / {','.join(f'{v:.3g}' for v in std)}"
