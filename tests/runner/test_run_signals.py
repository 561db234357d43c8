"""Stopping a run from outside: SIGTERM (what Ctrl-C and CI cancellation send) and kill -9.

`tuneops run` runs as a real subprocess against the real simulator and genai-bench. What
is left running is read from /proc through a marker in the runner's environment, which
every engine and genai-bench it starts inherits: nothing is asked of the backend under test.
"""

from __future__ import annotations

import os
import signal
import time
import uuid

import pytest
from tuneops.runner.results import COMPLETED

from tests import e2e_helpers as h
from tuneops.errors import EXIT_INTERRUPTED
from tuneops.plan import make_plan

pytestmark = [pytest.mark.genai_bench, pytest.mark.slow]


@pytest.fixture
def runtime(tmp_path):
    """Pid files and port locks of these runs, shared by a run and its rerun."""
    return {"TUNEOPS_RUNTIME_DIR": str(tmp_path / "runtime")}


@pytest.fixture
def markers():
    made: list[str] = []

    def new() -> str:
        made.append(uuid.uuid4().hex)
        return made[-1]

    yield new
    for marker in made:
        h.kill_marked(marker)


def test_sigterm_stops_engine_and_benchmark_then_rerun_resumes(tmp_path, runtime, markers):
    exp_path = h.write_experiment(tmp_path, "sigterm", parameters={"max-running-requests": [16]})
    [trial] = make_plan(h.load(exp_path)).trials
    cli = h.Cli(exp_path, tmp_path, env=runtime, marker=markers())
    try:
        h.wait_for(lambda: f"{trial.id} benchmarking" in cli.stderr(), 60, "benchmarking")
        running = h.wait_for(
            lambda: (lambda ps: ps if any(p.is_genai_bench for p in ps) else None)(
                h.marked(cli.marker)),
            30, "genai-bench to start")
        [engine] = [p for p in running if p.is_engine]
        assert engine.port() is not None
        sent = time.monotonic()
        cli.proc.send_signal(signal.SIGTERM)
        rc, out = cli.wait(timeout_s=60)
        took = time.monotonic() - sent
    finally:
        cli.kill()
    assert rc == EXIT_INTERRUPTED, (rc, out, cli.stderr())
    assert "interrupted" in out
    print(f"runner exited {took:.1f}s after SIGTERM")
    left = h.marked(cli.marker)
    assert not left, f"left running after SIGTERM: {[p.cmdline for p in left]}"
    assert not h.alive(engine.pid)
    port = str(engine.port())
    assert not h.with_args("tuneops.engines.sim", "--port", port), "engine on the port"

    [run_dir] = h.run_dirs(tmp_path / "runs", "sigterm")
    assert not h.events(run_dir, "run_finished")
    assert not h.events(run_dir, "trial_finished"), "a cancelled trial is not a result"

    rerun = h.Cli(exp_path, tmp_path, env=runtime, marker=markers())
    rc, out = rerun.wait()
    assert rc == 0, rerun.stderr()
    assert h.run_dirs(tmp_path / "runs", "sigterm") == [run_dir], "resumed the same run"
    [finished] = h.events(run_dir, "trial_finished")
    assert finished["result"]["trial_id"] == trial.id
    assert finished["result"]["status"] == COMPLETED
    assert h.events(run_dir, "run_finished")
    [report_dir] = (tmp_path / "reports" / "sigterm").iterdir()
    doc = h.check_report(report_dir)
    assert [t["status"] for t in doc["trials"]] == [COMPLETED]
    assert not h.marked(rerun.marker)


def test_kill9_loses_no_trial_and_the_orphan_dies_with_its_runner(tmp_path, runtime, markers):
    exp_path = h.write_experiment(tmp_path, "killed")
    first, second = make_plan(h.load(exp_path)).trials
    cli = h.Cli(exp_path, tmp_path, env=runtime, marker=markers())
    try:
        # Kill once the first trial is journaled and the second's engine is up (its pid
        # file written: start() returned), so the killed runner leaves an engine behind.
        h.wait_for(lambda: f"{second.id} waiting for health" in cli.stderr(), 120,
                   "the second trial's engine to start")
        [orphan] = h.engines(cli.marker)
        os.kill(cli.proc.pid, signal.SIGKILL)
        cli.wait(timeout_s=10)
    finally:
        cli.kill()
    [run_dir] = h.run_dirs(tmp_path / "runs", "killed")
    finished = [e["result"] for e in h.events(run_dir, "trial_finished")]
    assert [(r["trial_id"], r["status"]) for r in finished] == [(first.id, COMPLETED)]
    # the kernel's parent-death signal (deployments/common/engine_lifetime.py): no reap needed
    h.wait_for(lambda: not h.alive(orphan.pid), 10, "the orphaned engine to die with its runner")

    rerun = h.Cli(exp_path, tmp_path, env=runtime, marker=markers())
    try:
        rc, out = rerun.wait()
    finally:
        rerun.kill()
    assert rc == 0, rerun.stderr()
    assert "1 from an earlier run" in out
    assert h.run_dirs(tmp_path / "runs", "killed") == [run_dir]
    finished = [e["result"] for e in h.events(run_dir, "trial_finished")]
    assert [r["trial_id"] for r in finished] == [first.id, second.id], "first trial rerun?"
    started = [e["trial_id"] for e in h.events(run_dir, "trial_started")]
    assert started.count(first.id) == 1 and started.count(second.id) == 2
    [report_dir] = (tmp_path / "reports" / "killed").iterdir()
    doc = h.check_report(report_dir)
    assert sorted((t["trial_id"], t["status"]) for t in doc["trials"]) == sorted(
        [(first.id, COMPLETED), (second.id, COMPLETED)])
    assert not h.marked(cli.marker) and not h.marked(rerun.marker)
