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


def _record_reserves(monkeypatch) -> list[tuple[int, int]]:
    """(offset, bytes) of every reservation the journal asks for (each one granted)."""
    calls: list[tuple[int, int]] = []

    def reserve(fd, offset, nbytes):
        calls.append((offset, nbytes))
        return True

    monkeypatch.setattr(journal, "reserve_past_end", reserve)
    return calls


def test_the_journal_holds_four_mib_past_its_last_line_topped_up_below_half(
        tmp_path, monkeypatch):
    """Rule: a journal owns 4 MiB of disk past its last line (so the lines that record a
    run's losses still fit on a disk that fills), asked for when opened and again only once
    less than half of it is left, from the end of the last whole line."""
    calls = _record_reserves(monkeypatch)
    mib = 1 << 20
    with journal.open_run(tmp_path, experiment()) as run:
        assert calls == [(0, 4 * mib)], "opened empty: 4 MiB from offset 0"
        run.note("small")  # far from half used: no new request
        assert len(calls) == 1
        run.note("x" * (2 * mib))  # now less than 2 MiB of the reserve is left
        end = run.path.stat().st_size
        assert calls[1:] == [(end, 4 * mib)], "topped up from the end of the last line"
        run.note("small")
        assert len(calls) == 2, "a fresh reserve lasts until half of it is used"


def test_a_failed_append_is_cut_off_and_the_reserve_asked_for_again(tmp_path, monkeypatch):
    """Rule: a line that cannot be written whole (a full disk) is cut back off, so the journal
    ends at its last whole line; the caller gets a FileProblem naming the journal; the state
    does not take the record; and the reserve is asked for again from that end (a truncate
    may have freed it)."""
    from tuneops import errors

    calls = _record_reserves(monkeypatch)
    with journal.open_run(tmp_path, experiment()) as run:
        before = run.path.read_bytes()
        records = run.state.records

        def torn(fd, line):
            os.write(fd, line[:5])
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(journal, "append_line", torn)
        with pytest.raises(errors.FileProblem) as caught:
            run.note("lost")
        assert str(run.path) in str(caught.value)
        assert run.path.read_bytes() == before
        assert run.state.records == records
        assert calls[-1] == (len(before), 4 << 20)
    # and when even cutting the torn line back off fails, the caller still gets the
    # FileProblem (replay drops a torn last line anyway), not the truncate's own error
    monkeypatch.undo()
    with journal.open_run(tmp_path, experiment()) as run:
        monkeypatch.setattr(journal, "append_line", torn)
        real_ftruncate = os.ftruncate

        def cannot_truncate(fd, length):
            raise OSError(5, "Input/output error")

        monkeypatch.setattr(os, "ftruncate", cannot_truncate)
        with pytest.raises(errors.FileProblem):
            run.note("lost too")
        monkeypatch.setattr(os, "ftruncate", real_ftruncate)


def test_closing_a_run_hands_back_the_crash_folder_only_if_it_is_still_its_own(tmp_path):
    """Rule: a crash after a run is closed is no longer that run's to log: close() clears
    errors.crash_dir when it names this run, and leaves a folder another run set alone
    (whichever way that folder's name sorts)."""
    from tuneops import errors

    with journal.open_run(tmp_path, experiment()) as run:
        assert errors.crash_dir == str(run.dir)
    assert errors.crash_dir is None
    for other in ("/a-other-run", "/zz-other-run"):
        with journal.open_run(tmp_path, experiment(), fresh=True):
            errors.crash_dir = other
        assert errors.crash_dir == other
    errors.crash_dir = None


def test_closing_closes_the_journal_once(tmp_path):
    """Rule: close() closes the journal's file (no descriptor leaks per run) and a second
    close, as the context manager's after an explicit one, is harmless."""
    with journal.open_run(tmp_path, experiment()) as run:
        fd = run._fd
        run.close()
        with pytest.raises(OSError):
            os.fstat(fd)


def test_a_journal_over_one_gib_is_refused_before_it_is_read(tmp_path):
    """Rule: a journal larger than MAX_BYTES (1 GiB) is refused by a UserError naming the
    whole file (no line, no column), not read into memory."""
    from tuneops import errors

    path = tmp_path / journal.JOURNAL
    with open(path, "wb") as f:
        f.truncate((1 << 30) + 1)  # sparse: no gigabyte is written
    with pytest.raises(errors.UserError) as caught:
        journal.replay(path)
    diag = caught.value.diagnostics[0]
    assert diag.file == str(path) and (diag.line, diag.column) == (0, 0)
    assert "limit" in diag.message


def test_a_bad_line_of_a_journal_to_resume_is_named_by_its_number(tmp_path):
    """Rule: lines are numbered from 1, as an editor shows them: a bad second line is
    line 2."""
    from tuneops import errors

    exp = experiment()
    with journal.open_run(tmp_path, exp) as run:
        path = run.path
    with open(path, "ab") as f:
        f.write(b'{"not": "a record"}\n')
    with pytest.raises(errors.UserError) as caught:
        journal.replay(path, exp)
    assert caught.value.diagnostics[0].line == 2


