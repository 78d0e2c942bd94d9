"""The ``art-bmtad`` command line: one sub-command per module in :mod:`art_bmtad.commands`."""
from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Sequence

COMMANDS = ("train", "eval", "bench", "teachers", "tune", "models", "cost", "export", "report", "plugins")
"""Sub-commands, one module each in :mod:`art_bmtad.commands`; a name whose module does not exist yet is skipped."""
INTERRUPTED = 130
"""Exit status after Ctrl-C or SIGTERM (the shell's 128 + SIGINT)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="art-bmtad",
        description="Balanced multi-teacher adversarial distillation for the Adversarial Robustness Toolbox.",
    )
    parser.add_argument("--quiet", action="store_true", help="only warnings and errors, no progress bars")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"art_bmtad.commands.{name}")
        except ModuleNotFoundError as err:
            if err.name != f"art_bmtad.commands.{name}":
                raise
            continue
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    try:
        return int(args.run(args) or 0)
    except (ValueError, FileNotFoundError, KeyError) as err:
        print(f"art-bmtad {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM; a checkpointed run has saved its last step
        print(f"art-bmtad {args.command}: interrupted", file=sys.stderr)
        return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
