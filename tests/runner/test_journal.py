"""Run journal: replay, torn lines, kill -9 durability, one runner per run, resume lookup."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from tuneops.deployments.common.fsutil import write_atomic
from tuneops.runner import journal
from tuneops.runner.results import CANCELLED, COMPLETED, FAILED_CONFIG, Score, TrialResult

from tests.paths import ROOT
from tuneops.plan import make_plan
from tuneops.spec import from_document


def doc(**search):
    return {
        "metadata": {"name": "journal-test", "description": "d"},
        "model": {"id": "org/model"},
        "engine": {"name": "sim", "args": {}},
        "deployment": {"mode": "local", "gpus": {"count": 1}},
        "benchmark": {"trafficScenarios": ["D(100,100)"], "concurrency": [4]},
        "objective": {"metric": "output_throughput", "direction": "maximize"},
        "parameters": {"a": [1, 2, 3]},
        "search": {"method": "grid", **search},
    }


def experiment(**search):
    return from_document(doc(**search))


def result(tid, status=COMPLETED, index=0, value=1.0):
    score = Score(value, True, 0.0, 4, 4) if status == COMPLETED else None
    return TrialResult(
        tid,
        index,
        {"a": index},
        {"a": index},
        status,
        score=score,
        metrics={"D(100,100)": {4: {"output_throughput": value}}},
    )


def test_replay_derives_finished_unfinished_and_run_end(tmp_path):
    exp = experiment()
    with journal.open_run(tmp_path, exp) as run:
        run.trial_started("t1", attempt=1, gpus=("0",), owner="o")
        run.trial_finished(result("t1", value=1.0))
        run.trial_started("t2", params={"a": 2}, index=1)
        run.trial_started("t3")
        run.trial_finished(result("t3", status=CANCELLED))
        run.trial_started("t1", attempt=1)  # rerun of t1 ...
        run.trial_finished(result("t1", status=FAILED_CONFIG))  # ... the last record wins
        run.note("hello")
        assert not journal.replay(run.dir).run_finished
        run.finished()
        run_dir = run.dir
    state = journal.replay(run_dir)
    assert set(state.finished) == {"t1"} and state.finished["t1"].status == FAILED_CONFIG
    assert set(state.unfinished) == {"t2"} and state.unfinished["t2"]["params"] == {"a": 2}
    assert set(state.cancelled) == {"t3"}
    assert state.run_finished and state.notes == ["hello"] and not state.torn_tail
    assert state.experiment_hash == journal.experiment_hash(exp)
    assert state.last_runner["pid"] == os.getpid()
    assert run_dir.name.endswith(journal.experiment_hash(exp)[:8])
    assert run_dir.parent == tmp_path / exp.name


def test_half_done_trials_are_rebuilt_for_a_rerun(tmp_path):
    exp = experiment()
    plan = make_plan(exp)
    t0, t1, t2 = plan.trials
    with journal.open_run(tmp_path, exp) as run:
        run.trial_started(t2, attempt=1)  # a Trial: its params and index are recorded
        run.trial_started(t0, attempt=1)
        run.trial_started(t1, attempt=1)
        run.trial_finished(result(t1.id, index=1))
        run.trial_started("no-params")  # cannot be rebuilt: skipped
    assert journal.replay(run.dir).half_done(exp) == [t0, t2]


def test_results_round_trip_through_the_journal(tmp_path):
    with journal.open_run(tmp_path, experiment()) as run:
        original = result("t9", index=4, value=3.5)
        run.trial_finished(original)
    assert journal.replay(run.dir).finished["t9"] == original


def planned(exp, i: int) -> TrialResult:
    """A result for the plan's i-th trial (a resumed run refuses ids not in its plan)."""
    t = make_plan(exp).trials[i]
    return TrialResult(t.id, t.index, dict(t.params), dict(t.args), COMPLETED)


def test_torn_last_line_is_ignored_then_cut_on_reopen(tmp_path):
    exp = experiment()
    t1, t2 = planned(exp, 0), planned(exp, 1)
    with journal.open_run(tmp_path, exp) as run:
        run.trial_finished(t1)
        path = run.path
    with open(path, "ab") as f:
        f.write(b'{"event":"trial_finished","result":{"trial_id":"t2","ind')
    state = journal.replay(path)
    assert state.torn_tail and set(state.finished) == {t1.trial_id} and state.bad_lines == 0

    with journal.open_run(tmp_path, exp) as run:  # resumes, cutting the torn line
        assert run.dir == path.parent and run.resumed
        run.trial_finished(t2)
    state = journal.replay(path)
    assert not state.torn_tail and state.bad_lines == 0
    assert set(state.finished) == {t1.trial_id, t2.trial_id}
    assert any("torn" in n for n in state.notes)


