"""The progress display: CI (quiet) gets one greppable line per event; ETA from finished trials."""

from __future__ import annotations

from tuneops.runner.progress import Progress
from tuneops.runner.results import COMPLETED, FAILED_CONFIG, Score, TrialResult

from tests.paths import ROOT
from tuneops.plan import make_plan
from tuneops.validate import load_experiment

EXAMPLE = ROOT / "experiments/examples/sim-small.yaml"


def _result(trial, status=COMPLETED, objective=123.4, feasible=True, reason=""):
    score = Score(objective, feasible, 0.0, 4, 4) if status == COMPLETED else None
    return TrialResult(trial.id, trial.index, trial.params, trial.args, status, reason=reason,
                       score=score, total_s=2.5)


def test_quiet_mode_prints_one_line_per_event_with_counter(capsys):
    exp = load_experiment(EXAMPLE)
    plan = make_plan(exp)
    first, second = plan.trials[:2]
    with Progress(exp, plan, quiet=True, already=1) as progress:
        progress.trial_started(first)
        progress.phase(first.id, "benchmarking")
        assert progress.eta() is None  # nothing finished in this run yet: no guess
        progress.trial_finished(_result(first))
        progress.trial_started(second)
        progress.trial_finished(_result(second, FAILED_CONFIG, reason="CUDA out of memory\nmore"))
        eta = progress.eta()
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].endswith("run sim-small: up to 4 trial(s), 1 already finished")
    assert lines[1].endswith(f"[1/4] {first.id} start mem-fraction-static=0.5 "
                             "max-running-requests=8")
    assert lines[2].endswith(f"[1/4] {first.id} benchmarking")
    assert lines[3].endswith(f"[2/4] {first.id} done in 2.5s: "
                             "output_throughput_per_gpu=123.4 feasible")
    assert lines[5].endswith(f"[3/4] {second.id} done in 2.5s: failed_config: CUDA out of memory")
    # 2 finished here, 1 left; parallelTrials is 1, so the ETA is one more average trial
    assert eta is not None and eta >= 0


def test_interactive_mode_renders_running_trials_table():
    exp = load_experiment(EXAMPLE)
    plan = make_plan(exp)
    progress = Progress(exp, plan, quiet=False)
    progress.trial_started(plan.trials[0])
    progress.phase(plan.trials[0].id, "waiting for health")
    from rich.console import Console

    console = Console(width=200, record=True)
    console.print(progress._render())
    text = console.export_text()
    assert "sim-small" in text and "trials 0/4" in text
    assert plan.trials[0].id in text and "waiting for health" in text
