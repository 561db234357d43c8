"""Run-level budgets on the real simulator (local backend, no genai-bench: every trial here
fails before a benchmark would start, which is what makes the budgets bite cheaply).

- search.maxFailedTrials: the run stops proposing once that many trials failed.
- search.timeBudget: no trial starts after the budget; a run stopped by it is paused, not
  finished, so the next `tuneops run` resumes it and carries on with the next trial.

No clock is read here: a trial whose engine never becomes healthy lasts at least three
start-up timeouts (three attempts), which is longer than the budget by construction.
"""

from __future__ import annotations

import pytest
from tuneops.runner import journal
from tuneops.runner.results import FAILED_CONFIG, FAILED_INFRA
from tuneops.runner.run import RunOptions, run_experiment

from tests import e2e_helpers as h
from tuneops.plan import make_plan

pytestmark = pytest.mark.slow


def options(tmp_path) -> RunOptions:
    return RunOptions(runs_root=tmp_path / "runs", reports_root=tmp_path / "reports", quiet=True)


def test_max_failed_trials_stops_the_run(tmp_path, marker):
    exp_path = h.write_experiment(
        tmp_path, "failing",
        engine={"args": {"mem-fraction-static": 0.99}},  # no room for activations: OOM
        parameters={"max-running-requests": [8, 16, 32, 64]},
        search={"maxFailedTrials": 2},
    )
    exp = h.load(exp_path)
    trials = make_plan(exp).trials
    assert len(trials) == 4
    summary = run_experiment(exp, options(tmp_path))
    assert summary.best is None and not summary.interrupted
    assert [(r.trial_id, r.status) for r in summary.results] == [
        (trials[0].id, FAILED_CONFIG), (trials[1].id, FAILED_CONFIG)]
    started = [e["trial_id"] for e in h.events(summary.run_dir, "trial_started")]
    assert started == [trials[0].id, trials[1].id]  # the third was never started
    assert not h.engines(marker)


def test_time_budget_stops_starting_trials_and_the_run_resumes(tmp_path, marker):
    exp_path = h.write_experiment(
        tmp_path, "budget",
        engine={"args": {"time-scale": 1.0}},  # ~15 s simulated start-up
        deployment={"startupTimeout": 2},  # never healthy in time: 3 attempts, >= 6 s
        parameters={"max-running-requests": [8, 16, 32]},
        search={"timeBudget": 5},
    )
    exp = h.load(exp_path)
    first, second, third = make_plan(exp).trials

    summary = run_experiment(exp, options(tmp_path))
    assert not summary.interrupted
    assert [(r.trial_id, r.status, r.attempts) for r in summary.results] == [
        (first.id, FAILED_INFRA, 3)]
    run_dir = summary.run_dir
    assert not h.events(run_dir, "run_finished"), "a run stopped by its time budget must resume"
    assert any("time budget" in n["message"] for n in h.events(run_dir, "note"))
    assert any("time budget" in line for line in summary.describe().splitlines())
    assert journal.find_resumable(tmp_path / "runs", exp) == run_dir

    again = run_experiment(exp, options(tmp_path))
    assert again.run_dir == run_dir and again.resumed == 1
    finished = [e["result"]["trial_id"] for e in h.events(run_dir, "trial_finished")]
    assert finished == [first.id, second.id]  # the next trial, not the first one again
    assert third.id not in {e["trial_id"] for e in h.events(run_dir, "trial_started")}
    assert not h.engines(marker)
