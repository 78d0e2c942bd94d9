"""The run folder of a command: checked before any work, locked for the run's lifetime, never silently mixed.

Rules (the same for every command that writes a run folder: ``train``, ``bench`` and any plugin command):

* The path must be a folder or creatable, and writable; a file in its place or a read-only place is refused
  before any work.
* A folder that already holds a run's outputs (:data:`RUN_OUTPUTS`, or a sub-folder holding a student) is
  refused unless ``overwrite`` (or ``resume``, which continues the run in it). A non-empty folder holding
  anything else is refused too, even with ``overwrite``: it is not ours to delete.
* An exclusive lock (``fcntl.flock`` on :data:`LOCK_FILE` in the folder, which records the holder's pid, host,
  command and start time) is held from :meth:`RunFolder.open` to :meth:`RunFolder.close`; a second writer is
  refused with a message naming the holder.
* With ``overwrite`` the earlier run is replaced as a whole, and only when the run starts for real
  (:meth:`RunFolder.begin`, called once every input has been checked and the teachers are ready): its entries
  are moved into a hidden sibling folder in one rename each and then deleted, so no earlier file survives to be
  mixed with the new run. A run that fails before :meth:`~RunFolder.begin` leaves every earlier file exactly as
  it was (and removes the folder if it created it).
"""
from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import os
import secrets
import shlex
import shutil
import socket
import sys
from pathlib import Path
from types import TracebackType
from typing import Iterator

from art_bmtad.run.files import check_creatable_folder, describe_os_error, write_atomic

LOCK_FILE = ".art-bmtad.lock"
RUN_OUTPUTS = ("config.yaml", "results.json", "results.md", "student.safetensors", "student.json",
               "history.json", "checkpoints", "tradeoff.png", "bmtard_balance.png", "tune.json", "study.db")
"""Names whose presence marks a folder as holding a run's outputs."""


class RunFolderError(ValueError):
    """A run folder that cannot be used as asked (holds another run, holds foreign files, is not a run)."""


class RunFolderBusy(RunFolderError):
    """Another process holds the run folder's lock."""


def run_outputs(folder: Path) -> list[str]:
    """The entries of ``folder`` that are a run's outputs (sub-folders holding a student included)."""
    if not folder.is_dir():
        return []
    found = []
    for entry in sorted(folder.iterdir()):
        if entry.name in RUN_OUTPUTS or (entry.is_dir() and (entry / "student.safetensors").exists()):
            found.append(entry.name)
    return found


def _visible_entries(folder: Path) -> list[str]:
    return sorted(entry.name for entry in folder.iterdir() if not entry.name.startswith("."))


