"""The warm AIPerf parent (runner/loadgen/aiperf_warm.py) and the runner's side of it
(runner/loadgen/warm.py), with a stand-in for AIPerf's CLI entry point
(tests/helpers/fake_aiperf.py): each run is a fresh forked process in its own session, in
its folder, with its log, exit code and CPU set; a run is stopped by its process group and
the parent lives on; a parent that dies or lies is the runner's failure, and a point then
falls back to the CLI. No AIPerf is started here (scripts/bench_aiperf_warm.py measures
the real one)."""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path

import pytest
from tuneops.runner.bench.process import BenchProcess
from tuneops.runner.loadgen import rate
from tuneops.runner.loadgen.warm import WarmAIPerf, WarmFailure, WarmPool

from tests.helpers.polling import wait_until

REPO = Path(__file__).resolve().parents[3]
FAKE = ["--app", "tests.helpers.fake_aiperf:app", "--no-plugins"]


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


@pytest.fixture
def parent(tmp_path):
    w = WarmAIPerf(sys.executable, tmp_path, env(), FAKE)
    yield w
    w.close()


def run_in(parent: WarmAIPerf, folder: Path, argv: list[str], **kw):
    folder.mkdir(parents=True, exist_ok=True)
    return parent.start(argv, folder, folder / "run.log", **kw)


def seen(folder: Path) -> dict:
    return json.loads((folder / "seen.json").read_text())


def test_each_run_is_a_fresh_child_in_its_own_session_folder_and_log(parent, tmp_path):
    ready = parent.wait_ready()
    assert ready["ready"] is True and ready["pid"] == parent.proc.pid
    cpus = sorted(os.sched_getaffinity(0))[:1]
    pids = []
    for i, code in enumerate((0, 3)):
        folder = tmp_path / f"run{i}"
        run = run_in(parent, folder, ["exit", str(code), "--x"], cpus=cpus)
        assert run.wait(60) == (code, "")
        got = seen(folder)
        assert got["argv"] == ["exit", str(code), "--x"]
        assert got["sys_argv"] == ["aiperf", "exit", str(code), "--x"]
        # its own session and group, so the runner stops it without stopping the parent
        assert got["pid"] == run.pid == got["sid"] == got["pgid"] != parent.proc.pid
        assert Path(got["cwd"]) == folder.resolve() and got["cpus"] == cpus
        assert got["stdin"] == ""  # never the parent's request pipe
        assert "fake aiperf exit" in (folder / "run.log").read_text()
        pids.append(run.pid)
    assert len(set(pids)) == 2 and parent.alive and parent.runs == 2


@pytest.mark.parametrize("stop", ["timeout", "cancelled", "engine died"])
def test_a_run_is_stopped_by_its_group_and_the_parent_serves_the_next(parent, tmp_path, stop):
    cancel = threading.Event()
    folder = tmp_path / "hung"
    run = run_in(parent, folder, ["hang"])
    # the stand-in has started (its seen.json is written) before the stop is asked for
    wait_until(lambda: (folder / "seen.json").exists(), what="the run started")
    if stop == "cancelled":
        cancel.set()
    rc, why = run.wait(0.0 if stop == "timeout" else 60, cancel,
                       (lambda: "port closed") if stop == "engine died" else None)
    assert why.startswith(stop) and rc < 0  # ended by a signal
    assert gone(run.pid)  # nothing of the run is left
    after = tmp_path / "after"
    assert run_in(parent, after, ["exit", "0"]).wait(60) == (0, "")
    assert seen(after)["pid"] != run.pid


def gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def test_relative_folders_are_the_runners(parent, tmp_path, monkeypatch):
    # the runner names a run's folder relative to its own working directory (runs/...)
    monkeypatch.chdir(tmp_path)
    Path("runs/p").mkdir(parents=True)
    run = parent.start(["exit", "0"], "runs/p", "runs/p/run.log")
    assert run.wait(60) == (0, "")
    assert Path(seen(tmp_path / "runs" / "p")["cwd"]) == (tmp_path / "runs" / "p").resolve()
    assert "fake aiperf exit" in (tmp_path / "runs" / "p" / "run.log").read_text()


def test_a_parent_that_dies_mid_run_is_the_runners_failure_and_takes_its_run(parent, tmp_path):
    run = run_in(parent, tmp_path / "r", ["hang"])
    wait_until(lambda: (tmp_path / "r" / "seen.json").exists(), what="the run started")
    parent.proc.kill()
    with pytest.raises(WarmFailure, match="exited"):
        run.wait(60)
    assert not parent.alive
    wait_until(lambda: gone(run.pid), what="the orphaned run died with its parent")


@pytest.mark.parametrize("says, match", [
    ('print("not json", flush=True)', "garbage"),
    ('print(\'{"ready": false}\', flush=True)', "did not say ready"),
    ('import sys; print(\'{"ready": true}\', flush=True); sys.stdin.readline(); '
     'print(\'{"pid": 1, "rc": 0}\', flush=True)', "answered"),
])
def test_a_parent_that_lies_is_killed(tmp_path, says, match):
    script = tmp_path / "liar.py"
    script.write_text(says + "\nimport sys; sys.stdin.read()\n")
    w = WarmAIPerf(sys.executable, tmp_path, env(), script=script)
    try:
        with pytest.raises(WarmFailure, match=match):
            run_in(w, tmp_path / "r", ["exit", "0"])
        assert not w.alive
    finally:
        w.close()


def test_the_pool_replaces_a_dead_parent(tmp_path):
    with WarmPool(1, tmp_path, python=sys.executable, env=env(), args=FAKE) as pool:
        with pool.lease() as first:
            first.wait_ready()
            assert pool.pgids() == [first.proc.pid]
            first.kill()
        with pool.lease() as second:
            assert second is not first and second.alive
            assert run_in(second, tmp_path / "r", ["exit", "0"]).wait(60) == (0, "")
        assert pool.started == 2


def test_a_point_falls_back_to_the_cli_when_the_parent_fails(tmp_path):
    script = tmp_path / "dead.py"
    script.write_text("import sys; sys.exit(1)\n")
    w = WarmAIPerf(sys.executable, tmp_path, env(), script=script)
    try:
        proc = rate._start([sys.executable, "-c", "print('the cli ran')"], tmp_path / "p",
                           (), w)
        assert isinstance(proc, BenchProcess)
        assert proc.wait(60) == (0, "")
        log = proc.log_path.read_text()
        assert "the warm AIPerf parent failed" in log and "the cli ran" in log
    finally:
        w.close()
