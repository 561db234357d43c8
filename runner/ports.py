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
"""

from __future__ import annotations

import errno
import fcntl
import os
import random
import socket
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_RANGE = (20000, 29999)


def runtime_dir() -> Path:
    """The per-machine directory where locks and pid files of running trials live."""
    if env := os.environ.get("TUNEOPS_RUNTIME_DIR"):
        return Path(env)
    if xdg := os.environ.get("XDG_RUNTIME_DIR"):
        return Path(xdg) / "tuneops"
    return Path(f"/tmp/tuneops-{os.getuid()}")


def port_range() -> tuple[int, int]:
    text = os.environ.get("TUNEOPS_PORT_RANGE")
    if not text:
        return DEFAULT_RANGE
    low, _, high = text.partition("-")
    return int(low), int(high)


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
        self.lock_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_dir / f"{port}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        if not _bindable(port):
            os.close(fd)
            return None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())  # who holds it, for people debugging
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


def reserve(port: int | None = None) -> PortLease:
    """Reserve a port with the machine-wide allocator (see the module docstring)."""
    return PortAllocator().reserve(port)
