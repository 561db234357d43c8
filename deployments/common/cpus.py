"""CPU sets for CPU engines: the engine and the load generator on disjoint cores.

On a CPU engine the load generator (genai-bench) competes with the engine for the same
cores unless they are kept apart, and the measured throughput then depends on how the
kernel happened to schedule them. The sets come from `deployment.cpus` when declared;
otherwise, for a CPU engine (no GPUs) run locally or in Docker on a machine with at least
two usable CPUs, they are derived from the CPUs this process may use: the load generator
gets the last quarter (at least one), the engine the rest. GPU engines are not pinned.

Applied with sched_setaffinity (local engines and genai-bench, inherited by every thread
and child they start) and `cpuset_cpus` (Docker).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tuneops.spec import Experiment

PINNED_MODES = ("local", "docker")


@dataclass(frozen=True)
class CpuPlan:
    engine: tuple[int, ...] = ()
    loadgen: tuple[int, ...] = ()
    source: str = "none"  # declared | derived | none (not pinned, and why in `note`)
    note: str = ""

    def as_dict(self) -> dict[str, list[int]]:
        return {"engine": list(self.engine), "loadgen": list(self.loadgen)} if self.engine \
            else {}


def available() -> tuple[int, ...]:
    try:
        return tuple(sorted(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return tuple(range(os.cpu_count() or 1))


def derive(cpus: Sequence[int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(engine, load generator) from the usable CPUs: a quarter (>= 1) for the generator."""
    cpus = tuple(sorted(cpus))
    k = max(1, len(cpus) // 4)
    return cpus[:-k], cpus[-k:]


def plan(exp: Experiment, usable: Sequence[int] | None = None) -> CpuPlan:
    declared = exp.deployment.cpus
    if declared is not None and declared.engine:
        return CpuPlan(tuple(declared.engine), tuple(declared.load_generator), "declared")
    if exp.gpus_per_trial > 0 or exp.deployment.mode not in PINNED_MODES:
        return CpuPlan(note="GPU engine or remote deployment: not pinned")
    if declared is not None and declared.isolate is False:
        return CpuPlan(note="deployment.cpus.isolate is false")
    usable = tuple(usable if usable is not None else available())
    if len(usable) < 2:
        return CpuPlan(note=f"only {len(usable)} usable CPU: engine and load generator share it")
    engine, loadgen = derive(usable)
    return CpuPlan(engine, loadgen, "derived")


def pin_process(pid: int, cpus: Sequence[int]) -> None:
    """Move a running process to `cpus`: every thread it has so far (threads it starts later
    inherit the set). For a process already running, e.g. the load generator's worker,
    which measures trial after trial on each trial's set."""
    try:
        tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        tids = [pid]
    for tid in tids:
        try:
            os.sched_setaffinity(tid, set(cpus))
        except (OSError, AttributeError):
            continue


def pin_to(cpus: Sequence[int]) -> Callable[[], None] | None:
    """A preexec_fn that pins the child to `cpus` (None when no set is given). Runs between
    fork and exec: one system call, nothing that takes a lock."""
    if not cpus:
        return None
    cpu_set = frozenset(int(c) for c in cpus)
    return lambda: os.sched_setaffinity(0, cpu_set)
