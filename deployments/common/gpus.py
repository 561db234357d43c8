"""A pool of GPUs that parallel trials draw disjoint sets from.

The inventory comes from the experiment (ids it declares) or from ``nvidia-smi``; a machine
without GPUs has a pool of zero that still serves trials needing none. ``acquire`` blocks
until enough GPUs are free, so a scheduler can start trials in threads and let the pool
decide who waits. Ids are strings as CUDA_VISIBLE_DEVICES and Docker's device_ids take them
(indexes by default; UUIDs when declared so).

Given a `lock_dir` (the runner passes ``<runtime dir>/gpus`` for real GPUs), a GPU is also
held across processes, as ports are (``deployments/common/ports.py``): an exclusive flock on
``<lock_dir>/<id>.lock`` for as long as the trial has it, dropped by the kernel if the
holder dies. A GPU another tuneops process holds is skipped; `acquire` waits (polling)
until enough are free here *and* unlocked.

`host_gpu_types` names this machine's GPU types (tuneops' names, e.g. H100) from
nvidia-smi's board names: validate allows a docker/local experiment to compare only those
(tuneops/checks_gpus.py).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

NVIDIA_SMI_QUERY = [
    "nvidia-smi",
    "--query-gpu=index,uuid,name,memory.total,memory.used",
    "--format=csv,noheader,nounits",
]


@dataclass(frozen=True)
class Gpu:
    index: str
    uuid: str
    name: str
    memory_total_mib: int | None
    memory_used_mib: int | None


def _mib(text: str) -> int | None:
    """nvidia-smi prints "[N/A]" or "[Not Supported]" for fields some boards lack."""
    text = text.strip().removesuffix("MiB").strip()
    try:
        return int(float(text))
    except ValueError:
        return None


def parse_nvidia_smi(text: str) -> list[Gpu]:
    """Parse the CSV of ``NVIDIA_SMI_QUERY``; blank lines and malformed lines are skipped.

    Names may contain commas in principle, so the name is everything between the uuid and
    the last two (memory) columns.
    """
    gpus = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.split(",")]
        if len(cells) < 5 or not cells[0].isdigit():
            continue
        index, uuid, *name, total, used = cells
        gpus.append(Gpu(index, uuid, ", ".join(name), _mib(total), _mib(used)))
    return gpus


def detect() -> list[Gpu]:
    """The GPUs nvidia-smi sees; none when it is missing or fails (a CPU-only machine)."""
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(
            NVIDIA_SMI_QUERY, capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return parse_nvidia_smi(out)


class GpuPool:
    """Thread-safe lending of disjoint GPU sets."""

    POLL_S = 0.5  # how often a waiting acquire looks at other processes' locks

    def __init__(self, ids: Iterable[str], lock_dir: Path | None = None):
        self.ids = tuple(str(i) for i in ids)
        if len(set(self.ids)) != len(self.ids):
            raise ValueError(f"duplicate GPU ids in {list(self.ids)}")
        self._free = list(self.ids)
        self._cond = threading.Condition()
        self.lock_dir = lock_dir
        self._locks: dict[str, int] = {}  # id -> fd holding its flock

    @classmethod
    def from_machine(
        cls, declared: Iterable[str] | None = None, lock_dir: Path | None = None
    ) -> GpuPool:
        """Ids the experiment declares win; otherwise every GPU nvidia-smi reports."""
        if declared is not None:
            return cls(declared, lock_dir)
        return cls((gpu.index for gpu in detect()), lock_dir)

    def _lock(self, gpu: str) -> int | None:
        """The fd of a won flock on the GPU's lock file, or None when another holds it."""
        from tuneops.deployments.common.ports import mark_holder, try_lock

        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in gpu)
        fd = try_lock(self.lock_dir, f"{safe}.lock")
        if fd is not None:
            mark_holder(fd)
        return fd

    def _take(self, n: int) -> tuple[str, ...] | None:
        """`n` free ids, locked across processes when there is a lock dir (cond held)."""
        candidates = sorted(self._free, key=self.ids.index)
        if len(candidates) < n:
            return None
        if self.lock_dir is None:
            return tuple(candidates[:n])
        won: dict[str, int] = {}
        for gpu in candidates:
            fd = self._lock(gpu)
            if fd is not None:
                won[gpu] = fd
                if len(won) == n:
                    self._locks.update(won)
                    return tuple(won)
        for fd in won.values():
            os.close(fd)
        return None

    @property
    def size(self) -> int:
        return len(self.ids)

    def free(self) -> tuple[str, ...]:
        with self._cond:
            return tuple(self._free)

    def acquire(self, n: int, timeout: float | None = None) -> tuple[str, ...]:
        """Take ``n`` GPUs, waiting until that many are free; lowest ids first.

        Raises ValueError when the pool can never satisfy ``n`` and TimeoutError when
        ``timeout`` seconds pass first.
        """
        if n < 0 or n > self.size:
            raise ValueError(f"a trial needs {n} GPUs but this machine's pool has {self.size}")
        if n == 0:
            return ()
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while (taken := self._take(n)) is None:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise TimeoutError(f"{n} GPUs not free within {timeout}s")
                wait = self.POLL_S if self.lock_dir is not None else None
                self._cond.wait(left if wait is None else min(wait, left or wait))
            for gpu in taken:
                self._free.remove(gpu)
            return taken

    def release(self, ids: Iterable[str]) -> None:
        ids = tuple(ids)
        if len(set(ids)) != len(ids):
            raise ValueError(f"duplicate GPU ids in {list(ids)}")
        with self._cond:
            for gpu in ids:
                if gpu not in self.ids:
                    raise ValueError(f"GPU {gpu!r} is not in this pool")
                if gpu in self._free:
                    raise ValueError(f"GPU {gpu!r} released twice")
            for gpu in ids:
                fd = self._locks.pop(gpu, None)
                if fd is not None:
                    os.close(fd)  # drops the flock
            self._free.extend(ids)
            self._cond.notify_all()

    @contextmanager
    def lease(self, n: int, timeout: float | None = None) -> Iterator[tuple[str, ...]]:
        ids = self.acquire(n, timeout)
        try:
            yield ids
        finally:
            self.release(ids)


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[\s_-]+", text.upper()) if w]


def gpu_type_of(name: str, known: Iterable[str]) -> str | None:
    """The tuneops GPU type (schemas/gpus.yaml's keys) of a board as nvidia-smi names it.

    "NVIDIA H100 80GB HBM3" is H100 and "NVIDIA A100-SXM4-80GB" is A100-80G: the type's
    first word is a word of the name (so H20 is not H200) and each further word begins a
    word of it (80G of 80GB). The most specific match wins (A100-80G before A100)."""
    words = _words(name)
    found = [t for t in known
             if (tw := _words(t)) and tw[0] in words
             and all(any(w.startswith(x) for w in words) for x in tw[1:])]
    return max(found, key=lambda t: len(_words(t)), default=None)


def host_gpu_types(known: Iterable[str], gpus: Iterable[Gpu] | None = None) -> set[str]:
    """The GPU types this machine has (nvidia-smi's boards, `detect`), among `known`."""
    known = tuple(known)
    boards = detect() if gpus is None else gpus
    return {t for g in boards if (t := gpu_type_of(g.name, known)) is not None}
