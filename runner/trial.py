"""One trial's life: deploy → healthy → warm up → benchmark (× repeats) → score → tear down.

Whatever happens, a TrialResult value comes back and the engine is stopped. Config
failures end the trial at once; infrastructure failures are retried with backoff.

Measuring: genai-bench runs `benchmark.repeats` times on the same engine (adaptive repeats:
until the objective's interval is narrow enough, or the most allowed); every run's values
and per-request records are kept, and the metrics are their summary (runner.stats). While
genai-bench runs, the engine is watched: if it goes away, genai-bench is stopped and the
trial fails (failed_config when the engine's log blames its settings: OOM, an assertion;
failed_benchmark otherwise) — never completed. CPU engines are pinned to their CPU set and
genai-bench to its own (common/cpus.py); the host's load is recorded around every run
(runner.hostload) and a contended run flags the trial.

`remeasure` is the confirmation phase's step: one more measurement of a finished trial on
a fresh engine, merged into its samples.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tuneops.deployments.common import causes, cpus, health
from tuneops.deployments.common.backend import (
    PORT_PLACEHOLDER,
    Backend,
    ConfigFailure,
    Deployment,
    InfraFailure,
    Launch,
)
from tuneops.runner import bench, cost, hostload, score, stats
from tuneops.runner.loadgen import registry as loadgen
from tuneops.runner.loadgen.warm import WarmPool
from tuneops.runner.report import portable
from tuneops.runner.results import (
    CANCELLED,
    COMPLETED,
    FAILED_BENCHMARK,
    FAILED_CONFIG,
    FAILED_INFRA,
    TrialResult,
)
from tuneops.runner.telemetry.measure import measuring

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
    # the load generator's run-long pool (loadgen registry's LoadGenerator.pool: genai-bench's
    # WorkerPool, AIPerf's WarmPool); None: its CLI per trial or per rate
    workers: bench.WorkerPool | WarmPool | None = None
    # asked after each level: stop this trial? (the search's pruner; threads call it)
    prune: Callable[[str, str, int, dict[str, float]], bool] | None = None
    active: dict[str, Deployment] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    cpu_plan: cpus.CpuPlan | None = None  # None: derived from the experiment and this machine

    def cpus(self) -> cpus.CpuPlan:
        if self.cpu_plan is None:
            self.cpu_plan = cpus.plan(self.exp)
        return self.cpu_plan


class _BenchFailure(Exception):
    """The engine died while measured, not of its settings: failed_benchmark."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Cancelled(Exception):
    pass


def _check(ctx: TrialContext) -> None:
    if ctx.cancel.is_set():
        raise _Cancelled()


def run_trial(ctx: TrialContext, trial: Trial, gpus: tuple[str, ...], *,
              repeats: tuple[int, int] | None = None) -> TrialResult:
    """Run one trial to a result, retrying infrastructure failures. `repeats` (least, most)
    overrides the experiment's (the confirmation phase measures once).

    With `benchmark.freshEnginePerRepeat` every repeat gets its own engine: the repeats'
    interval then holds the variance between engine starts, which repeats on one engine
    never see. A repeat that fails ends the trial with that failure, as in confirmation."""
    b = ctx.exp.benchmark
    if repeats is not None or not b.fresh_engine_per_repeat:
        return _on_one_engine(ctx, trial, gpus, repeats)
    least, most = b.repeats, b.max_repeats
    result = _on_one_engine(ctx, trial, gpus, (1, 1))
    while result.status == COMPLETED and result.measurements < most and not (
            result.measurements >= least and _converged(ctx.exp, result.samples, result.records)):
        ctx.on_phase(trial.id, f"repeat {result.measurements + 1}/{most} on a fresh engine")
        again = _on_one_engine(ctx, trial, gpus, (1, 1))
        if again.status != COMPLETED:
            return replace(again, started_at=result.started_at, log_dir=result.log_dir,
                           total_s=round(result.total_s + again.total_s, 3),
                           reason=f"repeat {result.measurements + 1} on a fresh engine: "
                                  f"{again.reason}")
        result = with_measurements(ctx.exp, result, again)
    return result


