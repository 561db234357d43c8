"""Run an experiment: search proposes trials, workers run them, the journal remembers.

Written once over the narrow backend interface. The journal is the only state: a rerun
of the same experiment replays it, skips finished trials (by content-addressed id),
cleans up what a killed runner left and reruns half-done trials. SIGINT/SIGTERM stop every
engine and leave a resumable run.
"""

from __future__ import annotations

import importlib
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tuneops.renderers.render import launch_objects, mode_of
from tuneops.runner import journal, score
from tuneops.runner.backends.base import Backend, Launch
from tuneops.runner.bench import WorkerPool, local_path
from tuneops.runner.cpus import CpuPool
from tuneops.runner.gpus import GpuPool
from tuneops.runner.progress import Progress
from tuneops.runner.report import write_report
from tuneops.runner.results import CANCELLED, COMPLETED, TrialResult
from tuneops.runner.search import make_searcher
from tuneops.runner.trial import TrialContext, run_trial

from tuneops.plan import Plan, Trial, make_plan
from tuneops.registry import engines
from tuneops.spec import Experiment


@dataclass
class RunOptions:
    runs_root: Path = Path("runs")
    reports_root: Path = Path("reports")
    fresh: bool = False
    quiet: bool = False
    max_trials: int | None = None
    backend: Backend | None = None  # tests may pass a configured backend
    gpu_ids: tuple[str, ...] | None = None  # override the machine's GPU inventory
    # "worker": long-lived genai-bench workers, its fixed cost paid once per run;
    # "cli": one `genai-bench benchmark` process per trial (every listed level, no early stop)
    load_generator: str = "worker"


@dataclass
class RunSummary:
    experiment: str
    run_id: str
    run_dir: Path
    report_dir: Path | None
    results: list[TrialResult]
    best: TrialResult | None
    simulated: bool
    interrupted: bool
    wall_s: float
    resumed: int = 0  # trials taken from an earlier run of the same experiment
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        done = sum(r.status == COMPLETED for r in self.results)
        lines = [
            f"{self.experiment}: {len(self.results)} trial(s), {done} completed"
            + (f", {self.resumed} from an earlier run" if self.resumed else "")
            + f" in {self.wall_s:.0f}s" + (" [SIMULATED]" if self.simulated else ""),
        ]
        if self.best is not None and self.best.score is not None:
            params = ", ".join(f"{k}={v}" for k, v in self.best.params.items())
            lines.append(f"best: {self.best.trial_id} ({params}) objective="
                         f"{self.best.score.objective:.4g}")
        else:
            lines.append("no feasible trial")
        if self.interrupted:
            lines.append(f"interrupted: run `tuneops run` again to resume ({self.run_dir})")
        if self.report_dir:
            lines.append(f"report: {self.report_dir / 'report.md'}")
        return "\n".join(lines + self.notes)


def trial_launch(exp: Experiment, trial: Trial, *, owner: str, gpus: tuple[str, ...],
                 log_dir: Path, cpus: tuple[int, ...] = ()) -> Launch:
    """A trial's launch, derived from the objects `tuneops render` writes to manifests/
    (the same function), plus what only the run knows: owner, GPUs, logs, real paths."""
    engine = engines()[exp.engine.name]
    plan = mode_of(exp).launch(exp, trial, launch_objects(exp, trial),
                               resolve=lambda p: local_path(exp, p))
    return Launch(
        trial_id=trial.id, owner=owner, command=plan.command, env=plan.env,
        container_port=plan.container_port, health_path=engine.health_path,
        # The simulator's GPUs are modelled, not real: they only pace parallel trials.
        gpus=() if engine.simulated else gpus, log_dir=log_dir, spec=plan.spec, cpus=cpus,
    )


def backend_class(mode, **options) -> Backend:
    """A deployment mode's backend, which the mode names as `module:Class`."""
    module, _, cls = mode.backend.partition(":")
    return getattr(importlib.import_module(module), cls)(**options)


def make_backend(exp: Experiment) -> Backend:
    mode = mode_of(exp)
    return backend_class(mode, **mode.backend_options(exp))


def _cpu_pool(exp: Experiment) -> CpuPool:
    """Disjoint cores for CPU engines in parallel trials on this machine; none to lend
    when the platform schedules (OME), the engine is modelled or uses GPUs."""
    if mode_of(exp).schedules_gpus or exp.gpus_per_trial or engines()[exp.engine.name].simulated:
        return CpuPool(1)
    return CpuPool(exp.search.parallel_trials)


def _gpu_pool(exp: Experiment, options: RunOptions) -> GpuPool:
    """The GPUs this machine hands to trials: none when the platform schedules them (OME)
    or trials need none (CPU engines); numbered stand-ins for the simulator, which only
    models them but still paces parallel trials by them."""
    if mode_of(exp).schedules_gpus or exp.gpus_per_trial == 0:
        return GpuPool([])
    declared = options.gpu_ids or exp.deployment.gpus.devices
    if declared:
        return GpuPool(declared)
    if engines()[exp.engine.name].simulated:
        n = exp.gpus_per_trial * max(exp.search.parallel_trials, 1)
        return GpuPool([f"sim{i}" for i in range(n)])
    return GpuPool.from_machine()