class RunFolder:
    """One command's exclusive, checked use of a run folder.

    Use it as a context manager around the whole command, and call :meth:`begin` when the run starts for real::

        with RunFolder(args.out, command="train", overwrite=args.overwrite) as folder:
            ...  # check everything, load data, prepare teachers
            folder.begin()
            folder.write_text("config.yaml", ...)

    Args:
        path: the folder.
        command: what is running, recorded in the lock file (e.g. ``"art-bmtad train"``).
        option: the command-line option that named the folder, for messages.
        overwrite: replace an earlier run in the folder (at :meth:`begin`).
        resume: continue the run in the folder: it must hold one (``marker`` names the file that proves it).
        marker: the output a resumed folder must hold.
        resume_option: the command's option that continues a run (e.g. ``"--resume"``), for messages; ``None``
            when the command cannot continue one.
    """

    def __init__(self, path: str | os.PathLike, *, command: str = "", option: str = "--out",
                 overwrite: bool = False, resume: bool = False, marker: str = "config.yaml",
                 resume_option: str | None = None) -> None:
        if overwrite and resume:
            raise ValueError("--overwrite and --resume exclude each other: resume continues the run, overwrite "
                             "replaces it")
        self.path = Path(path)
        self.command = command or " ".join(Path(sys.argv[0]).name.split() + sys.argv[1:])
        self.option = option
        self.overwrite = overwrite
        self.resume = resume
        self.marker = marker
        self.resume_option = resume_option
        self._lock_fd: int | None = None
        self._created: Path | None = None  # the topmost folder this run created, removed again if it never began
        self._begun = False

    # ------------------------------------------------------------------------------------------ lifetime
    def __enter__(self) -> "RunFolder":
        self.open()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def open(self) -> "RunFolder":
        """Check the path, create the folder if needed, take the lock and check what the folder holds.

        Raises:
            RunFolderBusy: another process holds the folder.
            RunFolderError: the folder holds an earlier run (and neither ``overwrite`` nor ``resume``), holds
                other files, or (``resume``) holds no run.
            OSError: a file stands where the folder should be, or the place is not writable.
        """
        path = self.path
        if path.exists() and not path.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, f"{self.option} {path} is a file, not a folder")
        if self.resume and not (path / self.marker).exists():
            raise RunFolderError(f"{self.option} {path}: no {self.marker} there; is it the run folder of an "
                                 "earlier run?")
        check_creatable_folder(path, option=self.option)
        if path.is_dir():
            self._check_contents()  # before the lock file exists: a refused folder is left exactly as it was
        self._created = _topmost_missing(path)
        try:
            path.mkdir(parents=True, exist_ok=True)
            self._lock()
        except OSError as err:
            self._remove_if_created()
            raise describe_os_error(err, path / LOCK_FILE) from err
        try:
            self._check_contents()  # again, under the lock
        except BaseException:
            self.close()
            raise
        return self

    def begin(self) -> None:
        """The run starts for real: with ``overwrite``, the earlier run in the folder is removed as a whole."""
        if self._lock_fd is None:
            raise RuntimeError("RunFolder.begin() before open()")
        if self.overwrite and not self._begun:
            entries = [entry for entry in self.path.iterdir() if entry.name != LOCK_FILE]
            if entries:
                trash = self.path.with_name(f".{self.path.name}.replaced-{secrets.token_hex(4)}")
                trash.mkdir()
                for entry in entries:
                    os.replace(entry, trash / entry.name)
                shutil.rmtree(trash, ignore_errors=True)
        self._begun = True

    def close(self) -> None:
        """Release the lock; a folder this run created and never began is removed again."""
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None
        if not self._begun:
            self._remove_if_created()

    # ------------------------------------------------------------------------------------------ files
    def write_text(self, name: str, text: str) -> Path:
        """Write ``name`` in the folder atomically (group-readable); only after :meth:`begin`."""
        return self.write_bytes(name, text.encode())

    def write_bytes(self, name: str, data: bytes) -> Path:
        """Write ``name`` in the folder atomically (group-readable); only after :meth:`begin`."""
        if not self._begun:
            raise RuntimeError(f"{self.path}: files are written only once the run has begun (RunFolder.begin())")
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        return write_atomic(target, data)

    # ------------------------------------------------------------------------------------------ internals
    def _lock(self) -> None:
        lock = self.path / LOCK_FILE
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode(errors="replace")
            os.close(fd)
            raise RunFolderBusy(f"{self.option} {self.path} is in use by another run ({_describe_holder(holder)}); "
                                "wait for it to finish or choose another folder") from None
        record = {"pid": os.getpid(), "host": socket.gethostname(), "command": self.command,
                  "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)
        self._lock_fd = fd

    def _check_contents(self) -> None:
        if self.resume:
            return
        outputs = run_outputs(self.path)
        if outputs and not self.overwrite:
            shown = ", ".join(outputs[:6]) + (", ..." if len(outputs) > 6 else "")
            resume = (f", continue it with {self.resume_option} {shlex.quote(str(self.path))}" if self.resume_option
                      else "")
            raise RunFolderError(
                f"{self.option} {self.path} already holds a run's outputs ({shown}); pass --overwrite to replace "
                f"that run{resume}, or choose another {self.option}")
        if not outputs and _visible_entries(self.path):
            shown = ", ".join(_visible_entries(self.path)[:6])
            raise RunFolderError(
                f"{self.option} {self.path} holds files that are not a run's outputs ({shown}); a run folder must "
                f"be new, empty, or an earlier run's folder; choose another {self.option}")

    def _remove_if_created(self) -> None:
        created, self._created = self._created, None
        if created is None or not created.is_dir():
            return
        chain = {self.path, *self.path.parents}
        if all(entry in chain if entry.is_dir() else entry.name == LOCK_FILE for entry in created.rglob("*")):
            shutil.rmtree(created, ignore_errors=True)


@contextlib.contextmanager
def opened_by_rank_zero(folder: RunFolder) -> Iterator[RunFolder]:
    """``folder`` opened (checked and locked) for the duration, by rank 0 alone under torchrun.

    The other ranks learn whether rank 0 could open it, so a refused folder stops every process with the same
    message instead of leaving the others waiting for rank 0 in a collective. Without torchrun this is ``with
    folder``.

    Raises:
        RunFolderError, OSError: as :meth:`RunFolder.open` (on the other ranks: a :class:`RunFolderError` quoting
            rank 0's message).
    """
    from art_bmtad.utils import distributed

    if not distributed.is_distributed():
        with folder:
            yield folder
        return
    failure: Exception | None = None
    if distributed.is_main_process():
        try:
            folder.open()
        except Exception as err:  # noqa: BLE001 - whatever it is, the other ranks must hear of it; re-raised below
            failure = err
    message = distributed.broadcast_object(None if failure is None else getattr(failure, "strerror", None)
                                           or str(failure))
    if failure is not None:
        raise failure
    if message is not None:
        raise RunFolderError(f"rank 0 refused the run folder: {message}")
    try:
        yield folder
    finally:
        if distributed.is_main_process():
            folder.close()


def _topmost_missing(path: Path) -> Path | None:
    """The highest folder of ``path`` (itself included) that does not exist yet; ``None`` if ``path`` exists."""
    missing = None
    for folder in (path, *path.parents):
        if folder.exists():
            return missing
        missing = folder
    return missing


def _describe_holder(text: str) -> str:
    try:
        holder = json.loads(text)
        return (f"pid {holder['pid']} on {holder['host']}, `{holder['command']}`, started "
                f"{holder['started']}")
    except (ValueError, KeyError, TypeError):
        return "a process that did not say who it is"
