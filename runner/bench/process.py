"""Run genai-bench as a child in its own process group: killable on cancel, timeout, and
when the engine it measures goes away (a `watch` callback says so: genai-bench would
otherwise run on against a dead port and record errors as measurements).

`cpus` pins genai-bench (and what it spawns) to a CPU set, disjoint from the engine's on
CPU engines, so the load generator does not steal the engine's cores."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from tuneops.deployments.common.cpus import pin_to
from tuneops.runner.bench import worker
from tuneops.runner.bench.command import (
    LOG_FILE,
    RESULTS_FOLDER,
    bench_env,
    build_command,
    timeout_for,
)
from tuneops.runner.bench.parse import BenchOutcome, parse_results
from tuneops.runner.bench.worker import WorkerPool

from tuneops.metrics import RequestSlo
from tuneops.spec import Experiment


def stop_reason(cancel: threading.Event | None, watch: Callable[[], str | None] | None,
                deadline: float) -> str:
    """Why a running benchmark must stop now: "cancelled", "engine died: <what the watch
    said>", "timeout", or "" to go on (the engine is watched first, so a cancel that
    follows an engine's death still says cancelled, as the run was asked)."""
    gone = watch() if watch is not None else None
    if cancel is not None and cancel.is_set():
        return "cancelled"
    if gone:
        return f"engine died: {gone}"
    if time.monotonic() >= deadline:
        return "timeout"
    return ""


class BenchProcess:
    """A running genai-bench in its own process group, so stopping it stops its children."""

    def __init__(self, cmd: list[str], out_dir: str | os.PathLike,
                 env: dict[str, str] | None = None, cpus: Sequence[int] = ()) -> None:
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.out_dir / LOG_FILE
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in wait()
        self._log.write(("$ " + " ".join(cmd) + "\n").encode())
        self._log.flush()
        self.started = time.monotonic()
        try:
            self.proc = subprocess.Popen(
                cmd, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=bench_env() if env is None else env, cwd=self.out_dir,
                start_new_session=True, preexec_fn=pin_to(cpus),
            )
        except BaseException:
            self._log.close()
            raise

    def terminate(self, grace_s: float = 5.0) -> None:
        """SIGTERM the whole group, then SIGKILL what is left after `grace_s`. Idempotent."""
        if self.proc.poll() is not None:
            return
        for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.proc.wait(wait_s)
                return
            except subprocess.TimeoutExpired:
                continue

    def wait(self, timeout_s: float, cancel: threading.Event | None = None,
             watch: Callable[[], str | None] | None = None) -> tuple[int, str]:
        """Wait for exit; returns (returncode, "" | "cancelled" | "timeout" | "engine died:
        <what the watch said>")."""
        deadline = self.started + timeout_s
        why = ""
        try:
            while self.proc.poll() is None:
                why = stop_reason(cancel, watch, deadline)
                if why:
                    self.terminate()
                    break
                if cancel is not None:
                    cancel.wait(0.25)
                else:
                    time.sleep(0.25)
            rc = self.proc.wait()
        finally:
            self._log.close()
        return rc, why


def log_tail(path: str | os.PathLike, lines: int = 15) -> str:
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])


def run_benchmark(
    cmd: list[str],
    out_dir: str | os.PathLike,
    timeout_s: float,
    env: dict[str, str] | None = None,
    *,
    cancel: threading.Event | None = None,
    gpu_count: int = 1,
    expected: list[tuple[str, int]] | None = None,
    watch: Callable[[], str | None] | None = None,
    cpus: Sequence[int] = (),
    request_slos: Sequence[RequestSlo] = (),
) -> BenchOutcome:
    """Run genai-bench to completion (or timeout / cancel / engine death) and parse what it
    wrote. A run the engine died during is never ok, whatever genai-bench recorded."""
    t0 = time.monotonic()
    try:
        proc = BenchProcess(cmd, out_dir, env, cpus)
    except OSError as e:
        return BenchOutcome(ok=False, reason=f"could not start genai-bench: {e}")
    rc, why = proc.wait(timeout_s, cancel, watch)
    folder = Path(out_dir) / RESULTS_FOLDER
    outcome = parse_results(folder, gpu_count=gpu_count, expected=expected,
                            request_slos=request_slos)
    outcome.returncode = rc
    outcome.log_path = str(proc.log_path)
    outcome.duration_s = round(time.monotonic() - t0, 3)
    if why == "cancelled":
        outcome.ok, outcome.cancelled, outcome.reason = False, True, "benchmark cancelled"
    elif why.startswith("engine died"):
        outcome.ok, outcome.engine_died = False, True
        outcome.reason = f"{why} while genai-bench ran; genai-bench stopped"
    elif why == "timeout":
        outcome.ok, outcome.timed_out = False, True
        outcome.reason = f"genai-bench did not finish within {timeout_s:.0f}s"
    elif rc != 0 and (not outcome.ok or outcome.missing):
        tail = log_tail(proc.log_path)
        detail = outcome.reason or (
            "missing runs: " + ", ".join(outcome.missing) if outcome.missing else "")
        outcome.ok = False
        outcome.reason = f"genai-bench exited with {rc}" + (f"; {detail}" if detail else "") + (
            f"\n{tail}" if tail else "")
    return outcome


def run(
    exp: Experiment,
    base_url: str,
    out_dir: str | os.PathLike,
    *,
    gpu_count: int,
    cancel: threading.Event | None = None,
    genai_bench: str | None = None,
    timeout_s: float | None = None,
    watch: Callable[[], str | None] | None = None,
    cpus: Sequence[int] = (),
    workers: WorkerPool | None = None,
    prune: Callable[[str, int, dict[str, float]], bool] | None = None,
) -> BenchOutcome:
    """Benchmark one deployed trial: build the command, run it, parse the results.

    The one place the load generator is chosen: with `workers` (a run's pool of long-lived
    genai-bench workers) the trial is measured there, level by level (early stop, goodput
    bisection); without, by one `genai-bench benchmark` process that runs every listed
    level (a concurrency search then measures only its low and high ends; no pruning).
    """
    if workers is not None:
        return worker.run(workers, exp, base_url, out_dir, gpu_count=gpu_count, cancel=cancel,
                          prune=prune, watch=watch, cpus=cpus)
    cmd = build_command(exp, base_url, out_dir, gpu_count=gpu_count, genai_bench=genai_bench)
    expected = [(s, int(c)) for s in exp.benchmark.traffic_scenarios
                for c in exp.benchmark.concurrency]
    return run_benchmark(cmd, out_dir, timeout_s or timeout_for(exp), bench_env(),
                         cancel=cancel, gpu_count=gpu_count, expected=expected, watch=watch,
                         cpus=cpus, request_slos=exp.request_slos)



