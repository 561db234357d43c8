"""Reserve TCP ports on this machine so parallel trials and parallel runs never share one.

Probing a port (bind, close, hope) is not a reservation: two trials that probe at the same
moment get the same answer. Here a port belongs to whoever holds an exclusive ``flock`` on
``<runtime dir>/ports/<port>.lock``; the lock lives as long as the open file, so it is
released by ``PortLease.release()`` or, if the holder is killed, by the kernel. A port is
handed out only when its lock is won *and* a bind test shows nobody else (tuneops or not)
listens on it. flock locks taken through separate ``open()`` calls conflict even inside one
process, so threads are covered as well as processes.

Ports come from ``TUNEOPS_PORT_RANGE`` (default 20000-29999), below Linux's ephemeral range
so outgoing connections do not take them meanwhile. The runtime dir is ``TUNEOPS_RUNTIME_DIR``,
else ``$XDG_RUNTIME_DIR/tuneops``, else ``/tmp/tuneops-<uid>``: one per machine and user.

The runtime dir is private, and checked every time it is used: a directory (not a
symlink), owned by us, mode 0700. On a shared machine ``/tmp/tuneops-<uid>`` is a
predictable name; if another user created it first, or planted a symlink, tuneops refuses
to use it rather than kill process groups named by their pid files or follow their links.
Lock files are opened with O_NOFOLLOW.
"""

from __future__ import annotations

import errno
import fcntl
import os
import random
import socket
import stat
from dataclasses import dataclass, field
from pathlib import Path

from tuneops import env_vars, errors

DEFAULT_RANGE = (20000, 29999)


class UnsafeRuntimeDir(errors.TuneopsError):
    """The runtime dir is not ours alone: refusing to trust what is in it."""

    exit_code = errors.EXIT_USAGE


def private_dir(path: Path) -> Path:
    """Create `path` (mode 0700) or check that it is a real directory, ours, 0700."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise errors.FileProblem(path, "create the runtime dir", exc) from exc
    st = os.lstat(path)
    hint = "remove it, or set TUNEOPS_RUNTIME_DIR to a folder only you can write"
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise UnsafeRuntimeDir(f"runtime dir {path} is not a directory (a symlink?); {hint}")
    if st.st_uid != os.getuid():
        raise UnsafeRuntimeDir(
            f"runtime dir {path} belongs to uid {st.st_uid}, not to you (uid {os.getuid()}); "
            + hint
        )
    if st.st_mode & 0o077:
        os.chmod(path, 0o700)  # ours, merely too open (an older tuneops made it 0755)
    return path


def runtime_dir() -> Path:
    """The per-machine, per-user private directory where locks and pid files live."""
    if env := os.environ.get("TUNEOPS_RUNTIME_DIR"):
        path = Path(env)
        path.parent.mkdir(parents=True, exist_ok=True)
    elif xdg := os.environ.get("XDG_RUNTIME_DIR"):
        path = Path(xdg) / "tuneops"
    else:
        path = Path(f"/tmp/tuneops-{os.getuid()}")
    return private_dir(path)


def port_range() -> tuple[int, int]:
    text = os.environ.get("TUNEOPS_PORT_RANGE")
    if not text:
        return DEFAULT_RANGE
    try:
        return env_vars.parse_port_range(text)
    except ValueError as exc:  # the CLI checks it first (tuneops.env_vars); library callers too
        raise errors.UserError([errors.Diagnostic("environment", 0, 0, "TUNEOPS_PORT_RANGE",
                                                  f"is {text!r}: {exc}")]) from None


class PortUnavailable(RuntimeError):
    """No port could be reserved (the one asked for is taken, or the range is exhausted)."""


@dataclass
class PortLease:
    """A reserved port; keep it until the engine using the port has stopped."""

    port: int
    _fd: int | None = field(default=None, repr=False)

    def release(self) -> None:
        """Give the port back; safe to call twice."""
        if self._fd is not None:
            os.close(self._fd)  # closing the file drops the flock
            self._fd = None

    def __enter__(self) -> PortLease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _bindable(port: int) -> bool:
    """True when nothing listens on the port (TIME_WAIT leftovers do not count)."""
    for family, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        try:
            sock = socket.socket(family, socket.SOCK_STREAM)
        except OSError:  # no IPv6 on this machine
            continue
        with sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((addr, port))
            except OSError as e:
                if e.errno in (errno.EADDRINUSE, errno.EACCES):
                    return False
                if e.errno != errno.EADDRNOTAVAIL:
                    raise
    return True


class PortAllocator:
    """Hands out ports from a range; every lease is exclusive across threads and processes."""

    def __init__(self, lock_dir: Path | None = None, span: tuple[int, int] | None = None):
        self.lock_dir = lock_dir or runtime_dir() / "ports"
        self.low, self.high = span or port_range()
        if not 0 < self.low <= self.high < 65536:
            raise ValueError(f"bad port range {self.low}-{self.high}")

    def _try(self, port: int) -> PortLease | None:
        fd = try_lock(self.lock_dir, f"{port}.lock")
        if fd is None:
            return None
        if not _bindable(port):
            os.close(fd)
            return None
        mark_holder(fd)
        return PortLease(port, fd)

    def reserve(self, port: int | None = None) -> PortLease:
        """Reserve ``port`` exactly, or any free port of the range when None."""
        if port is not None:
            lease = self._try(port)
            if lease is None:
                raise PortUnavailable(f"port {port} is in use or reserved by another trial")
            return lease
        candidates = list(range(self.low, self.high + 1))
        start = random.randrange(len(candidates))  # spread parallel callers over the range
        for candidate in candidates[start:] + candidates[:start]:
            if (lease := self._try(candidate)) is not None:
                return lease
        raise PortUnavailable(f"no free port in {self.low}-{self.high}")


def open_lock(folder: Path, name: str) -> int:
    """Open (creating) a lock file without following a symlink planted in its place."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
    try:
        return os.open(folder / name, flags, 0o600)
    except OSError as exc:
        raise errors.FileProblem(folder / name, "open the lock file", exc) from exc


def try_lock(folder: Path, name: str) -> int | None:
    """The fd of a won exclusive flock on folder/name, or None while another holds it."""
    fd = open_lock(folder, name)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def mark_holder(fd: int) -> None:
    """Write this process's pid into a won lock file: who holds it, for people debugging."""
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())


def reserve(port: int | None = None) -> PortLease:
    """Reserve a port with the machine-wide allocator (see the module docstring)."""
    return PortAllocator().reserve(port)
