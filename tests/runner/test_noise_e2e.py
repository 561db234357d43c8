"""Trustworthy numbers, end to end with real processes: CPU pinning, an engine killed in
the middle of a benchmark, and the confirmation phase on fresh engines.

The simulator and genai-bench run for real; the engine is killed with a real signal.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

from tuneops.deployments.common import health
from tuneops.deployments.common.backend import ConfigFailure, InfraFailure, Launch, TrialFailure
from tuneops.deployments.local.backend import LocalBackend
from tuneops.runner.bench.process import BenchProcess
from tuneops.runner.results import COMPLETED
from tuneops.runner.run import RunOptions, run_experiment, trial_launch
from tuneops.runner.trial import TrialContext, run_trial

from tests import e2e_helpers as h
from tuneops.plan import make_plan

PRINT_AFFINITY = "import os, time; print(sorted(os.sched_getaffinity(0)), flush=True); " \
                 "time.sleep(30)"
CPUS = sorted(os.sched_getaffinity(0))


def test_local_engine_runs_on_its_cpu_set(tmp_path):
    backend = LocalBackend(runtime_dir=tmp_path / "rt", grace_s=2)
    launch = Launch(trial_id="pin", owner="pin/test", command=[sys.executable, "-c",
                                                               PRINT_AFFINITY],
                    env={}, container_port=0, health_path="/health", gpus=(),
                    log_dir=tmp_path / "logs", cpus=(CPUS[0],))
    dep = backend.start(launch)
    try:
        h.wait_for(lambda: "]" in backend.logs(dep), 20, "the engine printed its affinity")
        assert backend.logs(dep).strip().splitlines()[0] == str([CPUS[0]])
    finally:
        backend.stop(dep)


def test_load_generator_runs_on_its_own_cpu_set(tmp_path):
    proc = BenchProcess([sys.executable, "-c", PRINT_AFFINITY.replace("time.sleep(30)", "")],
                        tmp_path, cpus=(CPUS[-1],))
    rc, why = proc.wait(30)
    assert (rc, why) == (0, "")
    assert proc.log_path.read_text().strip().splitlines()[-1] == str([CPUS[-1]])


def test_an_engine_dying_of_its_settings_is_a_config_failure():
    oom = "loading\nserving\nggml_backend_cpu_buffer_type_alloc_buffer: failed to allocate " \
          "buffer of size 1073741824\nterminate called after std::bad_alloc"
    assert isinstance(health.death_failure("engine exited with code -6", oom), ConfigFailure)
    assertion = "GGML_ASSERT(n_tokens <= n_batch) failed"
    assert isinstance(health.death_failure("engine exited with code -6", assertion),
                      ConfigFailure)
    killed = health.death_failure("engine exited with code -9", "serving\nrequest: POST")
    # killed from outside: the machine's doing, never the settings' (retried, not reused)
    assert type(killed) is InfraFailure and "while being measured" in killed.reason
    stopped = health.death_failure(
        "engine exited with code -9 while genai-bench ran; genai-bench stopped", "serving")
    assert type(stopped) is InfraFailure  # the code is read whatever follows it
    crashed = health.death_failure("engine exited with code 1", "serving\nrequest: POST")
    assert type(crashed) is TrialFailure  # a crash that names no cause


def test_killing_the_simulator_mid_benchmark_never_completes_the_trial(tmp_path, marker):
    """The engine dies while genai-bench runs: genai-bench is stopped and that attempt never
    completes. The simulator was killed from outside, not by its settings, so the attempt is
    an infrastructure failure (deployments/common/causes.py) and the trial is measured again
    on a fresh engine: what completes is the second attempt's measurement alone."""
    path = h.write_experiment(
        tmp_path, "killed-mid-bench", parameters={"max-running-requests": [8]},
        engine={"args": {"gpu-type": "H100", "time-scale": 1.0}},
        # ~1.5 s a request at time-scale 1: the first attempt is killed as soon as its
        # genai-bench exists, long before its 4 requests end; the second then completes in
        # seconds instead of running out the 1-minute maxTimePerRun
        benchmark={"trafficScenarios": ["D(32,512)"], "concurrency": [1],
                   "maxRequestsPerRun": 4})
    exp = h.load(path)
    trial = make_plan(exp).trials[0]
    killed = threading.Event()
    ctx: TrialContext

    def on_phase(trial_id: str, phase: str) -> None:
        if phase.startswith("benchmarking") and not killed.is_set():
            def kill() -> None:
                # genai-bench is running requests once its log says so
                h.wait_for(lambda: any(p.is_genai_bench for p in h.marked(marker)), 60,
                           "genai-bench started")
                pid = ctx.active[trial_id].handle.proc.pid
                killed.set()
                os.killpg(pid, signal.SIGKILL)
            threading.Thread(target=kill, daemon=True).start()

    ctx = TrialContext(exp=exp, backend=LocalBackend(grace_s=2), owner="killed/run",
                       run_dir=tmp_path / "run",
                       build_launch=lambda trial, gpus, log_dir: trial_launch(
                           exp, trial, owner="killed/run", gpus=gpus, log_dir=log_dir),
                       cancel=threading.Event(), on_phase=on_phase)
    result = run_trial(ctx, trial, ())
    assert killed.is_set()
    assert result.status == COMPLETED and result.attempts == 2, result.reason
    assert h.marked(marker) == []  # genai-bench was stopped with the engine gone
    log = Path(result.log_dir) / "genai-bench" / "genai-bench.log"
    assert log.is_file()