CHILD = textwrap.dedent(
    """
    import sys
    from tuneops.runner import journal
    from tuneops.runner.results import TrialResult
    from tuneops.plan import make_trial
    from tuneops.spec import from_document
    import json
    exp = from_document(json.loads(sys.argv[2]))
    with journal.open_run(sys.argv[1], exp) as run:
        print("ready", run.dir, flush=True)
        i = 0
        while True:
            t = make_trial(exp, {"a": i}, i)  # a real id: a resumed run checks them
            run.trial_finished(TrialResult(t.id, i, t.params, t.args, "completed",
                                           reason="x" * 4000))
            print(i, flush=True)
            i += 1
    """
)


def spawn_runner(runs_root: Path, document: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(runs_root), json.dumps(document)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def test_kill_9_loses_no_acknowledged_record(tmp_path):
    child = spawn_runner(tmp_path, doc())
    try:
        run_dir = Path(child.stdout.readline().split(maxsplit=1)[1].strip())
        acked = -1
        for line in child.stdout:  # each line: one record fsync'd (how fast: make bench)
            acked = int(line)
            if acked >= 150:
                break
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        acked = max([acked] + [int(x) for x in child.stdout.read().split()])  # acks in the pipe
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert acked >= 150
    state = journal.replay(run_dir)
    indexes = sorted(r.index for r in state.finished.values())
    assert indexes == list(range(len(indexes)))  # no gaps, nothing garbled
    assert len(indexes) >= acked + 1  # every append that returned is on disk
    assert state.bad_lines == 0


def test_a_second_runner_is_refused_while_the_first_lives(tmp_path):
    exp = experiment()
    with journal.open_run(tmp_path, exp) as run:
        with pytest.raises(journal.RunInUse) as info:
            with journal.open_run(tmp_path, exp):
                pass
        assert info.value.holder["pid"] == os.getpid()
        assert str(os.getpid()) in str(info.value) and str(run.dir) in str(info.value)
        # another process is refused too, and exits with the user-error code
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, str(tmp_path), json.dumps(doc())],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
        )
        assert proc.returncode != 0 and "RunInUse" in proc.stderr
    state = journal.replay(run.dir)
    assert len(state.sessions) == 1  # the refused runners wrote nothing


def test_lock_of_a_killed_runner_is_free_and_the_run_resumes(tmp_path):
    sampled = doc(method="random", maxTrials=100_000)  # ids beyond the 3-point grid
    child = spawn_runner(tmp_path, sampled)
    try:
        run_dir = Path(child.stdout.readline().split(maxsplit=1)[1].strip())
        child.stdout.readline()
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    dead_pid = journal.replay(run_dir).last_runner["pid"]
    assert journal.process_alive(dead_pid, None) is False
    with journal.open_run(tmp_path, from_document(sampled)) as run:
        assert run.dir == run_dir and run.resumed
        assert any(str(dead_pid) in n and "gone" in n for n in run.notes)
        assert run.state.finished  # what the killed runner finished is known


def test_find_resumable_picks_the_newest_unfinished_run_of_the_same_experiment(tmp_path):
    exp = experiment(seed=1)
    assert journal.find_resumable(tmp_path, exp) is None
    with journal.open_run(tmp_path, exp) as first:
        pass
    assert journal.find_resumable(tmp_path, exp) == first.dir
    # budgets and prose may change; the run is the same
    doc2 = doc(seed=1, maxTrials=7, timeBudget="1h")
    doc2["metadata"]["description"] = "other words"
    assert journal.find_resumable(tmp_path, from_document(doc2)) == first.dir
    # a different search (seed) is a different run
    assert journal.find_resumable(tmp_path, experiment(seed=2)) is None
    with journal.open_run(tmp_path, exp, fresh=True) as second:
        assert second.dir != first.dir and not second.resumed
        second.finished()
    assert second.dir.name > first.dir.name
    assert journal.find_resumable(tmp_path, exp) is None  # the newest run finished
    with journal.open_run(tmp_path, exp) as third:
        assert third.dir not in (first.dir, second.dir)


def test_write_atomic_replaces_whole_files(tmp_path):
    target = tmp_path / "sub" / "report.json"
    write_atomic(target, '{"v": 1}')
    write_atomic(target, b'{"v": 2}')
    assert json.loads(target.read_text()) == {"v": 2}
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert [p.name for p in target.parent.iterdir()] == ["report.json"]  # no temp files left
