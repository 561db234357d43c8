"""Run an experiment: search proposes trials, workers run them, the journal remembers.

Written once over the narrow backend interface. The journal is the only state: a rerun
of the same experiment replays it, skips finished trials (by content-addressed id),
cleans up what a killed runner left and reruns half-done trials. SIGINT/SIGTERM stop every
engine and leave a resumable run.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tuneops.deployments.common.backend import Backend, Launch
from tuneops.deployments.common.cpu_pool import CpuPool
from tuneops.deployments.common.gpus import GpuPool
from tuneops.deployments.common.ports import runtime_dir
from tuneops.renderers.render import launch_objects, mode_of
from tuneops.runner import journal, rankings
from tuneops.runner.bench import local_path
from tuneops.runner.confirm import run_confirmation
from tuneops.runner.loadgen import registry as loadgen
from tuneops.runner.progress import Progress
from tuneops.runner.report import provenance, write_report
from tuneops.runner.report.provenance import experiment_sha256
from tuneops.runner.report_trust import ReportTrust
from tuneops.runner.results import CANCELLED, COMPLETED, FAILED_INFRA, TrialResult
from tuneops.runner.search import make_searcher, model_fallback
from tuneops.runner.store import ResultStore
from tuneops.runner.trial import TrialContext, run_trial
from tuneops.runner.trial import remeasure as remeasure_trial

from tuneops import secrets
from tuneops.errors import UserError
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
    # "worker": the load generator's long-lived workers, its fixed cost paid once per run
    # (genai-bench's workers; AIPerf's warm parents, runner/loadgen/warm.py); "cli": one
    # `genai-bench benchmark` per trial (every listed level, no early stop), one
    # `aiperf profile` process per rate
    load_generator: str = "worker"
    # which committed reports the results store may reuse (runner/report_trust.py): the
    # pull-request bot passes its provenance policy; None trusts every report in the checkout
    report_trust: ReportTrust | None = None


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
    reused: int = 0  # trials taken from committed reports (runner/store.py), not measured
    notes: list[str] = field(default_factory=list)
    ties: list[str] = field(default_factory=list)  # trials the best cannot be told apart from

    @property
    def lost_to_infra(self) -> list[TrialResult]:
        """Trials the machine, not their settings, failed (exit status 4: measure again)."""
        return [r for r in self.results if r.status == FAILED_INFRA]

    def describe(self) -> str:
        done = sum(r.status == COMPLETED for r in self.results)
        lines = [
            f"{self.experiment}: {len(self.results)} trial(s), {done} completed"
            + (f", {self.resumed} from an earlier run" if self.resumed else "")
            + (f", {self.reused} reused from reports" if self.reused else "")
            + f" in {self.wall_s:.0f}s" + (" [SIMULATED]" if self.simulated else ""),
        ]
        if self.best is not None and self.best.score is not None:
            params = ", ".join(f"{k}={v}" for k, v in self.best.params.items())
            s = self.best.score
            spread = (f" ± {(s.objective_high - s.objective_low) / 2:.3g}"
                      if s.objective_low is not None and s.objective_high is not None else "")
            lines.append(f"best: {self.best.trial_id} ({params}) objective="
                         f"{s.objective:.4g}{spread}")
            if self.ties:
                lines.append(f"tied within the noise: {', '.join(self.ties)}")
        else:
            lines.append("no feasible trial")
        for lost in self.lost_to_infra:
            first = lost.reason.splitlines()[0] if lost.reason else "no reason recorded"
            lines.append(f"lost to infrastructure: {lost.trial_id} after {lost.attempts} "
                         f"attempt(s): {first}")
        if self.interrupted:
            lines.append(f"interrupted: run `tuneops run` again to resume ({self.run_dir})")
        if self.report_dir:
            lines.append(f"report: {self.report_dir / 'report.md'}")
        if self.results and self.reused == len(self.results):
            lines.insert(0, f"nothing measured: all {self.reused} trial(s) reused from earlier "
                         "reports (--fresh measures again)")
        return "\n".join(lines + self.notes)


def trial_launch(exp: Experiment, trial: Trial, *, owner: str, gpus: tuple[str, ...],
                 log_dir: Path, cpus: tuple[int, ...] = ()) -> Launch:
    """A trial's launch, derived from the objects `tuneops render` writes to manifests/
    (the same function), plus what only the run knows: owner, GPUs, logs, real paths."""
    engine = engines()[exp.engine.name]
    mode = mode_of(exp)
    plan = mode.launch(exp, trial, launch_objects(exp, trial),
                       resolve=lambda p: local_path(exp, p))
    return Launch(
        trial_id=trial.id, owner=owner, command=plan.command,
        env={**plan.env, **secrets.engine_env(exp)},  # fromEnv references resolved
        container_port=plan.container_port, health_path=engine.health_path,
        # The simulator's GPUs are modelled, not real, and a platform that schedules GPUs
        # got only budget slots: both just pace parallel trials.
        gpus=() if engine.simulated or mode.schedules_gpus else gpus, log_dir=log_dir,
        spec=plan.spec, scheduled_gpus=plan.gpu_count, cpus=cpus,
    )


def make_backend(exp: Experiment) -> Backend:
    """The experiment's backend: its mode's backend class (the registry joined them)."""
    mode = mode_of(exp)
    return mode.backend(**mode.backend_options(exp))


def _cpu_pool(exp: Experiment) -> CpuPool:
    """Disjoint cores for CPU engines in parallel trials on this machine; none to lend
    when the platform schedules (OME), the engine is modelled or uses GPUs."""
    if mode_of(exp).schedules_gpus or exp.gpus_per_trial or engines()[exp.engine.name].simulated:
        return CpuPool(1)
    return CpuPool(exp.search.parallel_trials)


def _gpu_pool(exp: Experiment, options: RunOptions) -> GpuPool:
    """The GPUs this machine hands to trials: none when trials need none (CPU engines);
    when the platform schedules them (OME), numbered slots of the mode's declared budget,
    if any, so that the trials running together fit in it; numbered stand-ins for the
    simulator, which only models them but still paces parallel trials by them."""
    mode = mode_of(exp)
    if mode.schedules_gpus:
        budget = mode.gpu_budget(exp) if exp.gpus_per_trial else None
        return GpuPool([f"{mode.name}-slot{i}" for i in range(budget)] if budget else [])
    if exp.gpus_per_trial == 0:
        return GpuPool([])
    declared = options.gpu_ids or exp.deployment.gpus.devices
    lock_dir = runtime_dir() / "gpus"  # real GPUs are held across processes, as ports are
    if declared:
        return GpuPool(declared, lock_dir)
    if engines()[exp.engine.name].simulated:
        n = exp.gpus_per_trial * max(exp.search.parallel_trials, 1)
        return GpuPool([f"sim{i}" for i in range(n)])
    return GpuPool.from_machine(lock_dir=lock_dir)


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
    secrets.engine_env(exp)  # a missing fromEnv variable is bad input: before anything is written
    # a backend that can check its cluster before the first trial (OME) refuses a run
    # that could only fail or hang there, each problem one line with its fix
    check = getattr(backend, "preflight", None)
    problems = check(exp) if check is not None else []
    if problems:
        raise UserError(problems, summary=f"{exp.name}: the cluster is not ready for "
                        "this experiment")
    cancel = threading.Event()
    with journal.open_run(options.runs_root, exp, fresh=options.fresh) as run:
        owner = f"{exp.name}/{run.run_id}"
        # what killed runners of this experiment left behind (this run's or earlier runs',
        # e.g. before --fresh or an edit); engines of live runners are never touched
        reap_prefix = f"{exp.name}/" if backend.records_runner else owner
        for leftover in backend.reap(reap_prefix):
            run.note(f"cleaned up {leftover}")
        finished: dict[str, TrialResult] = dict(run.state.finished)
        resumed = sum(not r.reused_from for r in finished.values())
        searcher = make_searcher(exp, plan, max_trials=options.max_trials)
        if fallback := model_fallback(exp):
            run.note(f"search.method model: {fallback}")
        # measured results of the same trial ids, from the reports in the checkout
        store = ResultStore() if options.fresh else ResultStore.scan(
            options.reports_root, options.report_trust, host=provenance.host_facts())
        for refused in store.refused:
            run.note(f"not reused: {refused}")
        # related experiments' measurements (same model and hardware, this host) seed the
        # model search's calibration or the Bayesian sampler's history: runner/search/warm.py
        for line in getattr(searcher, "warm_start", lambda _store: [])(store):
            run.note(line)
        for result in store.take(exp, plan.trials, finished):
            run.trial_finished(result)
            finished[result.trial_id] = result
        for result in finished.values():  # every search method learns them before proposing
            searcher.tell(result)
        for trial in run.state.half_done(exp):  # started by a runner that died: run again
            searcher.rerun(trial)
        pool = _gpu_pool(exp, options)
        cpu_pool = _cpu_pool(exp)
        cpus_of: dict[str, tuple[int, ...]] = {}  # trial id -> its cores, while it runs
        progress = Progress(exp, plan, quiet=options.quiet, already=len(finished))
        parallel = max(exp.search.parallel_trials, 1)
        workers = (loadgen.generator_for(exp).pool(parallel, run.dir)
                   if options.load_generator == "worker" else None)
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

        # the genai-bench workers serve the search and the confirmation phase, then stop;
        # the backend then deletes what it shared between trials (OME's runtime)
        with _closing(workers), _closing(getattr(backend, "close", None)):
            pending: dict[Future, Trial] = {}
            with _Signals(cancel), progress, ThreadPoolExecutor(parallel) as executor, \
                    _StopOnError(cancel, ctx):
                while not cancel.is_set():
                    out_of_time = deadline is not None and time.monotonic() >= deadline
                    while len(pending) < parallel and not out_of_time and not searcher.done:
                        trial = searcher.ask()
                        if trial is None:  # nothing to propose until a pending result comes back
                            break
                        reused = store.lookup(exp, trial)  # a sampled point measured before
                        if reused is not None:
                            run.trial_finished(reused)
                            finished[reused.trial_id] = reused
                            searcher.tell(reused)
                            continue
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
            if (note := getattr(searcher, "error_note", None)) and (line := note()):
                run.note(line)  # the model's prediction error per measured trial
            for line in getattr(searcher, "memory_notes", list)():
                run.note(line)  # points the model search never started, and why
            # A cap given for this invocation only (--max-trials) pauses the run: like any
            # budget (journal._BUDGET_FIELDS), raising it resumes the same run.
            paused = (
                options.max_trials is not None
                and searcher.stop_reason == "max_trials"
                and not (exp.search.max_trials and exp.search.max_trials <= options.max_trials)
            )
            confirmation = None
            # every result reused from reports: nothing is measured, not even a confirmation
            measured_here = any(not r.reused_from for r in finished.values())
            if not cancel.is_set() and not paused and measured_here:
                with _Signals(cancel):
                    confirmation = _confirm(ctx, pool, run, finished, cancel, deadline)
        interrupted = cancel.is_set()
        ranking = rankings.ranking(finished.values(), exp)  # the one ranking every report formats
        results, best = ranking.trials, ranking.best
        simulated = engines()[exp.engine.name].simulated
        report_dir = None
        reused = sum(bool(r.reused_from) for r in results)
        if results and reused == len(results):  # nothing new: the report may exist already
            ids = {r.trial_id for r in results}
            report_dir = store.current_report(exp, experiment_sha256(exp), ids)
        if results and report_dir is None:
            report_dir = write_report(
                options.reports_root / exp.name / run.run_id, exp, results,
                run_id=run.run_id, interrupted=interrupted, ranking=ranking,
                confirmation=confirmation.as_dict() if confirmation else None,
                search=getattr(searcher, "report_block", lambda: None)(),
            )
        if paused:
            run.note(f"stopped at --max-trials {options.max_trials}: run again to continue")
        # The loop also ends, uncancelled, while the search could go on: the time budget ran
        # out. Like the other budgets, that pauses the run; the next `tuneops run` resumes it.
        out_of_time = deadline is not None and not interrupted and not searcher.done
        if out_of_time:
            run.note(f"stopped at the time budget ({exp.search.time_budget_s:g}s): "
                      "run again to continue")
        if not interrupted and not paused and not out_of_time:
            run.finished()
        return RunSummary(
            experiment=exp.name, run_id=run.run_id, run_dir=run.dir, report_dir=report_dir,
            results=results, best=best, simulated=simulated, interrupted=interrupted,
            wall_s=time.monotonic() - t0, resumed=resumed, reused=reused, notes=run.notes,
            ties=ranking.tie_ids if len(ranking.ties) > 1 else [],
        )


class _StopOnError:
    """An error out of the loop (e.g. the journal cannot take another line: a full disk)
    cancels every trial and stops their engines before the pool waits for them."""

    def __init__(self, cancel: threading.Event, ctx: TrialContext) -> None:
        self.cancel, self.ctx = cancel, ctx

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type | None, *rest: object) -> None:
        if kind is not None:
            self.cancel.set()
            _stop_all(self.ctx)


def _confirm(ctx: TrialContext, pool: GpuPool, run, finished: dict[str, TrialResult],
             cancel: threading.Event, deadline: float | None):
    """The confirmation phase (runner.confirm), each re-measurement on a fresh engine and
    journaled, so an interrupted phase resumes where it stopped."""
    quiet = replace(ctx, on_attempt=lambda t, a, g: None)  # the trial stays finished

    def remeasure(prior: TrialResult) -> TrialResult:
        trial = Trial(prior.trial_id, prior.index, prior.params, prior.args)
        gpus = pool.acquire(ctx.exp.gpus_per_trial if pool.size else 0)
        try:
            return remeasure_trial(quiet, trial, prior)
        finally:
            pool.release(gpus)

    def stop() -> str | None:
        if cancel.is_set():
            return "interrupted"
        if deadline is not None and time.monotonic() >= deadline:
            return "time"
        return None

    summary = run_confirmation(ctx.exp, finished, remeasure, stop=stop,
                               on_result=run.trial_finished)
    if summary.measurements:
        run.note(f"confirmation: {summary.measurements} re-measurement(s) of "
                 f"{', '.join(summary.candidates)} in {summary.seconds:.0f}s; "
                 f"stopped: {summary.stopped_by}")
    return summary


@contextmanager
def _closing(closable: Any) -> Iterator[None]:
    """Close ``closable`` (something with ``close()``, or a close function) on the way out."""
    try:
        yield
    finally:
        if closable is not None:
            (closable.close if hasattr(closable, "close") else closable)()


def _stop_all(ctx: TrialContext) -> None:
    """Stop every running engine now; their trials then end as cancelled."""
    with ctx.lock:
        active = list(ctx.active.values())
    for deployment in active:
        try:
            ctx.backend.stop(deployment)
        except Exception:  # noqa: BLE001 - keep stopping the others
            pass
