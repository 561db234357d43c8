"""Who started an engine, and whether that runner still lives: what reaping is scoped by.

`tuneops reap`, and every new run of an experiment, stop engines left behind by runners
that died; an engine whose runner is alive belongs to a run in progress (maybe another
experiment's, maybe another user's on a shared Docker engine) and is never touched. A
runner is identified by host, pid and the kernel's start time of that pid, so a pid reused
by an unrelated process does not count as the runner being alive.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path


def start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (field 22 of /proc/pid/stat): tells reuse apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def me() -> str:
    """This runner as one label-safe word: host/pid/start-time."""
    pid = os.getpid()
    return f"{socket.gethostname()}/{pid}/{start_time(pid) or ''}"


def alive(runner: str | None) -> bool:
    """Whether the runner `me()` returned in some process still runs. Unknown (no record,
    another host: we cannot look) counts as alive: reaping must never guess."""
    if not runner:
        return True
    host, _, rest = runner.partition("/")
    pid_text, _, started = rest.partition("/")
    if host != socket.gethostname() or not pid_text.isdigit():
        return True
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    return not started or start_time(pid) == started
