"""Files that survive a crash: whole-file replacement and durable appends.

A report or a state file is either the old version or the new one, never half of each
(temp file in the same directory, fsync, rename, fsync the directory). Journal lines are
appended with one write per line and fsync'd before the call returns, so a line the
caller saw written is on disk even if the process is killed right after.
"""

from __future__ import annotations

import ctypes
import os
import sys
import tempfile
from pathlib import Path

from tuneops import secrets


def fsync_dir(path: str | os.PathLike) -> None:
    """Make a rename or a new file in `path` durable (no-op where directories can't be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic(path: str | os.PathLike, data: str | bytes, mode: int = 0o644) -> Path:
    """Replace `path` with `data` in one step; readers see the old or the new file, never a mix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = secrets.redact(data).encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(path.parent)
    return path


def append_line(fd: int, line: bytes) -> None:
    """Append one newline-terminated line to an O_APPEND fd and fsync it before returning.

    One `os.write` normally carries the whole line; a short write (rare, e.g. a full disk)
    is finished by a second one, and a kill between the two leaves a torn last line that
    the reader drops. The caller redacts (the journal masks inside string values only:
    text substitution on a JSON line could mask `true` or a number and break the line).
    """
    if not line.endswith(b"\n"):
        line += b"\n"
    view = memoryview(line)
    while view:
        n = os.write(fd, view)
        view = view[n:]
    os.fsync(fd)


FALLOC_FL_KEEP_SIZE = 1  # <linux/falloc.h>: allocate blocks past the end, size unchanged


def _fallocate():
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).fallocate
    except (OSError, AttributeError):
        return None
    fn.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64)
    fn.restype = ctypes.c_int
    return fn


_FALLOCATE = _fallocate()


def reserve_past_end(fd: int, offset: int, nbytes: int) -> bool:
    """Allocate `nbytes` of disk for `fd` from `offset` without changing its size
    (fallocate(2) with FALLOC_FL_KEEP_SIZE): later appends up to there write into blocks
    the file already owns, so they succeed on a disk that has filled up since. False when
    the space is not there now or the file system cannot (the appends then take their
    chance as before); raises nothing."""
    if _FALLOCATE is None or nbytes <= 0:
        return False
    return _FALLOCATE(fd, FALLOC_FL_KEEP_SIZE, offset, nbytes) == 0  # else errno says why
