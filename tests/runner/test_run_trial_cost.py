"""A whole run through the worker: one genai-bench worker serves every trial, levels above a
lost SLO reach results.json as not run, goodput bisection gives an objective, and the CLI
path stays available."""

from __future__ import annotations

import os
import signal
import threading

import pytest
from tuneops.runner.results import COMPLETED
from tuneops.runner.run import RunOptions, run_experiment

from tests import e2e_helpers as h
from tests.helpers.polling import wait_until

pytestmark = [pytest.mark.genai_bench, pytest.mark.slow]


@pytest.fixture
def runtime(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNEOPS_RUNTIME_DIR", str(tmp_path / "runtime"))


def run(tmp_path, name, _options=None, **sections):
    exp = h.load(h.write_experiment(tmp_path, name, **sections))
    return run_experiment(exp, RunOptions(runs_root=tmp_path / "runs",
                                          reports_root=tmp_path / "reports", quiet=True,
                                          fresh=True, **(_options or {})))


def test_early_stop_reaches_the_report_and_one_worker_serves_the_run(tmp_path, runtime):
    s = run(tmp_path, "early", benchmark={"concurrency": [4, 1, 2], "maxRequestsPerRun": 4},
            slos=[{"metric": "ttft.p99", "max": 0.001}])
    assert [r.status for r in s.results] == [COMPLETED, COMPLETED]
    doc = h.check_report(s.report_dir)
    for t in doc["trials"]:
        assert list(t["metrics"]["D(32,32)"]) == ["1"]
        assert t["not_run"] == ["D(32,32)@2: not run: SLO lost at 1 (ttft.p99)",
                                "D(32,32)@4: not run: SLO lost at 1 (ttft.p99)"]
        assert t["durations"]["warmup_s"] >= 0
    md = (s.report_dir / "report.md").read_text()
    assert md.count("- D(32,32)@4: not run: SLO lost at 1 (ttft.p99)") == 2  # per trial
    logs = sorted((s.run_dir).glob("genai-bench-worker.log"))
    assert len(logs) == 1  # the run's one worker
    begun = [line for line in (s.run_dir / "trials").rglob("genai-bench.log")
             for line in line.read_text().splitlines() if "driven by the tuneops worker" in line]
    assert len(begun) == 2
    assert len({line.split("(pid ")[1].split(")")[0] for line in begun}) == 1


def test_bisected_goodput_is_an_objective(tmp_path, runtime):
    s = run(tmp_path, "goodput",
            parameters={"max-running-requests": [2]},
            benchmark={"concurrency": {"search": "bisect", "low": 1, "high": 4},
                       "maxRequestsPerRun": 4},
            objective={"metric": "max_slo_concurrency", "direction": "maximize"},
            slos=[{"metric": "error_rate", "max": 0.0}])
    [r] = s.results
    assert r.status == COMPLETED, r.reason
    # no latency SLO can fail here: the search ends at high after two levels
    assert sorted(r.metrics["D(32,32)"]) == [1, 4]
    assert r.score.objective == 4.0 and r.score.feasible


def test_the_cli_path_measures_every_level(tmp_path, runtime):
    s = run(tmp_path, "cli", parameters={"max-running-requests": [8]},
            benchmark={"concurrency": [1, 2], "maxRequestsPerRun": 3},
            slos=[{"metric": "ttft.p99", "max": 0.001}], _options={"load_generator": "cli"})
    [r] = s.results
    assert r.status == COMPLETED, r.reason
    assert sorted(r.metrics["D(32,32)"]) == [1, 2] and r.not_run == []
    assert not list(s.run_dir.glob("genai-bench-worker.log"))


def test_a_worker_crash_mid_trial_is_retried_on_a_fresh_worker(tmp_path, runtime, monkeypatch):
    marker = f"crash-{tmp_path.name}"
    monkeypatch.setenv(h.MARKER, marker)  # the worker inherits it: find it among processes
    killed = []

    def kill_the_worker_once_it_measures():
        def killed_once_measuring() -> bool:
            logs = list((tmp_path / "runs").rglob("attempt-1/genai-bench/genai-bench.log"))
            if logs and "driven by the tuneops worker" in logs[0].read_text():
                for p in h.marked(marker):
                    if "tuneops.runner.bench.worker_main" in p.cmdline:
                        os.kill(p.pid, signal.SIGKILL)
                        killed.append(p.pid)
            return bool(killed)

        try:  # the run's own asserts say what went wrong if it never measured
            wait_until(killed_once_measuring, 120, 0.05, "the worker measuring")
        except AssertionError:
            pass

    killer = threading.Thread(target=kill_the_worker_once_it_measures)
    killer.start()
    try:
        s = run(tmp_path, "crash", parameters={"max-running-requests": [8]},
                benchmark={"concurrency": [1], "maxRequestsPerRun": 30})
    finally:
        killer.join()
    [r] = s.results
    assert killed, "the test needs a worker killed mid-trial"
    assert r.status == COMPLETED and r.attempts == 2, (r.status, r.reason)
    assert not any(p.pid == killed[0] for p in h.marked(marker))
