"""Local engines die with their runner: a parent-death signal set between fork and exec.

Without it an engine whose runner was killed with -9 kept its port (and on a GPU machine
its GPUs) until someone ran `tuneops reap`. Linux's prctl(PR_SET_PDEATHSIG) asks the
kernel to send the child SIGKILL when its parent goes; the engine already leads its own
process group (start_new_session), so `reap` and the runner still stop the whole group.

What this guarantees, and what not (docs/architecture.md): the engine's leader process
gets SIGKILL as soon as the runner thread that started it ends (the kernel ties the signal
to the creating thread; trials start and stop their engine on one worker thread, which
lives until the trial is over). Processes the engine itself spawned are not covered by
the kernel: they are in the engine's group, and the next run's start-up reap (or `tuneops
reap`) stops them, since their runner is dead. Linux only; elsewhere a no-op.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl  # resolved now, not in the child
    except (OSError, AttributeError):
        return None


_PRCTL = _prctl()


def die_with_runner(then: Callable[[], None] | None = None) -> Callable[[], None]:
    """A preexec_fn: SIGKILL this child when the runner goes, then run `then` (e.g. CPU
    pinning). If the runner died between fork and prctl, the child exits at once."""
    runner = os.getpid()

    def preexec() -> None:
        if _PRCTL is not None:
            _PRCTL(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
            if os.getppid() != runner:
                os._exit(1)
        if then is not None:
            then()

    return preexec
