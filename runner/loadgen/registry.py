"""The one list of load generators, like deployments/registry.py for modes: which program
measures a trial, chosen from the experiment's load.

- genai-bench: closed-loop concurrency (benchmark.concurrency). Its code stays in
  runner/bench (CLI per trial, or the run's long-lived workers); this entry calls it.
- aiperf: open-loop load (benchmark.load: request rates, or a trace replayed at its
  timestamps), in its own venv (runner/loadgen/venv.py), driven point by point by
  runner/loadgen/rate.py; the run's long-lived warm parents (runner/loadgen/warm.py) fork
  each point's fresh `aiperf profile` run with AIPerf already imported.

Each generator names its run-long pool (`pool`): what the runner keeps warm across trials.

The interface is narrow on purpose: measure one deployed trial, get a BenchOutcome whose
numbers were converted once, by the generator's own reader (runner/bench/parse.py,
runner/loadgen/aiperf.py), into tuneops' metric names.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuneops.runner import bench
from tuneops.runner.bench.parse import BenchOutcome
from tuneops.runner.loadgen import aiperf, rate, venv
from tuneops.runner.loadgen.warm import WarmPool

from tuneops.spec import Experiment


@dataclass(frozen=True)
class LoadGenerator:
    """One load generator: its name, the load it offers, and how it measures a trial."""

    name: str
    load: str  # "concurrency" (closed loop) or "rate" (open loop)
    measure: Callable[..., BenchOutcome]
    pool: Callable[[int, Path], Any]  # (parallel trials, run folder) -> a pool with close()


def _genai_bench(exp: Experiment, base_url: str, out_dir: str | os.PathLike, *,
                 gpu_count: int, cancel: threading.Event | None = None,
                 watch: Callable[[], str | None] | None = None, cpus: Sequence[int] = (),
                 workers: Any = None, prune: Any = None) -> BenchOutcome:
    return bench.run(exp, base_url, out_dir, gpu_count=gpu_count, cancel=cancel, watch=watch,
                     cpus=cpus, workers=workers, prune=prune)


def _aiperf(exp: Experiment, base_url: str, out_dir: str | os.PathLike, *, gpu_count: int,
            cancel: threading.Event | None = None,
            watch: Callable[[], str | None] | None = None, cpus: Sequence[int] = (),
            workers: Any = None, prune: Any = None) -> BenchOutcome:
    # each point is a fresh AIPerf run, forked by the run's warm parent when it has one
    return rate.run(exp, base_url, out_dir, gpu_count=gpu_count, cancel=cancel, watch=watch,
                    cpus=cpus, warm=workers if isinstance(workers, WarmPool) else None)


def _warm_pool(parallel: int, run_dir: Path) -> WarmPool | None:
    """AIPerf's warm parents, or None where its venv is missing (rate.run says so)."""
    if not venv.ready():
        return None
    return WarmPool(parallel, run_dir, python=venv.path() / "bin" / "python", env=aiperf.env())


GENERATORS: dict[str, LoadGenerator] = {
    "genai-bench": LoadGenerator("genai-bench", "concurrency", _genai_bench,
                                 lambda parallel, run_dir: bench.WorkerPool(parallel, run_dir)),
    "aiperf": LoadGenerator("aiperf", "rate", _aiperf, _warm_pool),
}


def generator_for(exp: Experiment) -> LoadGenerator:
    """The generator that offers this experiment's load."""
    kind = "rate" if exp.benchmark.load is not None else "concurrency"
    return next(g for g in GENERATORS.values() if g.load == kind)


def measure(exp: Experiment, base_url: str, out_dir: str | os.PathLike,
            **kwargs: Any) -> BenchOutcome:
    """Measure one deployed trial with the generator its load needs."""
    return generator_for(exp).measure(exp, base_url, out_dir, **kwargs)
