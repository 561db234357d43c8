"""One trial's life: deploy → healthy → warm up → benchmark → score → tear down.

Whatever happens, a TrialResult value comes back and the engine is stopped. Config
failures end the trial at once; infrastructure failures are retried with backoff.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tuneops.runner import bench, score
from tuneops.runner.backends.base import Backend, ConfigFailure, Deployment, InfraFailure, Launch
from tuneops.runner.results import (
    CANCELLED,
    COMPLETED,
    FAILED_BENCHMARK,
    FAILED_CONFIG,
    FAILED_INFRA,
    TrialResult,
)

from tuneops.plan import Trial
from tuneops.registry import engines
from tuneops.spec import Experiment

MAX_INFRA_ATTEMPTS = 3
BACKOFF_S = (2.0, 5.0, 10.0)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class TrialContext:
    """What every trial of one run shares."""

    exp: Experiment
    backend: Backend
    owner: str  # "<experiment>/<run-id>"
    run_dir: Path
    build_launch: Callable[[Trial, tuple[str, ...], Path], Launch]
    cancel: threading.Event
    on_phase: Callable[[str, str], None] = lambda trial_id, phase: None
    on_attempt: Callable[[Trial, int, tuple[str, ...]], None] = lambda t, a, g: None
    workers: bench.WorkerPool | None = None  # None: the genai-bench CLI per trial
    # asked after each level: stop this trial? (the search's pruner; threads call it)
    prune: Callable[[str, str, int, dict[str, float]], bool] | None = None
    active: dict[str, Deployment] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Cancelled(Exception):
    pass


def _check(ctx: TrialContext) -> None:
    if ctx.cancel.is_set():
        raise _Cancelled()


def run_trial(ctx: TrialContext, trial: Trial, gpus: tuple[str, ...]) -> TrialResult:
    """Run one trial to a result, retrying infrastructure failures."""
    simulated = engines()[ctx.exp.engine.name].simulated
    base = dict(
        trial_id=trial.id, index=trial.index, params=trial.params, args=trial.args,
        gpus=gpus, simulated=simulated, started_at=_now(),
    )
    t0 = time.monotonic()
    trial_dir = ctx.run_dir / "trials" / trial.id
    # A rerun after a killed runner keeps the killed attempt's logs: number on from them.
    earlier = len(list(trial_dir.glob("attempt-*"))) if trial_dir.exists() else 0
    attempt = 0
    while True:
        attempt += 1
        log_dir = trial_dir / f"attempt-{earlier + attempt}"
        log_dir.mkdir(parents=True, exist_ok=True)
        try:
            ctx.on_attempt(trial, attempt, gpus)
            result = _attempt(ctx, trial, gpus, log_dir, base)
        except _Cancelled:
            result = TrialResult(**base, status=CANCELLED, reason="run interrupted")
        except ConfigFailure as f:
            result = TrialResult(**base, status=FAILED_CONFIG, reason=_reason(f))
        except InfraFailure as f:
            if attempt < MAX_INFRA_ATTEMPTS and not ctx.cancel.is_set():
                ctx.on_phase(trial.id, f"retrying after: {f.reason}")
                if ctx.cancel.wait(BACKOFF_S[min(attempt - 1, len(BACKOFF_S) - 1)]):
                    result = TrialResult(**base, status=CANCELLED, reason="run interrupted")
                else:
                    continue
            else:
                result = TrialResult(**base, status=FAILED_INFRA, reason=_reason(f))
        result.attempts = attempt
        result.log_dir = str(log_dir)
        result.finished_at = _now()
        result.total_s = round(time.monotonic() - t0, 3)
        return result


def _reason(f: Exception) -> str:
    tail = getattr(f, "logs_tail", "")
    reason = getattr(f, "reason", str(f))
    return f"{reason}\n{tail}".strip() if tail and tail not in reason else reason


def _attempt(
    ctx: TrialContext, trial: Trial, gpus: tuple[str, ...], log_dir: Path, base: dict[str, Any]
) -> TrialResult:
    exp = ctx.exp
    _check(ctx)
    ctx.on_phase(trial.id, "starting")
    launch = ctx.build_launch(trial, gpus, log_dir)
    t_start = time.monotonic()
    deployment = ctx.backend.start(launch)
    with ctx.lock:
        ctx.active[trial.id] = deployment
    try:
        ctx.on_phase(trial.id, "waiting for health")
        try:
            ctx.backend.wait_healthy(deployment, exp.deployment.startup_timeout_s)
        except (ConfigFailure, InfraFailure):
            _check(ctx)  # an engine stopped by cancellation is not a failure of the trial
            raise
        startup_s = time.monotonic() - t_start
        _check(ctx)
        ctx.on_phase(trial.id, "warming up")
        t_warm = time.monotonic()
        bench.warmup(deployment.base_url, exp, exp.benchmark.warmup_requests)
        warmup_s = round(time.monotonic() - t_warm, 3)
        _check(ctx)
        ctx.on_phase(trial.id, "benchmarking")
        t_bench = time.monotonic()
        outcome = bench.run(exp, deployment.base_url, log_dir / "genai-bench",
                            gpu_count=max(len(gpus), 1), cancel=ctx.cancel,
                            workers=ctx.workers,
                            prune=(lambda s, c, v: ctx.prune(trial.id, s, c, v))
                            if ctx.prune else None)
        bench_s = time.monotonic() - t_bench
        _check(ctx)
        if outcome.infra:  # the load generator failed, not the engine: retry the trial
            raise InfraFailure(outcome.reason)
        timing = dict(startup_s=round(startup_s, 3), warmup_s=warmup_s,
                      benchmark_s=round(bench_s, 3))
        if not outcome.ok:
            return TrialResult(**base, status=FAILED_BENCHMARK, reason=outcome.reason,
                               **timing)
        result = TrialResult(**base, status=COMPLETED, metrics=outcome.metrics,
                             not_run=list(outcome.not_run), **timing)
        result.score = score.score_trial(exp, outcome.metrics)
        return result
    finally:
        ctx.on_phase(trial.id, "stopping")
        try:
            ctx.backend.stop(deployment)
        finally:
            with ctx.lock:
                ctx.active.pop(trial.id, None)