def _on_one_engine(ctx: TrialContext, trial: Trial, gpus: tuple[str, ...],
                   repeats: tuple[int, int] | None) -> TrialResult:
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
        try:
            try:
                log_dir.mkdir(parents=True, exist_ok=True)
                ctx.on_attempt(trial, attempt, gpus)
                result = _attempt(ctx, trial, gpus, log_dir, base, repeats)
            except OSError as e:  # a full or failing disk under runs/: infra, named
                disk = causes.disk_problem(e)
                if disk is None:
                    raise
                raise InfraFailure(disk) from e
            except InfraFailure as f:
                disk = causes.disk_full(trial_dir.parent)
                if disk and "ENOSPC" not in f.reason:  # a worker that died for want of space
                    f.reason = f"{disk}: {f.reason}"
                raise
        except _Cancelled:
            result = TrialResult(**base, status=CANCELLED, reason="run interrupted")
        except ConfigFailure as f:
            result = TrialResult(**base, status=FAILED_CONFIG, reason=_reason(f))
        except _BenchFailure as f:
            result = TrialResult(**base, status=FAILED_BENCHMARK, reason=f.reason)
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


def _engine_cpus(ctx: TrialContext, trial: Trial, share: tuple[int, ...] = ()) -> cpus.CpuPlan:
    """The trial's CPU sets (within its share of the cores when parallel trials split them,
    common/cpu_pool.py); a thread count larger than a derived engine set fails the trial (a
    declared one is rejected by validate already)."""
    plan = cpus.plan(ctx.exp, usable=share) if share else ctx.cpus()
    if plan.engine:
        flags = engines()[ctx.exp.engine.name].thread_flags
        for name in flags:
            value = trial.args.get(name)
            if isinstance(value, int) and not isinstance(value, bool) and value > len(plan.engine):
                raise ConfigFailure(
                    f"{name}={value} exceeds the engine's CPU set {list(plan.engine)} "
                    f"({plan.source}; the load generator has {list(plan.loadgen)}): threads "
                    "would time-share cores", "")
    return plan


def _ran_command(exp: Experiment, launch: Launch, plan: cpus.CpuPlan) -> list[str]:
    """The engine argv as it ran (local mode), CPU pinning spelt out, as a committed report
    may hold it: `<port>` for the port, `<python>` for the interpreter, paths relative to
    the repository (runner/report/portable.py)."""
    argv = [a.replace(PORT_PLACEHOLDER, portable.PORT) for a in launch.command]
    if plan.engine:
        argv = ["taskset", "-c", ",".join(map(str, plan.engine)), *argv]
    return portable.command(argv, portable.repo_root(exp.source_file or None))


def _attempt(
    ctx: TrialContext, trial: Trial, gpus: tuple[str, ...], log_dir: Path, base: dict[str, Any],
    repeats: tuple[int, int] | None = None,
) -> TrialResult:
    exp = ctx.exp
    _check(ctx)
    ctx.on_phase(trial.id, "starting")
    launch = ctx.build_launch(trial, gpus, log_dir)
    plan = _engine_cpus(ctx, trial, share=launch.cpus)
    if plan.engine:
        launch = replace(launch, cpus=plan.engine)
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
        base = {**base, "placement": dict(deployment.placement)}
        t_warm = time.monotonic()
        if getattr(ctx.backend, "benchmark", None) is None:  # measured here, not in place
            ctx.on_phase(trial.id, "warming up")
            bench.warmup(deployment.base_url, exp, exp.benchmark.warmup_requests)
            _check(ctx)
        warmup_s = round(time.monotonic() - t_warm, 3)
        extra = dict(startup_s=round(startup_s, 3), warmup_s=warmup_s, cpus=plan.as_dict(),
                     command=_ran_command(exp, launch, plan)
                     if getattr(ctx.backend, "name", "") == "local" else [])
        t_bench = time.monotonic()
        measured = _measure(ctx, trial, deployment, log_dir, gpus, plan, repeats)
        bench_s = round(time.monotonic() - t_bench, 3)
        _check(ctx)
        if isinstance(measured, str):
            return TrialResult(**base, status=FAILED_BENCHMARK, reason=measured,
                               benchmark_s=bench_s, **extra)
        samples, records, loads, not_run, telemetry = measured
        result = TrialResult(**base, status=COMPLETED, benchmark_s=bench_s, **extra,
                             not_run=not_run, telemetry=telemetry,
                             samples=samples, records=records, host_load=loads,
                             measurements=sum(not w.get("discarded") for w in loads),
                             contended=any(w.get("contended") and not w.get("discarded")
                                           for w in loads))
        summarize(exp, result)
        return result
    finally:
        ctx.on_phase(trial.id, "stopping")
        try:
            ctx.backend.stop(deployment)
        finally:
            with ctx.lock:
                ctx.active.pop(trial.id, None)


def summarize(exp: Experiment, result: TrialResult) -> None:
    """Metrics, spread and score from the samples and records (in place)."""
    metrics, spread = stats.summarize(result.samples, result.records)
    result.metrics = metrics
    result.spread = {sc: {c: {k: v.as_dict() for k, v in by_m.items()}
                          for c, by_m in by_c.items()} for sc, by_c in spread.items()}
    result.score = score.score_result(exp, result)


