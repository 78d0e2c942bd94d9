"""Run folders and output files: checked before any work, locked, written atomically and group-readable.

Every command that writes a run folder goes through :class:`RunFolder`; commands that write one file (``eval
--out``, ``teachers --out``) check it with :func:`check_output_file` first. :func:`add_overwrite_option` adds the
``--overwrite`` option every such command has.
"""
from __future__ import annotations

import argparse

from art_bmtad.run.files import atomic_path, check_creatable_folder, check_output_file, describe_os_error, write_atomic
from art_bmtad.run.folder import (
    LOCK_FILE,
    RUN_OUTPUTS,
    RunFolder,
    RunFolderBusy,
    RunFolderError,
    opened_by_rank_zero,
    run_outputs,
)


def add_overwrite_option(parser: argparse._ActionsContainer, what: str = "the run folder") -> None:
    """Add ``--overwrite``: replace earlier outputs (a run folder as a whole), only once every input is checked."""
    parser.add_argument("--overwrite", action="store_true",
                        help=f"replace {what} when it already holds earlier outputs (as a whole, and only once "
                             "every input has been checked); without it they are refused")


__all__ = ["LOCK_FILE", "RUN_OUTPUTS", "RunFolder", "RunFolderBusy", "RunFolderError", "add_overwrite_option",
           "atomic_path", "check_creatable_folder", "check_output_file", "describe_os_error", "opened_by_rank_zero",
           "run_outputs", "write_atomic"]
