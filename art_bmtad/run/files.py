"""Files of a run folder: written atomically, readable by the user's group, output paths checked before work.

Every file art-bmtad writes goes through :func:`atomic_path` (or :func:`write_atomic`, built on it): a temporary
sibling, fsynced, renamed over the target, the folder fsynced; a crash or a full disk leaves the previous file (or
none), never a half-written one.
"""
from __future__ import annotations

import errno
import os
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str = "") -> Iterator[Path]:
    """A temporary sibling of ``path`` for the block to write; when the block ends it is fsynced and renamed over
    ``path`` (then the folder is fsynced), and when the block raises it is removed and ``path`` is left as it was.

    For writers that need a file name (``safetensors``, ``torch.onnx.export``); :func:`write_atomic` writes bytes.

    Args:
        path: the target file; its folder must exist.
        suffix: appended to the temporary name, for writers that choose a format by suffix (e.g. ``".onnx"``).

    Yields:
        The temporary path (not yet created).

    Raises:
        OSError: the fsync or the rename failed (the temporary file is removed).
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp{suffix}")
    try:
        yield tmp
        _fsync(tmp, os.O_RDWR)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    try:
        _fsync(path.parent, os.O_RDONLY)  # the rename itself survives a crash
    except OSError:  # not every platform or file system syncs folders
        pass


def write_atomic(path: str | os.PathLike, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` through :func:`atomic_path`.

    The file gets the permissions of a plainly created file (``0o666`` less the umask), so results stay readable
    by the user's group (``tempfile.mkstemp`` would leave them ``0o600``).

    Args:
        path: the target file; its folder must exist.
        data: the content (text is written as UTF-8).

    Returns:
        The path.

    Raises:
        OSError: the write failed; the message names the file (and says when the disk is full).
    """
    path = Path(path)
    payload = data.encode() if isinstance(data, str) else data
    try:
        with atomic_path(path) as tmp:
            _write_new(tmp, payload)
    except OSError as err:
        raise describe_os_error(err, path) from err
    return path


def _write_new(path: Path, data: bytes) -> None:
    """Create ``path`` (it must not exist) and write ``data`` to it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies, as for any new file
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _fsync(path: Path, flags: int) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def describe_os_error(err: OSError, path: str | os.PathLike) -> OSError:
    """The same kind of ``OSError`` with a message that names ``path`` and says what went wrong in words."""
    reasons = {errno.ENOSPC: "the disk is full", errno.EROFS: "the file system is read-only",
               errno.EACCES: "permission denied", errno.EPERM: "permission denied",
               errno.ENOTDIR: "a file stands where a folder should be", errno.EISDIR: "it is a folder",
               errno.EDQUOT: "the disk quota is exceeded"}
    reason = reasons.get(err.errno, err.strerror or str(err))
    return type(err)(err.errno, f"cannot write {path}: {reason}")


def check_output_file(path: str | os.PathLike, *, option: str = "--out", overwrite: bool = True) -> Path:
    """Check, before any work, that a single output file can be written at ``path``.

    Its folder must exist or be creatable and be writable, ``path`` must not be a folder, and an existing
    file is only accepted with ``overwrite``. Nothing is created.

    Args:
        path: the file to be written.
        option: the command-line option that named it, for messages.
        overwrite: whether an existing file may be replaced.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: ``path`` is a folder, or an existing file without ``overwrite``.
        OSError: its folder cannot be created or written (names the folder and why).
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{option} {path} is a folder; give a file name")
    if path.exists() and not overwrite:
        raise ValueError(f"{option} {path} already exists; pass --overwrite to replace it, or choose another {option}")
    check_creatable_folder(path.parent, option=option)
    return path


def check_creatable_folder(folder: str | os.PathLike, *, option: str = "--out") -> None:
    """A folder that exists and is writable, or whose nearest existing ancestor is a writable folder.

    Raises:
        OSError: a file stands where a folder should be, or the place is read-only (names both, with why).
    """
    folder = Path(folder).absolute()
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, f"{option} {folder}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PermissionError(errno.EACCES, f"{option} {folder}: cannot write in {existing} (read-only or no "
                                            "permission)")
