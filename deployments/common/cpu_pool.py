"""Disjoint CPU core sets for CPU engines running in parallel trials (one share per trial;
within a share, deployments/common/cpus.py keeps the engine and the load generator apart).

Two llama.cpp trials that share cores measure each other: their threads contend, and on an
oversubscribed machine spin-waiting threads make decode collapse. Like the GPU pool
(`gpus.py`), the pool splits the cores this process may use into `parallel` equal shares
(at most one share per core) and lends each running trial one share; `acquire` blocks
until a share is free. With one trial at a time there is nothing to keep apart, and the
pool lends the empty set (the engine keeps every core).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable


def available_cores() -> tuple[int, ...]:
    """The cores this process may run on (its affinity mask), else all of them."""
    try:
        return tuple(sorted(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return tuple(range(os.cpu_count() or 1))


def split(cores: Iterable[int], parallel: int) -> list[tuple[int, ...]]:
    """`cores` as min(parallel, len(cores)) disjoint shares of equal size (a remainder is
    left unused rather than making one trial's share larger than another's)."""
    cores = tuple(cores)
    n = min(max(int(parallel), 1), len(cores))
    if n <= 1:
        return [()]
    size = len(cores) // n
    return [cores[i * size:(i + 1) * size] for i in range(n)]


class CpuPool:
    """Thread-safe lending of disjoint core sets, one per running trial."""

    def __init__(self, parallel: int, cores: Iterable[int] | None = None) -> None:
        self.shares = split(available_cores() if cores is None else cores, parallel)
        self._free = list(range(len(self.shares)))
        self._cond = threading.Condition()

    @property
    def pinning(self) -> bool:
        return bool(self.shares[0])

    def acquire(self, timeout: float | None = None) -> tuple[int, ...]:
        if not self.pinning:
            return ()
        with self._cond:
            if not self._cond.wait_for(lambda: self._free, timeout):
                raise TimeoutError(f"no CPU share free within {timeout}s")
            return self.shares[self._free.pop(0)]

    def release(self, cores: tuple[int, ...]) -> None:
        if not cores:
            return
        index = self.shares.index(tuple(cores))
        with self._cond:
            if index in self._free:
                raise ValueError(f"CPU share {cores} released twice")
            self._free.append(index)
            self._free.sort()
            self._cond.notify_all()
