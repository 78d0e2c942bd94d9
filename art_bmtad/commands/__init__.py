"""Sub-commands of the ``art-bmtad`` CLI, one module each.

Each module defines ``add_parser(subparsers) -> ArgumentParser``, which registers its sub-command (and options)
on the CLI's sub-parser collection through :func:`add_command`, and ``run(args) -> int``, the exit status.
"""
from __future__ import annotations

import argparse
from typing import Any, Callable


def add_command(
    subparsers: argparse._SubParsersAction,
    run: Callable[[argparse.Namespace], int],
    name: str,
    **kwargs: Any,
) -> argparse.ArgumentParser:
    """Register sub-command ``name`` whose ``run(args)`` the CLI calls; ``kwargs`` go to ``add_parser``
    (``help``, ``description``; the description's own line breaks are kept unless a formatter is given)."""
    kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
    parser = subparsers.add_parser(name, **kwargs)
    parser.set_defaults(run=run)
    return parser