def _merge(samples: dict, records: dict, outcome: bench.BenchOutcome,
           hourly: float | None = None) -> None:
    for sc, by_c in outcome.metrics.items():
        for c, values in by_c.items():
            samples.setdefault(sc, {}).setdefault(c, []).append(cost.add_costs(values, hourly))
            recs = records.setdefault(sc, {}).setdefault(c, {})
            for name, vals in (outcome.records.get(sc, {}).get(c) or {}).items():
                recs.setdefault(name, []).extend(vals)


def _converged(exp: Experiment, samples: dict, records: dict) -> bool:
    """Adaptive repeats: the objective's 95 % half-width within the target of its value."""
    target = exp.benchmark.target_relative_ci
    if target is None:
        return True
    metrics, spread = stats.summarize(samples, records)
    s = score.score_trial(exp, metrics, {sc: {c: {k: v.as_dict() for k, v in m.items()}
                                              for c, m in by_c.items()}
                                         for sc, by_c in spread.items()})
    if s.objective is None or s.objective_low is None or s.objective == 0:
        return False
    half = (s.objective_high - s.objective_low) / 2
    return half / abs(s.objective) <= target


def _measure(
    ctx: TrialContext, trial: Trial, deployment: Deployment, log_dir: Path,
    gpus: tuple[str, ...], plan: cpus.CpuPlan, repeats: tuple[int, int] | None,
) -> tuple[dict, dict, list[dict[str, Any]], list, list[dict[str, Any]]] | str:  # noqa: E501
    """genai-bench `repeats` times against a watched engine: (samples, records, host load
    per run, levels not run, engine telemetry per kept run), or why measuring failed. The
    engine dying raises (see _engine_died); the load generator failing raises InfraFailure
    (the trial is retried)."""
    exp = ctx.exp.for_trial(trial.params)  # the trial's GPU type: genai-bench's, the price
    least, most = repeats or (exp.benchmark.repeats, exp.benchmark.max_repeats)
    # A backend that measures where the engine runs (OME: a BenchmarkJob in the cluster)
    # does so itself; its engine may not be reachable from here, so it is not watched.
    in_place = getattr(ctx.backend, "benchmark", None)
    exit_code = getattr(ctx.backend, "exit_code", None)
    watch = health.EngineWatch(
        deployment.base_url + deployment.launch.health_path,
        (lambda: exit_code(deployment)) if exit_code is not None else None)
    if in_place is not None:
        watch = lambda now=False: None  # noqa: E731 - the platform watches its own pods
    pgid = _engine_pgid(deployment)

    def ours() -> list[int]:
        """The engine's process group and the load generator's: a long-lived worker is not
        this process's reaped child, so without its group it would read as contention."""
        return [g for g in [pgid, *(ctx.workers.pgids() if ctx.workers else [])] if g]

    samples: dict = {}
    records: dict = {}
    loads: list[dict[str, Any]] = []
    not_run: list = []
    telemetry: list[dict[str, Any]] = []
    retakes = exp.benchmark.remeasure_contended
    n = run_no = 0
    while n < most:
        n += 1
        run_no += 1
        ctx.on_phase(trial.id, "benchmarking" if most == 1 else f"benchmarking ({n}/{most})")
        out_dir = log_dir / ("genai-bench" if run_no == 1 else f"genai-bench-{run_no}")
        before = hostload.snapshot(ours())
        if in_place is not None:
            outcome = in_place(deployment, exp, out_dir, genai_bench=bench, cancel=ctx.cancel)
            seen: dict[str, Any] = {"not_scraped": "measured in place by the platform"}
        else:
            # a simulated engine's GPUs are a model: NVML would read someone else's board
            real_gpus = () if engines()[exp.engine.name].simulated else gpus
            # scraped from the load generator's cores, never a CPU engine's (scrape.py)
            with measuring(exp.engine.name, deployment.base_url, real_gpus,
                           cpus=tuple(plan.loadgen)) as scraped:
                outcome = loadgen.measure(exp, deployment.base_url, out_dir,
                                          gpu_count=max(deployment.launch.gpu_count, 1),
                                          cancel=ctx.cancel, watch=watch, cpus=plan.loadgen,
                                          workers=ctx.workers,
                                          prune=(lambda s, c, v: ctx.prune(trial.id, s, c, v))
                                          if ctx.prune else None)
            seen = scraped.summary(outcome) if outcome.ok else {}
        loads.append(hostload.window(before, hostload.snapshot(ours()),
                                     engine_known=pgid is not None))
        _check(ctx)
        if not outcome.engine_died and outcome.ok:
            gone = watch(now=True)  # died as genai-bench finished: its errors are no data
            if gone:
                outcome.engine_died, outcome.reason = True, f"engine died: {gone}"
        if outcome.engine_died:
            _engine_died(ctx, deployment, outcome.reason)
        if outcome.infra:  # the load generator failed, not the engine: retry the trial
            raise InfraFailure(outcome.reason)
        if not outcome.ok:
            return outcome.reason
        if not not_run:  # levels skipped (early stop, pruning): the first run says which
            not_run = list(outcome.not_run)
        if loads[-1].get("contended") and retakes > 0:  # thrown away, taken again
            retakes -= 1
            loads[-1]["discarded"] = True
            n -= 1
            continue
        _merge(samples, records, outcome,
               cost.hourly_price(exp, trial.args, exp.gpus_per_trial, trial.params))
        telemetry.append(seen)
        if n >= least and _converged(exp, samples, records):
            break
    return samples, records, loads, not_run, telemetry


