"""The one list of load generators, like deployments/registry.py for modes: which program
measures a trial, chosen from the experiment's load.

- genai-bench: closed-loop concurrency (benchmark.concurrency). Its code stays in
  runner/bench (CLI per trial, or the run's long-lived workers); this entry calls it.
- aiperf: open-loop load (benchmark.load: request rates, or a trace replayed at its
  timestamps), in its own venv (runner/loadgen/venv.py), driven point by point by
  runner/loadgen/rate.py.

The interface is narrow on purpose: measure one deployed trial, get a BenchOutcome whose
numbers were converted once, by the generator's own reader (runner/bench/parse.py,
runner/loadgen/aiperf.py), into tuneops' metric names.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tuneops.runner import bench
from tuneops.runner.bench.parse import BenchOutcome
from tuneops.runner.loadgen import rate

from tuneops.spec import Experiment


@dataclass(frozen=True)
class LoadGenerator:
    """One load generator: its name, the load it offers, and how it measures a trial."""

    name: str
    load: str  # "concurrency" (closed loop) or "rate" (open loop)
    measure: Callable[..., BenchOutcome]


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
    # AIPerf is started per point (its own services); genai-bench's workers do not apply
    return rate.run(exp, base_url, out_dir, gpu_count=gpu_count, cancel=cancel, watch=watch,
                    cpus=cpus)


GENERATORS: dict[str, LoadGenerator] = {
    "genai-bench": LoadGenerator("genai-bench", "concurrency", _genai_bench),
    "aiperf": LoadGenerator("aiperf", "rate", _aiperf),
}


def generator_for(exp: Experiment) -> LoadGenerator:
    """The generator that offers this experiment's load."""
    kind = "rate" if exp.benchmark.load is not None else "concurrency"
    return next(g for g in GENERATORS.values() if g.load == kind)


def measure(exp: Experiment, base_url: str, out_dir: str | os.PathLike,
            **kwargs: Any) -> BenchOutcome:
    """Measure one deployed trial with the generator its load needs."""
    return generator_for(exp).measure(exp, base_url, out_dir, **kwargs)
