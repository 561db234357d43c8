"""Failures classed by cause: what the machine did to a trial is infra, never the config's.

An engine killed by a signal (the OOM killer's SIGKILL, an outside kill: a negative return
code from Popen, or 128+N from a shell or Docker), and a trial whose files could not be
written (ENOSPC, EDQUOT, EIO, EROFS under runs/) say nothing about the settings being
tried. Classing them failed_config excluded the configuration for good (runner/store.py
never reuses failed_infra), and failed_benchmark during confirmation dropped the leader
from the ranking. Here they become InfraFailure (retried, named, never reused) with the
cause spelt out: the signal's name, or the errno's symbol and the path.
"""

from __future__ import annotations

import errno
import os
import signal

# Signals that come from outside the engine (the OOM killer's SIGKILL, a person, a runner
# or an orchestrator stopping it). SIGSEGV, SIGABRT, SIGBUS and SIGFPE are the engine's own
# crash (a failed assertion aborts) and keep their old class.
OUTSIDE_SIGNALS = ("SIGKILL", "SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT")
# What a full or broken disk looks like to the runner, by errno.
DISK_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS)


def killing_signal(code: int | None) -> str | None:
    """The name of the outside signal an exit code says killed the process ('SIGKILL'),
    or None (a normal exit, or the engine's own crash).

    Popen reports -N; a shell, `docker wait` and Kubernetes report 128+N."""
    if code is None or code == 0:
        return None
    number = -code if code < 0 else code - 128 if 128 < code < 128 + 65 else None
    if number is None:
        return None
    try:
        name = signal.Signals(number).name
    except ValueError:
        return None
    return name if name in OUTSIDE_SIGNALS else None


def signal_reason(code: int, when: str) -> str:
    name = killing_signal(code)
    why = " (the kernel's OOM killer or an outside kill)" if name == "SIGKILL" else ""
    return f"engine killed by {name}{why} {when}"


def disk_problem(exc: BaseException) -> str | None:
    """'ENOSPC: No space left on device (runs/x/trials/...)' for a disk failure, else None."""
    if not isinstance(exc, OSError) or exc.errno not in DISK_ERRNOS:
        return None
    where = f" ({exc.filename})" if exc.filename else ""
    return f"{errno.errorcode[exc.errno]}: {exc.strerror or 'I/O error'}{where}"


def disk_full(folder: object, spare_bytes: int = 1 << 20) -> str | None:
    """'ENOSPC: no space left under <folder>' when its file system is (nearly) full, else
    None: a worker that died writing there failed for want of space, whatever it printed."""
    try:
        st = os.statvfs(folder)  # type: ignore[arg-type]
    except OSError:
        return None
    if st.f_bavail * st.f_frsize >= spare_bytes:
        return None
    return f"ENOSPC: no space left on device under {folder}"