def test_a_look_at_a_journal_skips_and_counts_every_bad_line_and_reads_on(tmp_path):
    """Rule: without an experiment, replay skips each malformed line, counting it once, and
    goes on to the lines after it: garbage, a non-object, and records of the wrong shape
    (a missing key, a wrong type, a bad value, a score that is no mapping)."""
    path = tmp_path / journal.JOURNAL
    bad = [b"garbage", b"[1, 2]",
           b'{"event": "trial_started"}',  # KeyError
           b'{"event": "trial_finished", "result": 5}',  # TypeError
           b'{"event": "trial_finished", "result": {"trial_id": "t", "index": "x", '
           b'"params": {}, "args": {}, "status": "completed", "metrics": {"s": {"x": {}}}}}',
           b'{"event": "trial_finished", "result": {"trial_id": "t", "score": "x"}}']
    good = b'{"event": "note", "message": "after"}'
    path.write_bytes(b"\n".join([*bad, good]) + b"\n")
    state = journal.replay(path)
    assert state.bad_lines == len(bad)
    assert state.notes == ["after"]


def test_a_runner_lock_holding_no_json_still_names_a_runner(tmp_path):
    """Bad day: the lock file of a live runner holds no JSON (an older runner, a hand
    edit): the second runner is still refused, naming "another runner"."""
    exp = experiment()
    with journal.open_run(tmp_path, exp) as run:
        (run.dir / journal.LOCK).write_bytes(b"not json")
        with pytest.raises(journal.RunInUse) as caught:
            with journal.open_run(tmp_path, exp):
                pass
        assert "in use by another runner" in str(caught.value)


def test_a_trial_start_is_owned_by_the_run_unless_told_otherwise(tmp_path):
    """Rule: a trial_started line names its owner: the one given, else this run."""
    with journal.open_run(tmp_path, experiment()) as run:
        run.trial_started("t1")
        run.trial_started("t2", owner="pool/worker-3")
        assert run.state.unfinished["t1"]["owner"] == run.owner
        assert run.state.unfinished["t2"]["owner"] == "pool/worker-3"


def test_a_refused_journal_leaves_the_run_unlocked(tmp_path):
    """Rule: when opening a run fails (its journal is refused), the lock is released at
    once: after fixing the journal, the same run opens without a "run in use" refusal."""
    from tuneops import errors

    exp = experiment()
    with journal.open_run(tmp_path, exp) as run:
        path = run.path
    good = path.read_bytes()
    path.write_bytes(good + b'{"not": "a record"}\n')
    with pytest.raises(errors.UserError):
        with journal.open_run(tmp_path, exp):
            pass
    path.write_bytes(good)
    with journal.open_run(tmp_path, exp) as again:
        assert again.dir == path.parent


def test_a_thousand_runs_started_in_one_second_are_the_limit(tmp_path, monkeypatch):
    """Rule: runs started in the same second get -1, -2, ... up to -999; past that the
    runner refuses with a message rather than looping on."""
    from tuneops import errors

    monkeypatch.setattr(journal, "new_run_id", lambda exp: "20260101T000000Z-abcdef12")
    exp_dir = tmp_path / experiment().name
    exp_dir.mkdir()
    (exp_dir / "20260101T000000Z-abcdef12").mkdir()
    for n in range(1, 999):
        (exp_dir / f"20260101T000000Z-abcdef12-{n}").mkdir()
    assert journal._new_run_dir(exp_dir, experiment()).name == "20260101T000000Z-abcdef12-999"
    with pytest.raises(errors.TuneopsError, match="cannot create a run directory"):
        journal._new_run_dir(exp_dir, experiment())


def test_a_lock_file_planted_as_a_symlink_is_not_followed(tmp_path):
    """Attacker: runner.lock replaced by a symlink to another file. The runner opens the lock
    without following links and refuses, naming the lock; the file pointed at keeps its
    bytes (following the link would truncate it)."""
    from tuneops import errors

    exp = experiment()
    with journal.open_run(tmp_path, exp) as run:
        lock = run.dir / journal.LOCK
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    lock.unlink()
    lock.symlink_to(victim)
    with pytest.raises(errors.FileProblem, match="runner.lock"):
        with journal.open_run(tmp_path, exp):
            pass
    assert victim.read_text() == "keep me"


def test_the_lock_file_is_writable_by_its_owner_only(tmp_path):
    """Rule: runner.lock is created rw-r--r-- (0644 under the usual umask): others may read
    who holds the run, none may write it."""
    old = os.umask(0o022)
    try:
        with journal.open_run(tmp_path, experiment()) as run:
            mode = stat.S_IMODE((run.dir / journal.LOCK).stat().st_mode)
    finally:
        os.umask(old)
    assert mode == 0o644


def test_the_first_session_of_a_run_says_whose_run_it_is(tmp_path):
    """Rule: find_resumable trusts a run's first run_started record: a folder whose first
    session is another experiment's is passed over, even when a later session names this
    experiment's hash."""
    exp = experiment()
    full = journal.experiment_hash(exp)
    run_dir = tmp_path / exp.name / f"20260101T000000Z-{full[:8]}"
    run_dir.mkdir(parents=True)
    lines = [{"event": "run_started", "run_id": run_dir.name, "experiment": exp.name,
              "experiment_hash": h} for h in ("0" * 64, full)]
    (run_dir / journal.JOURNAL).write_text("".join(json.dumps(r) + "\n" for r in lines))
    assert journal.find_resumable(tmp_path, exp) is None
    lines.reverse()
    (run_dir / journal.JOURNAL).write_text("".join(json.dumps(r) + "\n" for r in lines))
    assert journal.find_resumable(tmp_path, exp) == run_dir
