"""Journal replay, record by record: what a run knows after each kind of event, including the
orders a resumed, restarted or killed run produces. Pure: records are folded with
RunState.apply or written to a file and replayed; no runner process (tests/runner/test_journal.py
has those). Written to kill the replay mutants `make mutation MODULES=journal` found."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tuneops.runner import journal
from tuneops.runner.results import (
    CANCELLED,
    COMPLETED,
    FAILED_CONFIG,
    FAILED_INFRA,
    Score,
    TrialResult,
)

from tuneops import errors
from tuneops.plan import make_plan, make_trial
from tuneops.spec import from_document

DOC = {
    "metadata": {"name": "replay", "description": "d", "labels": {"team": "x"}},
    "model": {"id": "org/model"},
    "engine": {"name": "sim", "args": {}},
    "deployment": {"mode": "local", "gpus": {"count": 1}},
    "benchmark": {"trafficScenarios": ["D(100,100)"], "concurrency": [4]},
    "objective": {"metric": "output_throughput", "direction": "maximize"},
    "parameters": {"a": [1, 2, 3, 4]},
}
EXP = from_document(DOC)
TRIALS = make_plan(EXP).trials


def finished(trial, status=COMPLETED):
    score = Score(1.0, True, 0.0, 4, 4) if status == COMPLETED else None
    result = TrialResult(trial.id, trial.index, trial.params, trial.args, status, score=score)
    return {"event": "trial_finished", "trial_id": trial.id, "result": result.as_dict()}


def started(trial, with_params=True, **extra):
    rec = {"event": "trial_started", "trial_id": trial.id, "attempt": 1, **extra}
    if with_params:
        rec.update(params=trial.params, index=trial.index)
    return rec


def fold(*records) -> journal.RunState:
    state = journal.RunState()
    for rec in records:
        state.apply(rec)
    return state


def test_run_started_sets_the_identity_and_keeps_earlier_values_when_absent():
    state = fold({"event": "run_started", "run_id": "r1", "experiment": "e",
                  "experiment_hash": "h1", "pid": 7},
                 {"event": "run_started", "pid": 8})
    assert (state.run_id, state.experiment, state.experiment_hash) == ("r1", "e", "h1")
    assert [s["pid"] for s in state.sessions] == [7, 8] and state.last_runner["pid"] == 8
    assert state.records == 2
    assert journal.RunState().last_runner is None


def test_a_new_session_reopens_a_finished_run():
    state = fold({"event": "run_started"}, {"event": "run_finished"})
    assert state.run_finished
    state.apply({"event": "run_started"})
    assert not state.run_finished


def test_a_restarted_trial_forgets_its_earlier_result():
    t = TRIALS[0]
    state = fold(started(t), finished(t), started(t))
    assert t.id not in state.finished and t.id in state.unfinished
    state.apply(finished(t, FAILED_INFRA))
    assert state.finished[t.id].status == FAILED_INFRA and t.id not in state.unfinished


def test_a_restarted_cancelled_trial_is_no_longer_cancelled():
    t = TRIALS[1]
    state = fold(started(t), finished(t, CANCELLED), started(t))
    assert t.id not in state.cancelled and t.id in state.unfinished


def test_cancelled_then_finished_and_finished_then_cancelled():
    t = TRIALS[2]
    state = fold(started(t), finished(t, CANCELLED))
    assert t.id in state.cancelled and t.id not in state.finished
    assert t.id not in state.unfinished
    state.apply(finished(t))
    assert t.id in state.finished and t.id not in state.cancelled
    state.apply(finished(t, CANCELLED))
    assert t.id in state.cancelled and t.id not in state.finished


def test_the_last_result_wins():
    t = TRIALS[0]
    state = fold(finished(t, FAILED_CONFIG), finished(t))
    assert state.finished[t.id].status == COMPLETED and len(state.finished) == 1


def test_notes_and_unknown_events():
    state = fold({"event": "note", "message": "hello"}, {"event": "note"},
                 {"event": "from-the-future"})
    assert state.notes == ["hello", ""] and state.records == 3
    assert not state.run_finished and not state.finished and not state.sessions


def test_half_done_holds_unfinished_and_cancelled_trials_in_index_order():
    t0, t1, t2, t3 = TRIALS
    state = fold(started(t3), started(t2), finished(t2, CANCELLED), started(t0), finished(t0),
                 started(t1, with_params=False))  # cannot be rebuilt: left out
    again = state.half_done(EXP)
    assert [t.id for t in again] == [t2.id, t3.id]
    assert [t.index for t in again] == [t2.index, t3.index]
    assert again[1] == make_trial(EXP, t3.params, t3.index)


def test_half_done_without_an_index_sorts_first():
    t = TRIALS[3]
    state = fold({"event": "trial_started", "trial_id": t.id, "params": t.params},
                 started(TRIALS[1]))
    assert [x.id for x in state.half_done(EXP)] == [t.id, TRIALS[1].id]
    assert state.half_done(EXP)[0].index == 0


def write(path: Path, *records, tail: bytes = b"") -> Path:
    path.write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in records) + tail)
    return path


def test_replay_of_a_file_with_a_torn_tail_bad_lines_and_blank_lines(tmp_path):
    t = TRIALS[0]
    good = write(tmp_path / "journal.jsonl", {"event": "run_started", "run_id": "r"},
                 finished(t))
    size = good.stat().st_size
    with good.open("ab") as f:
        f.write(b"\n   \nnot json\n[1, 2]\n" + b'{"event": "run_fin')
    state = journal.replay(good)
    assert state.records == 2 and state.bad_lines == 2 and state.torn_tail
    assert state.valid_bytes == size + len(b"\n   \nnot json\n[1, 2]\n")
    assert t.id in state.finished
    assert not state.run_finished  # the torn record does not count


def test_replay_of_a_directory_a_clean_file_and_no_file(tmp_path):
    write(tmp_path / journal.JOURNAL, {"event": "run_started"}, {"event": "run_finished"})
    state = journal.replay(tmp_path)
    assert state.run_finished and not state.torn_tail and state.bad_lines == 0
    assert state.valid_bytes == (tmp_path / journal.JOURNAL).stat().st_size
    empty = journal.replay(tmp_path / "nothing-here.jsonl")
    assert empty.records == 0 and empty.valid_bytes == 0 and not empty.torn_tail


def test_a_file_without_any_newline_is_all_torn(tmp_path):
    path = tmp_path / "j.jsonl"
    path.write_bytes(b'{"event": "run_started"}')
    state = journal.replay(path)
    assert state.records == 0 and state.torn_tail and state.valid_bytes == 0


def test_experiment_hash_ignores_source_prose_labels_and_budgets():
    base = journal.experiment_hash(EXP)
    assert len(base) == 64
    same = from_document({**DOC, "metadata": {"name": "replay"},
                          "search": {"maxTrials": 3, "maxFailedTrials": 2,
                                     "parallelTrials": 2, "timeBudget": 60}},
                         source_file="x.yaml", text="other text")
    assert journal.experiment_hash(same) == base
    for changed in ({**DOC, "search": {"seed": 9}}, {**DOC, "metadata": {"name": "other"}},
                    {**DOC, "parameters": {"a": [1, 2]}}):
        assert journal.experiment_hash(from_document(changed)) != base


def test_run_ids_carry_the_time_and_the_experiment(monkeypatch):
    run_id = journal.new_run_id(EXP, now=0.0)
    assert run_id == "19700101T000000Z-" + journal.experiment_hash(EXP)[:8]


def _run_dir(root: Path, name: str, exp=EXP, finish=False, hash_=None) -> Path:
    d = root / exp.name / name
    d.mkdir(parents=True)
    recs = [{"event": "run_started", "experiment_hash": hash_ or journal.experiment_hash(exp)}]
    if finish:
        recs.append({"event": "run_finished"})
    write(d / journal.JOURNAL, *recs)
    return d


def test_find_resumable_takes_the_newest_unfinished_run_of_the_same_experiment(tmp_path):
    h8 = journal.experiment_hash(EXP)[:8]
    assert journal.find_resumable(tmp_path, EXP) is None  # no runs at all
    old = _run_dir(tmp_path, f"20260101T000000Z-{h8}")
    assert journal.find_resumable(tmp_path, EXP) == old
    _run_dir(tmp_path, f"20260102T000000Z-{h8}", hash_="0" * 64)  # same prefix, other hash
    assert journal.find_resumable(tmp_path, EXP) == old
    (tmp_path / EXP.name / f"20260103T000000Z-{h8}").mkdir()  # no journal
    _run_dir(tmp_path, "20260104T000000Z-ffffffff")  # another experiment's name
    assert journal.find_resumable(tmp_path, EXP) == old
    _run_dir(tmp_path, f"20260105T000000Z-{h8}", finish=True)  # newest finished: start anew
    assert journal.find_resumable(tmp_path, EXP) is None


@pytest.mark.parametrize("host,expected", [(None, True), ("elsewhere.invalid", None)])
def test_process_alive(host, expected):
    import os

    assert journal.process_alive(os.getpid(), host) is expected


def test_a_dead_process_is_not_alive():
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert journal.process_alive(proc.pid, None) is False


# ------------------------------------------------ writing a run (mutation survivors)

def test_a_fresh_state_knows_nothing():
    state = journal.RunState()
    assert state.records == 0 and state.run_finished is False and state.bad_lines == 0
    assert not state.torn_tail and state.valid_bytes == 0


def test_unknown_events_sorting_anywhere_change_nothing():
    state = fold({"event": "zz-later"}, {"event": "aa-earlier"}, {"event": "run_zz"},
                 {"event": "trial_zz"})
    assert not state.run_finished and not state.unfinished and not state.finished
    assert state.records == 4


def test_find_resumable_skips_runs_of_other_hashes_on_both_sides(tmp_path):
    h8 = journal.experiment_hash(EXP)[:8]
    old = _run_dir(tmp_path, f"20260101T000000Z-{h8}")
    _run_dir(tmp_path, f"20260102T000000Z-{h8}", hash_="f" * 64)
    _run_dir(tmp_path, f"20260103T000000Z-{h8}", hash_="0" * 64)
    assert journal.find_resumable(tmp_path, EXP) == old


@pytest.mark.parametrize("host", ["0.invalid", "zzzz.invalid"])
def test_another_hosts_process_cannot_be_judged(host):
    import os

    assert journal.process_alive(os.getpid(), host) is None


def test_this_hosts_name_counts_as_this_host():
    import os
    import socket

    assert journal.process_alive(os.getpid(), "".join(socket.gethostname())) is True


def test_a_run_writes_versioned_records_resumes_and_notes_it(tmp_path):
    import os
    import stat

    with journal.open_run(tmp_path, EXP) as run:
        run.trial_started(TRIALS[0])
        run_dir = run.dir
    umask = os.umask(0)
    os.umask(umask)
    mode = stat.S_IMODE((run_dir / journal.JOURNAL).stat().st_mode)
    assert mode == 0o644 & ~umask
    lines = [json.loads(x) for x in (run_dir / journal.JOURNAL).read_text().splitlines()]
    assert {rec["v"] for rec in lines} == {1}
    started = [r for r in lines if r["event"] == "trial_started"]
    assert started[0]["attempt"] == 1 and started[0]["index"] == TRIALS[0].index
    with journal.open_run(tmp_path, EXP) as again:  # not finished: resumed, same directory
        assert again.dir == run_dir and again.resumed
        assert again.notes[0].startswith(f"resumed run {run_dir.name}: 0 trial(s) finished, "
                                         "1 half-done; previous runner pid")


def test_a_failed_start_releases_the_lock(tmp_path):
    run_dir = tmp_path / EXP.name / "r1"
    (run_dir / journal.JOURNAL).mkdir(parents=True)  # the journal cannot be opened
    for _ in range(2):  # the second time meets the same error, not "in use"
        with pytest.raises(errors.FileProblem, match="Is a directory"):
            journal.Run(run_dir, EXP, resumed=True)


def test_a_run_directory_is_created_with_its_parents(tmp_path):
    deep = tmp_path / "not" / "yet" / "there"
    run = journal.Run(deep, EXP, resumed=False)
    try:
        assert (deep / journal.JOURNAL).is_file()
    finally:
        run.close()


def test_a_process_this_user_may_not_signal_is_alive():
    """os.kill(pid, 0) on another user's process raises PermissionError: it exists. A forked
    child drops to an unprivileged user (the tests run as root, who may signal anything)."""
    import os

    target = os.getpid() if os.geteuid() == 0 else 1  # a process of another user
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        try:
            if os.geteuid() == 0:
                os.setgid(65534)
                os.setuid(65534)
            os.write(write, str(journal.process_alive(target, None)).encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    with os.fdopen(read) as pipe:
        assert pipe.read() == "True"


def test_a_new_run_creates_the_runs_root_too(tmp_path):
    root = tmp_path / "not" / "yet"
    with journal.open_run(root, EXP) as run:
        assert run.dir.parent == root / EXP.name and not run.resumed
