"""The ``art-bmtad`` command line: one sub-command per module in :mod:`art_bmtad.commands`."""
from __future__ import annotations

import argparse
import importlib
import logging
import sys
import traceback
from typing import Sequence

COMMANDS = ("train", "eval", "bench", "teachers", "tune", "models", "cost", "export", "report", "plugins")
"""Sub-commands, one module each in :mod:`art_bmtad.commands`; a name whose module does not exist yet is skipped."""
INTERRUPTED = 130
"""Exit status after Ctrl-C or SIGTERM (the shell's 128 + SIGINT)."""
USAGE_ERROR = 2
"""Exit status of a user's or the environment's mistake (as argparse's own errors)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="art-bmtad",
        description="Balanced multi-teacher adversarial distillation for the Adversarial Robustness Toolbox.",
    )
    parser.add_argument("--quiet", action="store_true", help="only warnings and errors, no progress bars")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error, not only its message")
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


def _version() -> str:
    """The installed distribution's version (importlib.metadata: no import of the package's heavy parts)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("art-bmtad")
    except PackageNotFoundError:
        return "unknown (not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    """Run one sub-command; return its exit status.

    A user's mistake or the environment's (a bad option, recipe, data file or image, a run folder in use, a
    read-only or full disk, a non-finite loss) ends as one message naming the culprit and exit status
    :data:`USAGE_ERROR`, with the traceback only under ``--debug``. Anything else is a bug in art-bmtad or a
    plugin: its traceback is shown with a request to report it, and the status is 1.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    logging.getLogger("art").setLevel(logging.WARNING)  # ART's INFO lines (its data path at import, each attack)
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM; a checkpointed run has saved its last step
        print(f"art-bmtad {args.command}: interrupted", file=sys.stderr)
        return INTERRUPTED
    except Exception as err:  # noqa: BLE001 - every failure ends as a message; tracebacks only where useful
        return _report_failure(err, args.command, debug=getattr(args, "debug", False))


def is_user_error(err: BaseException) -> bool:
    """Whether ``err`` is the user's or the environment's doing rather than a bug.

    Bad values and files raise ``ValueError`` (a recipe's ``ConfigError``, a damaged checkpoint, a run folder
    in use), missing files ``FileNotFoundError``, disks and permissions ``OSError``, a non-finite loss
    ``FloatingPointError``. A ``KeyError`` counts only with a sentence for a message (an unknown name); a bare
    missing key is a bug.
    """
    if isinstance(err, KeyError):
        return bool(err.args) and isinstance(err.args[0], str) and " " in err.args[0]
    return isinstance(err, (ValueError, OSError, FloatingPointError))


def _report_failure(err: Exception, command: str, *, debug: bool) -> int:
    if not is_user_error(err):
        traceback.print_exc()
        print(f"art-bmtad {command}: internal error: {type(err).__name__}: {err}\nThis is a bug in art-bmtad or in a "
              "plugin, not your mistake: please report it on the project's issue tracker, with the command line "
              "and the traceback above.",
              file=sys.stderr)
        return 1
    if debug:
        traceback.print_exc()
    message = err.args[0] if isinstance(err, KeyError) else str(err)
    if isinstance(err, OSError) and err.strerror:  # without Python's "[Errno N]"; ours carry the message in strerror
        message = f"{err.filename}: {err.strerror}" if err.filename else err.strerror
    print(f"art-bmtad {command}: error: {message}", file=sys.stderr)
    return USAGE_ERROR


if __name__ == "__main__":
    sys.exit(main())
