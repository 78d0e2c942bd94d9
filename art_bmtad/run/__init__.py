"""Run folders and output files: checked before any work, locked, written atomically and group-readable.

Every command that writes a run folder goes through :class:`RunFolder`; commands that write one file (``eval
--out``, ``teachers --out``) check it with :func:`check_output_file` first. :func:`add_overwrite_option` adds the
``--overwrite`` option every such command has.
"""
from __future__ import annotations

import argparse

from art_bmtad.run.files import check_creatable_folder, check_output_file, describe_os_error, write_atomic
from art_bmtad.run.folder import LOCK_FILE, RUN_OUTPUTS, RunFolder, RunFolderBusy, RunFolderError, run_outputs


def add_overwrite_option(parser: argparse.ArgumentParser, what: str = "the run folder") -> None:
    """Add ``--overwrite`` (replace an earlier run's outputs, as a whole, once the new run starts)."""
    parser.add_argument("--overwrite", action="store_true",
                        help=f"replace {what} if it already holds an earlier run's outputs (as a whole, and only "
                             "once every input has been checked); without it such a folder is refused")


__all__ = ["LOCK_FILE", "RUN_OUTPUTS", "RunFolder", "RunFolderBusy", "RunFolderError", "add_overwrite_option",
           "check_creatable_folder", "check_output_file", "describe_os_error", "run_outputs", "write_atomic"]
