"""Measure a served trial from the runner's machine: warm up, then one genai-bench run.

This is what a trial's benchmark step does unless its backend measures where the engine
runs (``Backend.benchmark``, e.g. OME's BenchmarkJob in the cluster).
"""

from __future__ import annotations

import os
import threading
from typing import Any

from tuneops.runner.bench.parse import BenchOutcome
from tuneops.runner.bench.process import run
from tuneops.runner.bench.warmup import warmup

from tuneops.spec import Experiment


def measure_here(deployment: Any, exp: Experiment, out_dir: str | os.PathLike, *,
                 cancel: threading.Event | None = None) -> BenchOutcome:
    """Benchmark ``deployment`` (a started, healthy Deployment) with genai-bench here."""
    warmup(deployment.base_url, exp, exp.benchmark.warmup_requests)
    if cancel is not None and cancel.is_set():
        return BenchOutcome(ok=False, cancelled=True, reason="benchmark cancelled")
    return run(exp, deployment.base_url, out_dir,
               gpu_count=max(deployment.launch.gpu_count, 1), cancel=cancel)
