"""The runner end to end on the real simulator and the real genai-bench: no mocks.

Each test writes a tiny experiment (one D(32,32) scenario, one concurrency level, six
requests, near-instant simulated start-up) into tmp_path and runs it for real; runs/ and
reports/ live under tmp_path. genai-bench costs ~25 s per trial (start-up, then its own
plots), so every trial here is one that proves something.

Signals and kill -9 are in test_run_signals.py, the Docker backend in test_run_docker.py.
"""

from __future__ import annotations

import pytest
from tuneops.runner.results import COMPLETED, FAILED_CONFIG, FAILED_INFRA
from tuneops.runner.run import RunOptions, run_experiment

from tests import e2e_helpers as h
from tuneops.plan import make_plan

pytestmark = [pytest.mark.genai_bench, pytest.mark.slow]


def options(tmp_path, **kw) -> RunOptions:
    return RunOptions(runs_root=tmp_path / "runs", reports_root=tmp_path / "reports",
                      quiet=True, **kw)


def test_grid_runs_to_completion_and_a_capped_run_resumes(tmp_path, marker):
    """A 2-trial grid: `--max-trials 1` runs one trial; the next `tuneops run` resumes the
    same run, does not rerun it, runs the other, and reports both (CLI exit 0)."""
    exp_path = h.write_experiment(tmp_path, "grid")
    first, second = make_plan(h.load(exp_path)).trials

    cli = h.Cli(exp_path, tmp_path, "--max-trials", "1", marker=marker)
    rc, out = cli.wait()
    assert rc == 0, cli.stderr()
    [run_dir] = h.run_dirs(tmp_path / "runs", "grid")
    assert [e["result"]["trial_id"] for e in h.events(run_dir, "trial_finished")] == [first.id]
    assert not h.events(run_dir, "run_finished"), "a run capped by --max-trials must resume"

    cli = h.Cli(exp_path, tmp_path, marker=marker)
    rc, out = cli.wait()
    assert rc == 0, cli.stderr()
    assert "1 from an earlier run" in out
    assert h.run_dirs(tmp_path / "runs", "grid") == [run_dir], "resumed, not a new run"
    started = [e["trial_id"] for e in h.events(run_dir, "trial_started")]
    assert started == [first.id, second.id], "the finished trial was run again"
    for trial in (first, second):
        assert h.attempt_dirs(run_dir, trial.id) == ["attempt-1"]
    assert h.events(run_dir, "run_finished")

    [report_dir] = (tmp_path / "reports" / "grid").iterdir()
    doc = h.check_report(report_dir)
    assert {t["trial_id"] for t in doc["trials"]} == {first.id, second.id}
    assert all(t["status"] == COMPLETED for t in doc["trials"])
    assert doc["simulated"] is True
    assert doc["best_trial_id"] in (first.id, second.id)
    assert doc["best_trial_id"] in out
    assert not h.marked(marker), "the run left processes behind"


def test_failures_are_classified_retried_and_ranked_last(tmp_path, marker):
    """One good trial, an OOM, a value the simulator rejects, a start-up that outlasts the
    timeout: config failures end at once with the engine's words, the timeout is retried
    to 3 attempts, all three rank below the good trial, and the run still completes."""
    exp_path = h.write_experiment(
        tmp_path, "failures",
        deployment={"startupTimeout": 6},
        engine={"args": {"time-scale": None}},  # tuned below instead
        parameters={
            "mem-fraction-static": [0.6, 0.99],  # 0.99: no room left for activations: OOM
            "sim-model": ["Llama-3.2-1B", "no-such-model"],  # rejected by the sim's argparse
            "time-scale": [0.01, 1.0],  # 1.0: ~15 s start-up > startupTimeout
        },
        constraints=[  # at most one bad setting per trial: four trials
            'not (mem-fraction-static > 0.9 and sim-model == "no-such-model")',
            "not (mem-fraction-static > 0.9 and time-scale > 0.5)",
            'not (sim-model == "no-such-model" and time-scale > 0.5)',
        ],
    )
    exp = h.load(exp_path)
    trials = make_plan(exp).trials
    assert len(trials) == 4

    def which(p):
        if p["mem-fraction-static"] > 0.9:
            return "oom"
        if p["sim-model"] == "no-such-model":
            return "bad-value"
        return "slow" if p["time-scale"] > 0.5 else "good"

    summary = run_experiment(exp, options(tmp_path))
    assert not summary.interrupted
    by = {which(r.params): r for r in summary.results}
    assert sorted(by) == ["bad-value", "good", "oom", "slow"]

    assert by["good"].status == COMPLETED, by["good"].reason
    assert summary.best is not None and summary.best.trial_id == by["good"].trial_id

    oom = by["oom"]
    assert (oom.status, oom.attempts) == (FAILED_CONFIG, 1)
    assert "out of memory" in oom.reason.lower()
    bad = by["bad-value"]
    assert (bad.status, bad.attempts) == (FAILED_CONFIG, 1)
    assert "invalid choice" in bad.reason and "no-such-model" in bad.reason
    slow = by["slow"]
    assert (slow.status, slow.attempts) == (FAILED_INFRA, 3)
    assert "did not serve" in slow.reason
    assert h.attempt_dirs(summary.run_dir, slow.trial_id) == [
        "attempt-1", "attempt-2", "attempt-3"]
    assert h.attempt_dirs(summary.run_dir, oom.trial_id) == ["attempt-1"]

    assert summary.results[0].trial_id == by["good"].trial_id  # ranked order
    doc = h.check_report(summary.report_dir)
    rank = {t["trial_id"]: t["rank"] for t in doc["trials"]}
    for kind in ("oom", "bad-value", "slow"):
        assert rank[by[kind].trial_id] > rank[by["good"].trial_id], kind
    assert doc["best_trial_id"] == by["good"].trial_id
    assert not h.engines(marker), "an engine outlived its trial"


def test_parallel_trials_overlap_on_disjoint_gpus(tmp_path, marker):
    """parallelTrials: 2 on two simulated GPUs: both trials run at the same time, each on
    its own GPU, and both complete."""
    exp_path = h.write_experiment(tmp_path, "parallel", search={"parallelTrials": 2})
    summary = run_experiment(h.load(exp_path), options(tmp_path))
    assert not summary.interrupted
    assert [r.status for r in summary.results] == [COMPLETED, COMPLETED]
    assert summary.best is not None

    starts = h.events(summary.run_dir, "trial_started")
    finishes = h.events(summary.run_dir, "trial_finished")
    assert len(starts) == 2 and len(finishes) == 2
    # Both started before either finished (journal order is the order things happened).
    lines = [r.get("event") for r in h.journal(summary.run_dir)]
    first_finish = lines.index("trial_finished")
    assert lines[:first_finish].count("trial_started") == 2
    assert max(r.started_at for r in summary.results) < min(
        r.finished_at for r in summary.results)

    gpu_sets = [tuple(s["gpus"]) for s in starts]
    assert all(len(g) == 1 for g in gpu_sets)
    assert not set(gpu_sets[0]) & set(gpu_sets[1]), f"GPU sets overlap: {gpu_sets}"
    assert sorted(tuple(r.gpus) for r in summary.results) == sorted(gpu_sets)
    assert not h.marked(marker)