def test_confirmation_remeasures_the_top_trials_in_alternation_on_fresh_engines(
        tmp_path, marker):
    path = h.write_experiment(
        tmp_path, "confirm", parameters={"max-running-requests": [8, 64]},
        benchmark={"maxRequestsPerRun": 20},
        search={"confirm": {"topK": 2, "rounds": 1}})
    exp = h.load(path)
    summary = run_experiment(exp, RunOptions(runs_root=tmp_path / "runs",
                                             reports_root=tmp_path / "reports",
                                             quiet=True, fresh=True))
    finished = [e["trial_id"] for e in h.events(summary.run_dir, "trial_finished")]
    ids = [t.id for t in make_plan(exp).trials]
    assert finished[:2] == ids  # the search, in grid order
    assert sorted(finished[2:]) == sorted(ids) and len(finished) == 4  # A B again, once each
    for r in summary.results:
        assert r.status == COMPLETED and r.measurements == 2 and r.confirmations == 1
        # each measurement on its own engine: one attempt folder with an engine log each
        attempts = sorted(Path(r.log_dir).parent.glob("attempt-*"))
        assert len(attempts) == 2 and all((a / "engine.log").is_file() for a in attempts)
        assert r.score.objective_n == 2 and r.score.objective_low is not None
    doc = h.results_json(summary.report_dir)
    assert doc["confirmation"]["measurements"] == 2
    assert doc["confirmation"]["stopped_by"] in ("separated", "rounds")
    assert doc["decision"]["tie_set"][0] == doc["best_trial_id"]
    md = (Path(summary.report_dir) / "report.md").read_text()
    assert "**Confirmation:** 2 re-measurement(s) of the top 2 candidates in alternation" in md
    assert h.marked(marker) == []


def test_genai_bench_is_stopped_when_the_watch_says_the_engine_is_gone(tmp_path):
    calls = []

    def watch():
        calls.append(1)
        return "engine exited with code -9" if len(calls) >= 3 else None

    proc = BenchProcess([sys.executable, "-c", "import time; time.sleep(60)"], tmp_path)
    rc, why = proc.wait(120, watch=watch)
    assert why == "engine died: engine exited with code -9"
    assert proc.proc.poll() is not None and rc != 0  # stopped, not waited out


def test_engine_watch_tells_a_refused_port_from_a_busy_engine(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens once closed
    watch = health.EngineWatch(f"http://127.0.0.1:{port}/health", misses=2, every_s=0.0)
    assert watch() is None  # one refusal is not yet gone
    assert "connection refused" in watch()
    exited = health.EngineWatch("http://127.0.0.1:9/health", exit_code=lambda: 137)
    assert exited() == "engine exited with code 137"


def test_a_reused_trial_in_the_confirmation_race_merges_its_stored_samples(tmp_path):
    """mrr=8 comes from a committed report (3 samples); mrr=64 is measured here once. The
    race re-measures both on fresh engines: 8's new measurement joins its 3 stored ones,
    and from then on it counts as measured in this run."""
    from tuneops.runner.report import write_report
    from tuneops.runner.results import TrialResult
    from tuneops.runner.trial import summarize

    old = h.load(h.write_experiment(tmp_path / "a", "old", parameters={
        "max-running-requests": [8]}))
    [t8] = make_plan(old).trials
    stored = TrialResult(t8.id, t8.index, t8.params, t8.args, COMPLETED, simulated=True,
                         measurements=3, samples={"D(32,32)": {2: [
                             {"output_throughput_per_gpu": v, "error_rate": 0.0}
                             for v in (1.0, 2.0, 3.0)]}})
    summarize(old, stored)
    write_report(tmp_path / "reports" / "old" / "20261130T000000Z-a", old, [stored],
                 run_id="20261130T000000Z-a", manifests_root=None)

    new = h.load(h.write_experiment(tmp_path / "b", "new", search={
        "confirm": {"topK": 2, "rounds": 1}}))
    summary = run_experiment(new, RunOptions(runs_root=tmp_path / "runs",
                                             reports_root=tmp_path / "reports", quiet=True))
    r8 = next(r for r in summary.results if r.trial_id == t8.id)
    assert r8.status == COMPLETED and r8.confirmations == 1
    assert r8.measurements == 4 and len(r8.samples["D(32,32)"][2]) == 4
    assert [s["output_throughput_per_gpu"] for s in r8.samples["D(32,32)"][2][:3]] == [1, 2, 3]
    assert r8.reused_from == ""  # measured in this run now
    assert r8.score.objective_n == 4


def test_fresh_engine_per_repeat_starts_an_engine_for_every_repeat(tmp_path, marker):
    """Three repeats, three engines: one attempt folder (with its engine's log) a repeat,
    their samples merged into one result whose interval spans the engine starts."""
    path = h.write_experiment(
        tmp_path, "fresh", parameters={"max-running-requests": [8]},
        benchmark={"repeats": 3, "freshEnginePerRepeat": True})
    exp = h.load(path)
    summary = run_experiment(exp, RunOptions(runs_root=tmp_path / "runs",
                                             reports_root=tmp_path / "reports",
                                             quiet=True, fresh=True))
    [r] = summary.results
    assert r.status == COMPLETED, r.reason
    assert r.measurements == 3 and r.confirmations == 0
    assert len(r.samples["D(32,32)"][2]) == 3 and len(r.host_load) == 3
    attempts = sorted(Path(r.log_dir).parent.glob("attempt-*"))
    assert len(attempts) == 3 and all((a / "engine.log").is_file() for a in attempts)
    assert r.score.objective_n == 3 and r.score.objective_low is not None
    md = (Path(summary.report_dir) / "report.md").read_text()
    assert "measurements per point: 3, each on a fresh engine" in md
    assert h.marked(marker) == []