def _engine_pgid(deployment: Deployment) -> int | None:
    proc = getattr(deployment.handle, "proc", None)  # local engines: their process group
    return getattr(proc, "pid", None)


def _engine_died(ctx: TrialContext, deployment: Deployment, why: str) -> None:
    try:
        logs = ctx.backend.logs(deployment)
    except Exception:  # noqa: BLE001 - a dead engine's logs may be gone too
        logs = ""
    failure = health.death_failure(why.removeprefix("engine died: "), logs)
    if isinstance(failure, (ConfigFailure, InfraFailure)):  # InfraFailure: killed from outside
        raise failure
    raise _BenchFailure(_reason(failure))


def remeasure(ctx: TrialContext, trial: Trial, prior: TrialResult) -> TrialResult:
    """Measure a finished trial once more on a fresh engine and merge it into its samples
    (confirmation phase). A failed re-measurement ends the trial with that failure: a
    configuration that does not survive a second engine is not a winner."""
    again = run_trial(ctx, trial, prior.gpus, repeats=(1, 1))
    # A result reused from a report (runner/store.py) is measured in this run from here on:
    # its stored samples and the new one are merged below.
    counted = replace(prior, confirmations=prior.confirmations + 1, reused_from="")
    if again.status != COMPLETED:
        if again.status == CANCELLED:
            return prior
        failed = replace(counted, finished_at=again.finished_at or prior.finished_at,
                         total_s=round(prior.total_s + again.total_s, 3))
        if again.status == FAILED_INFRA:  # the machinery, not the configuration: no verdict
            failed.reason = f"confirmation re-measurement {failed.confirmations} not taken: " \
                            f"{again.reason}"
            return failed
        failed.status = again.status
        failed.reason = f"confirmation re-measurement {failed.confirmations}: {again.reason}"
        failed.score = None
        return failed
    return with_measurements(ctx.exp, counted, again)


def with_measurements(exp: Experiment, prior: TrialResult, again: TrialResult) -> TrialResult:
    """`prior` with the measurements of `again` (both completed) added to its samples and
    records, host load and times, and summarized anew."""
    out = replace(prior, finished_at=again.finished_at or prior.finished_at,
                  total_s=round(prior.total_s + again.total_s, 3))
    # an earlier version's result has metrics but no samples: they count as one measurement
    base_samples = prior.samples or {sc: {c: [dict(m)] for c, m in by_c.items()}
                                      for sc, by_c in prior.metrics.items()}
    out.samples = {sc: {c: list(v) for c, v in by_c.items()}
                   for sc, by_c in base_samples.items()}
    out.records = {sc: {c: {k: list(v) for k, v in m.items()} for c, m in by_c.items()}
                   for sc, by_c in prior.records.items()}
    for sc, by_c in again.samples.items():
        for c, reps in by_c.items():
            out.samples.setdefault(sc, {}).setdefault(c, []).extend(reps)
    for sc, by_c in again.records.items():
        for c, m in by_c.items():
            for k, v in m.items():
                out.records.setdefault(sc, {}).setdefault(c, {}).setdefault(k, []).extend(v)
    out.host_load = [*prior.host_load, *again.host_load]
    out.telemetry = [*prior.telemetry, *again.telemetry]
    out.measurements = prior.measurements + again.measurements
    out.contended = prior.contended or again.contended
    out.benchmark_s = round(prior.benchmark_s + again.benchmark_s, 3)
    summarize(exp, out)
    return out
