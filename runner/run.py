"""Run an experiment: search proposes trials, workers run them, the journal remembers.

Written once over the narrow backend interface. The journal is the only state: a rerun
of the same experiment replays it, skips finished trials (by content-addressed id),
cleans up what a killed runner left and reruns half-done trials. SIGINT/SIGTERM stop every
engine and leave a resumable run.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path

from tuneops.renderers import ome
from tuneops.renderers.command import engine_command
from tuneops.renderers.docker import expand_host_paths, run_spec
from tuneops.runner import journal, score
from tuneops.runner.backends import BACKENDS
from tuneops.runner.backends.base import PORT_PLACEHOLDER, Backend, Launch
from tuneops.runner.bench import local_path
from tuneops.runner.confirm import run_confirmation
from tuneops.runner.gpus import GpuPool
from tuneops.runner.progress import Progress
from tuneops.runner.report import write_report
from tuneops.runner.results import CANCELLED, COMPLETED, TrialResult
from tuneops.runner.search import make_searcher
from tuneops.runner.trial import TrialContext, run_trial
from tuneops.runner.trial import remeasure as remeasure_trial

from tuneops.errors import Diagnostic, UserError
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
    ties: list[str] = field(default_factory=list)  # trials the best cannot be told apart from

    def describe(self) -> str:
        done = sum(r.status == COMPLETED for r in self.results)
        lines = [
            f"{self.experiment}: {len(self.results)} trial(s), {done} completed"
            + (f", {self.resumed} from an earlier run" if self.resumed else "")
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
        if self.interrupted:
            lines.append(f"interrupted: run `tuneops run` again to resume ({self.run_dir})")
        if self.report_dir:
            lines.append(f"report: {self.report_dir / 'report.md'}")
        return "\n".join(lines + self.notes)


def _launch_builder(exp: Experiment, backend_name: str, owner: str):
    engine = engines()[exp.engine.name]

    if backend_name == "local":  # a model file next to the experiment or in the repo
        model = replace(exp.model, id=local_path(exp, exp.model.id))
        exp = replace(exp, model=model)

    def build(trial: Trial, gpus: tuple[str, ...], log_dir: Path) -> Launch:
        # The simulator's GPUs are modelled, not real: they only pace parallel trials.
        real_gpus = () if engine.simulated else gpus
        common = dict(
            trial_id=trial.id, owner=owner, env=dict(exp.engine.env), gpus=real_gpus,
            health_path=engine.health_path, log_dir=log_dir,
        )
        if backend_name == "ome":  # the objects to apply, by kind; the shared ones once per run
            objects = [ome.inference_service(exp, trial), *ome.shared_manifests(exp).values()]
            service = objects[0]["spec"]["engine"]["runner"]
            return Launch(command=list(service["command"]), container_port=ome.PORT,
                          ome={m["kind"]: m for m in objects}, **common)
        if backend_name == "docker":
            # manifests keep `~` and relative paths; they are made absolute at run time
            spec = expand_host_paths(run_spec(exp, trial), resolve=lambda p: local_path(exp, p))
            return Launch(command=list(spec["command"]), container_port=engine.default_port,
                          docker=spec, **common)
        argv = engine_command(exp, trial.args, host="127.0.0.1", port=PORT_PLACEHOLDER, local=True)
        if argv and argv[0] == "python3":  # our own launchers: the interpreter tuneops runs in
            argv[0] = sys.executable
        return Launch(command=argv, container_port=engine.default_port, **common)

    return build


def _backend_options(exp: Experiment) -> dict:
    """Constructor arguments a backend needs from the experiment (OME: where to reap)."""
    if exp.deployment.mode == "ome":
        return {"namespaces": (exp.deployment.ome.namespace,)}
    return {}


def _gpu_pool(exp: Experiment, options: RunOptions) -> GpuPool:
    """The GPUs this machine hands to trials: none when the cluster schedules them (OME) or
    trials need none (CPU engines); numbered stand-ins for the simulator, which only models
    them but still paces parallel trials by them."""
    if exp.deployment.mode == "ome" or exp.gpus_per_trial == 0:
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
    backend_name = exp.deployment.mode
    if options.backend is None and backend_name not in BACKENDS:
        raise UserError([Diagnostic(
            exp.source_file, 0, 0, "deployment.mode",
            f"`tuneops run` cannot run mode {backend_name!r} trials yet "
            f"(it runs: {', '.join(sorted(BACKENDS))})",
            hint=f"`tuneops render` writes the manifests to apply: manifests/{exp.name}/",
        )])
    backend = options.backend or BACKENDS[backend_name](**_backend_options(exp))
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
        progress = Progress(exp, plan, quiet=options.quiet, already=resumed)
        ctx = TrialContext(
            exp=exp, backend=backend, owner=owner, run_dir=run.dir,
            build_launch=_launch_builder(exp, backend_name, owner), cancel=cancel,
            on_phase=progress.phase,
            on_attempt=lambda t, a, g: run.trial_started(t, attempt=a, gpus=g, owner=owner),
        )
        deadline = t0 + exp.search.time_budget_s if exp.search.time_budget_s else None
        parallel = max(exp.search.parallel_trials, 1)

        def work(trial: Trial) -> TrialResult:
            gpus = pool.acquire(exp.gpus_per_trial if pool.size else 0)
            try:
                return run_trial(ctx, trial, gpus)
            finally:
                pool.release(gpus)

        pending: dict[Future, Trial] = {}
        with _Signals(cancel), progress, ThreadPoolExecutor(parallel) as executor:
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
        # A cap given for this invocation only (--max-trials) pauses the run: like any
        # budget (journal._BUDGET_FIELDS), raising it resumes the same run.
        paused = (
            options.max_trials is not None
            and searcher.stop_reason == "max_trials"
            and not (exp.search.max_trials and exp.search.max_trials <= options.max_trials)
        )
        confirmation = None
        if not cancel.is_set() and not paused:
            with _Signals(cancel):
                confirmation = _confirm(ctx, pool, run, finished, cancel, deadline)
        interrupted = cancel.is_set()
        ranking = score.ranking(finished.values(), exp)  # the one ranking every report formats
        results, best = ranking.trials, ranking.best
        simulated = engines()[exp.engine.name].simulated
        report_dir = None
        if results:
            report_dir = write_report(
                options.reports_root / exp.name / run.run_id, exp, results,
                run_id=run.run_id, interrupted=interrupted, ranking=ranking,
                confirmation=confirmation.as_dict() if confirmation else None,
            )
        if paused:
            run.note(f"stopped at --max-trials {options.max_trials}: run again to continue")
        if not interrupted and not paused:
            run.finished()
        return RunSummary(
            experiment=exp.name, run_id=run.run_id, run_dir=run.dir, report_dir=report_dir,
            results=results, best=best, simulated=simulated, interrupted=interrupted,
            wall_s=time.monotonic() - t0, resumed=resumed, notes=run.notes,
            ties=ranking.tie_ids if len(ranking.ties) > 1 else [],
        )


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


def _stop_all(ctx: TrialContext) -> None:
    """Stop every running engine now; their trials then end as cancelled."""
    with ctx.lock:
        active = list(ctx.active.values())
    for deployment in active:
        try:
            ctx.backend.stop(deployment)
        except Exception:  # noqa: BLE001 - keep stopping the others
            pass