class _Signals:
    """Turn SIGINT/SIGTERM into a cancel event (main thread only; restored on exit)."""

    def __init__(self, cancel: threading.Event) -> None:
        self.cancel = cancel
        self.saved: dict[int, object] = {}

    def __enter__(self) -> _Signals:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.saved[sig] = signal.signal(sig, lambda *_: self.cancel.set())
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.saved.items():
            signal.signal(sig, handler)


def run_experiment(exp: Experiment, options: RunOptions | None = None) -> RunSummary:
    options = options or RunOptions()
    t0 = time.monotonic()
    plan: Plan = make_plan(exp)
    backend = options.backend or make_backend(exp)
    cancel = threading.Event()
    with journal.open_run(options.runs_root, exp, fresh=options.fresh) as run:
        owner = f"{exp.name}/{run.run_id}"
        for leftover in backend.reap(owner):  # what a killed runner of this run left behind
            run.note(f"cleaned up {leftover}")
        finished: dict[str, TrialResult] = dict(run.state.finished)
        searcher = make_searcher(exp, plan, max_trials=options.max_trials)
        for result in finished.values():
            searcher.tell(result)
        for trial in run.state.half_done(exp):  # started by a runner that died: run again
            searcher.rerun(trial)
        resumed = len(finished)
        pool = _gpu_pool(exp, options)
        cpu_pool = _cpu_pool(exp)
        cpus_of: dict[str, tuple[int, ...]] = {}  # trial id -> its cores, while it runs
        progress = Progress(exp, plan, quiet=options.quiet, already=resumed)
        parallel = max(exp.search.parallel_trials, 1)
        workers = (WorkerPool(parallel, run.dir) if options.load_generator == "worker"
                   else None)
        ctx = TrialContext(
            exp=exp, backend=backend, owner=owner, run_dir=run.dir,
            build_launch=lambda trial, gpus, log_dir: trial_launch(
                exp, trial, owner=owner, gpus=gpus, log_dir=log_dir,
                cpus=cpus_of.get(trial.id, ())),
            cancel=cancel,
            workers=workers,
            prune=searcher.should_prune,
            on_phase=progress.phase,
            on_attempt=lambda t, a, g: run.trial_started(t, attempt=a, gpus=g, owner=owner),
        )
        deadline = t0 + exp.search.time_budget_s if exp.search.time_budget_s else None

        def work(trial: Trial) -> TrialResult:
            gpus = pool.acquire(exp.gpus_per_trial if pool.size else 0)
            cpus = cpus_of[trial.id] = cpu_pool.acquire()
            try:
                return run_trial(ctx, trial, gpus)
            finally:
                cpus_of.pop(trial.id, None)
                cpu_pool.release(cpus)
                pool.release(gpus)

        pending: dict[Future, Trial] = {}
        with _Signals(cancel), progress, _closing(workers), \
                ThreadPoolExecutor(parallel) as executor:
            while not cancel.is_set():
                out_of_time = deadline is not None and time.monotonic() >= deadline
                while len(pending) < parallel and not out_of_time and not searcher.done:
                    trial = searcher.ask()
                    if trial is None:  # nothing to propose until a pending result comes back
                        break
                    progress.trial_started(trial)
                    pending[executor.submit(work, trial)] = trial
                if not pending:
                    break
                done, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                for fut in done:
                    pending.pop(fut)
                    result = fut.result()
                    if result.status != CANCELLED:
                        run.trial_finished(result)
                        finished[result.trial_id] = result
                        searcher.tell(result)
                    progress.trial_finished(result)
            if cancel.is_set():
                _stop_all(ctx)
                for fut in list(pending):
                    progress.trial_finished(fut.result())
        interrupted = cancel.is_set()
        results = score.rank(list(finished.values()), exp)
        best = score.best(results)
        simulated = engines()[exp.engine.name].simulated
        report_dir = None
        if results:
            report_dir = write_report(
                options.reports_root / exp.name / run.run_id, exp, results,
                run_id=run.run_id, interrupted=interrupted,
            )
        # A cap given for this invocation only (--max-trials) pauses the run: like any
        # budget (journal._BUDGET_FIELDS), raising it resumes the same run.
        paused = (
            options.max_trials is not None
            and searcher.stop_reason == "max_trials"
            and not (exp.search.max_trials and exp.search.max_trials <= options.max_trials)
        )
        if paused:
            run.note(f"stopped at --max-trials {options.max_trials}: run again to continue")
        if not interrupted and not paused:
            run.finished()
        return RunSummary(
            experiment=exp.name, run_id=run.run_id, run_dir=run.dir, report_dir=report_dir,
            results=results, best=best, simulated=simulated, interrupted=interrupted,
            wall_s=time.monotonic() - t0, resumed=resumed, notes=run.notes,
        )


@contextmanager
def _closing(workers: WorkerPool | None) -> Iterator[None]:
    try:
        yield
    finally:
        if workers is not None:
            workers.close()


def _stop_all(ctx: TrialContext) -> None:
    """Stop every running engine now; their trials then end as cancelled."""
    with ctx.lock:
        active = list(ctx.active.values())
    for deployment in active:
        try:
            ctx.backend.stop(deployment)
        except Exception:  # noqa: BLE001 - keep stopping the others
            pass
