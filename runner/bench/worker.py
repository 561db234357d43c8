"""The runner's side of the long-lived genai-bench worker (`worker_main`).

genai-bench's fixed cost (imports, gevent patching, tokenizer: seconds) is paid once per
worker, and a run keeps its workers for all its trials (`WorkerPool`: one per parallel
trial, started in the background as the pool is made, so the imports overlap the first
engine's start-up). A worker measures a trial level by level, so early stop and goodput
bisection (`levels`) decide between levels; genai-bench's result JSONs stay the source of
every number and are parsed exactly as the CLI's (`parse_results`).

The worker's own failures are the runner's to handle, never the trial's fault:
- a hang (no reply within the level's time cap plus slack): the worker's process group is
  killed and the outcome is an infrastructure failure (`infra=True`, so the trial is
  retried, and ends failed_infra after the last retry); the pool starts a fresh worker;
- a crash (its pipe closes): the same;
- state leaking between trials: each trial gets a fresh locust Environment and runner, and
  `stats` reports live greenlets, sockets and fds so tests can prove none accumulate;
- a runner that dies without closing its pool: workers are started with Linux's
  parent-death signal (`worker_main.die_with_parent`). That signal follows the *thread*
  that started the worker, so a pool must live no longer than the thread that leases from
  it first (the run's main thread, or its trial threads, which outlive the run's trials).
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tuneops.deployments.common.cpus import available, pin_process
from tuneops.runner.bench import levels as lv
from tuneops.runner.bench.command import (
    LOG_FILE,
    RESULTS_FOLDER,
    RUN_SLACK_S,
    bench_env,
    build_command,
)
from tuneops.runner.bench.parse import BenchOutcome, parse_results, run_metrics
from tuneops.runner.bench.worker_main import PARENT_ENV

from tuneops.spec import Experiment

START_TIMEOUT_S = 180.0  # imports on a loaded 2-core machine
BEGIN_TIMEOUT_S = 600.0  # argv parsing, tokenizer (cached after the first), a large dataset
END_TIMEOUT_S = 120.0  # xlsx and plots when kept
WORKER_LOG = "genai-bench-worker.log"

WATCH_EVERY_S = 0.5  # how often the engine is probed while a worker measures it

class WorkerFailure(Exception):
    """The worker hung, crashed or was stopped; it has been killed."""

    def __init__(self, reason: str, *, cancelled: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.cancelled = cancelled


class BenchWorker:
    """One worker process, in its own process group; one request at a time."""

    def __init__(self, log_dir: str | os.PathLike, env: dict[str, str] | None = None) -> None:
        log_dir = Path(log_dir)
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / WORKER_LOG
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in kill()/close()
        self.started = time.monotonic()
        env = {**(bench_env() if env is None else env), PARENT_ENV: str(os.getpid())}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tuneops.runner.bench.worker_main"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
            env=env, start_new_session=True,
        )
        self._buf = b""
        self.ready: dict[str, Any] | None = None
        self.import_s: float | None = None

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_ready(self, timeout_s: float = START_TIMEOUT_S,
                   cancel: threading.Event | None = None) -> dict[str, Any]:
        if self.ready is None:
            self.ready = self._read(timeout_s, cancel, "start")
            self.import_s = self.ready.get("import_s")
        return self.ready

    def call(self, request: dict[str, Any], timeout_s: float,
             cancel: threading.Event | None = None) -> dict[str, Any]:
        """Send one request and wait for its reply; raises WorkerFailure (worker killed)."""
        self.wait_ready(cancel=cancel)
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write((json.dumps(request) + "\n").encode())
            self.proc.stdin.flush()
        except OSError as e:
            self.kill()
            raise WorkerFailure(f"genai-bench worker is gone ({e})") from e
        return self._read(timeout_s, cancel, request.get("op", "?"))

    def _read(self, timeout_s: float, cancel: threading.Event | None, what: str
              ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"\n" not in self._buf:
                if cancel is not None and cancel.is_set():
                    self.kill()
                    raise WorkerFailure("benchmark cancelled", cancelled=True)
                left = deadline - time.monotonic()
                if left <= 0:
                    self.kill()
                    raise WorkerFailure(
                        f"genai-bench worker did not answer {what!r} within {timeout_s:.0f}s "
                        "(killed; a fresh worker takes over)")
                if not sel.select(min(left, 0.25)):
                    continue
                chunk = os.read(fd, 65536)
                if not chunk:
                    rc = self.proc.wait()
                    self.kill()
                    raise WorkerFailure(
                        f"genai-bench worker exited with {rc} during {what!r} "
                        f"(see {self.log_path})")
                self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        try:
            return json.loads(line)
        except ValueError as e:
            self.kill()
            raise WorkerFailure(f"genai-bench worker sent garbage: {line[:200]!r}") from e

    def pin(self, cpus: Sequence[int]) -> None:
        """Run this trial's load on `cpus` (every thread of the worker; all usable CPUs when
        empty), disjoint from the engine's (deployments/common/cpus.py)."""
        pin_process(self.proc.pid, cpus or available())

    def kill(self) -> None:
        """Kill the whole process group now. Idempotent."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        self._close_files()

    def close(self, timeout_s: float = 10.0) -> None:
        """Ask the worker to exit; kill it if it does not."""
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write(b'{"op": "exit"}\n')
                self.proc.stdin.close()
                self.proc.wait(timeout_s)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.kill()

    def _close_files(self) -> None:
        for f in (self.proc.stdin, self.proc.stdout, self._log):
            try:
                if f is not None:
                    f.close()
            except OSError:
                pass


class WorkerPool:
    """Workers lent to trials, at most one trial per worker at a time; a worker that
    failed is replaced by a fresh one on the next lease."""

    def __init__(self, size: int, log_dir: str | os.PathLike, *, prestart: bool = True) -> None:
        self.size = max(int(size), 1)
        self.log_dir = Path(log_dir)
        self._idle: list[BenchWorker] = []
        self._all: list[BenchWorker] = []
        self._lock = threading.Lock()
        self.started = 0  # workers started over the pool's life (restarts show here)
        if prestart:
            self._idle.append(self._start())

    def _new(self) -> BenchWorker:
        """A fresh worker; a pool of another long-lived process overrides this
        (runner/loadgen/warm.py's warm AIPerf parents)."""
        return BenchWorker(self.log_dir)

    def _start(self) -> BenchWorker:
        w = self._new()
        self._all.append(w)
        self.started += 1
        return w

    @contextmanager
    def lease(self) -> Iterator[BenchWorker]:
        with self._lock:
            while self._idle and not self._idle[-1].alive:
                self._idle.pop().kill()
            w = self._idle.pop() if self._idle else self._start()
        try:
            yield w
        finally:
            with self._lock:
                if w.alive:
                    self._idle.append(w)
                else:
                    w.kill()
                    if w in self._all:
                        self._all.remove(w)

    def pgids(self) -> list[int]:
        """The live workers' process groups (each is its own session): their CPU time is
        the run's own, not another tenant's, when host load is measured."""
        with self._lock:
            return [w.proc.pid for w in self._all if w.alive]

    def close(self) -> None:
        with self._lock:
            workers, self._all, self._idle = list(self._all), [], []
        for w in workers:
            w.close()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def level_timeout(exp: Experiment) -> float:
    """A level may take its time cap; beyond that plus slack the worker is hung."""
    return exp.benchmark.max_time_per_run_min * 60.0 + RUN_SLACK_S


def run(
    pool: WorkerPool,
    exp: Experiment,
    base_url: str,
    out_dir: str | os.PathLike,
    *,
    gpu_count: int,
    cancel: threading.Event | None = None,
    level_timeout_s: float | None = None,
    prune: Callable[[str, int, dict[str, float]], bool] | None = None,
    watch: Callable[[], str | None] | None = None,
    cpus: Sequence[int] = (),
) -> BenchOutcome:
    """Benchmark one deployed trial through a worker: same argv, same result files.
    `level_timeout_s`: how long one level may go unanswered (default: its time cap plus
    slack) before the worker counts as hung. `prune(scenario, level, metrics)`: asked after
    each level; True stops the trial there (its other levels are recorded as not run).
    `watch()` says why the engine is gone (then the worker is stopped, as the CLI would
    be, and the outcome says the engine died); `cpus` pins the worker for this trial."""
    t0 = time.monotonic()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    argv = build_command(exp, base_url, out_dir, gpu_count=gpu_count, genai_bench="-")[2:]
    log_path = out_dir / LOG_FILE
    halt, died = _watching(cancel, watch)
    with pool.lease() as worker:
        worker.pin(cpus)
        try:
            measured, not_run, max_ok, error = _drive(
                worker, exp, argv, str(log_path), gpu_count, halt,
                level_timeout_s or level_timeout(exp), prune)
        except WorkerFailure as f:
            outcome = parse_results(out_dir / RESULTS_FOLDER, gpu_count=gpu_count,
                                    request_slos=exp.request_slos)
            outcome.ok = False
            outcome.log_path = str(log_path)
            outcome.duration_s = round(time.monotonic() - t0, 3)
            outcome.reason = f.reason
            outcome.cancelled = f.cancelled and not died
            outcome.infra = not f.cancelled
            if died:  # stopped because the engine went away: not the load generator's fault
                outcome.engine_died = True
                outcome.reason = (f"engine died: {died[0]} while genai-bench ran; "
                                  "genai-bench stopped")
            return outcome
        finally:
            halt.set()  # ends the watcher thread
    expected = [(s, c) for s, by_c in measured.items() for c in by_c]
    outcome = parse_results(out_dir / RESULTS_FOLDER, gpu_count=gpu_count, expected=expected,
                            request_slos=exp.request_slos)
    outcome.log_path = str(log_path)
    outcome.returncode = 0 if not error else 1
    outcome.duration_s = round(time.monotonic() - t0, 3)
    lv.annotate(outcome, not_run, max_ok)
    if error and (not outcome.ok or outcome.missing):
        outcome.ok = False
        outcome.reason = "; ".join(filter(None, [error, outcome.reason]))
    return outcome


def _watching(cancel: threading.Event | None, watch: Callable[[], str | None] | None
              ) -> tuple[threading.Event, list[str]]:
    """An event set on cancel or when `watch` reports the engine gone (its words in the
    list): what the worker's reads wait on, so a dead engine stops the measurement."""
    halt, died = threading.Event(), []

    def poll() -> None:
        while not halt.wait(WATCH_EVERY_S):
            if cancel is not None and cancel.is_set():
                halt.set()
            elif watch is not None and (why := watch()):
                died.append(why)
                halt.set()

    threading.Thread(target=poll, name="engine-watch", daemon=True).start()
    return halt, died


def _drive(
    worker: BenchWorker, exp: Experiment, argv: list[str], log_file: str, gpu_count: int,
    cancel: threading.Event | None, level_timeout_s: float,
    prune: Callable[[str, int, dict[str, float]], bool] | None = None,
) -> tuple[dict[str, dict[int, bool]], list[str], dict[str, int], str]:
    """Measure every scenario's levels the experiment asks for, deciding between levels.

    Returns (levels measured: held every SLO?, "scenario@level: not run: ..." notes,
    max_slo_concurrency per scenario under bisection, the first error)."""
    b = exp.benchmark
    reply = worker.call({"op": "begin", "argv": argv, "log_file": log_file},
                        BEGIN_TIMEOUT_S, cancel)
    if not reply.get("ok"):  # nothing was set up (the driver undoes a half begin)
        return {}, [], {}, f"genai-bench refused the trial: {reply.get('error')}"
    error = ""
    runs: dict[tuple[str, int], dict[str, Any]] = {}

    def measure(scenario: str, level: int) -> dict[str, float] | None:
        """Run one level; its metrics, or None (the first error is kept)."""
        nonlocal error
        r = worker.call({"op": "level", "scenario": scenario, "concurrency": level},
                        level_timeout_s, cancel)
        if r.get("ok") and r.get("file"):
            run_json = runs[scenario, level] = json.loads(Path(r["file"]).read_text())
            return run_metrics(run_json, gpu_count, exp.request_slos)[2]
        if not error:
            error = (f"{scenario}@{level}: " + (r.get("error") or "no request succeeded")
                     + (f" (see {r['debug_file']})" if r.get("debug_file") else ""))
        return None

    measured, not_run, max_ok = lv.walk(
        exp, measure, lambda scenario, level: lv.lost_slos(exp.slos, runs[scenario, level]),
        prune)
    levels_run = sorted({c for by_c in measured.values() for c in by_c})
    _end(worker, cancel, b.keep_genai_bench_artifacts, levels_run)
    return measured, not_run, max_ok, error


def _end(worker: BenchWorker, cancel: threading.Event | None, keep: bool,
         levels: list[int]) -> None:
    reply = worker.call({"op": "end", "keep_artifacts": keep, "levels": levels},
                        END_TIMEOUT_S, cancel)
    if not reply.get("ok"):
        # A trial the worker could not tear down may leave state behind: start afresh.
        worker.kill()
