"""Pruning in Bayesian search: Optuna's PercentilePruner on a trial's first level."""

from __future__ import annotations

from optuna.trial import TrialState
from tuneops.runner.bench.levels import pruned_reason
from tuneops.runner.results import COMPLETED, Score, TrialResult
from tuneops.runner.search import make_searcher

from tuneops.plan import make_plan
from tuneops.spec import from_document

SCENARIO = "D(100,100)"


def experiment(pruning=None, method="bayesian"):
    search = {"method": method, "seed": 0, "maxTrials": 20}
    if pruning is not None:
        search["pruning"] = pruning
    return from_document({
        "metadata": {"name": "prune-test"},
        "model": {"id": "org/model"},
        "engine": {"name": "sim", "args": {"gpu-type": "H100"}},
        "deployment": {"mode": "local", "gpus": {"count": 1}},
        "benchmark": {"trafficScenarios": [SCENARIO], "concurrency": [16, 4, 64]},
        "objective": {"metric": "output_throughput"},
        "parameters": {"a": {"type": "int", "low": 1, "high": 1000}},
        "search": search,
    })


def finish(searcher, trial, value, not_run=()):
    score = Score(value, True, 0.0, 4, 4)
    searcher.tell(TrialResult(trial.id, trial.index, trial.params, trial.args, COMPLETED,
                              score=score, not_run=list(not_run)))


def test_a_first_level_far_below_earlier_trials_is_pruned():
    s = make_searcher(e := experiment({"percentile": 25, "startupTrials": 3}), make_plan(e))
    for value in (100.0, 110.0, 120.0, 130.0):  # startup trials: never pruned
        t = s.ask()
        assert not s.should_prune(t.id, SCENARIO, 4, {"output_throughput": value})
        finish(s, t, value)
    low = s.ask()
    # only the first level (4, the lowest) of the objective's scenario is judged
    assert not s.should_prune(low.id, SCENARIO, 16, {"output_throughput": 1.0})
    assert s.should_prune(low.id, SCENARIO, 4, {"output_throughput": 1.0})
    finish(s, low, 1.0, not_run=[f"{SCENARIO}@16: {pruned_reason(4)}"])
    states = [t.state for t in s.study.trials]
    assert states[-1] == TrialState.PRUNED
    good = s.ask()
    assert not s.should_prune(good.id, SCENARIO, 4, {"output_throughput": 125.0})


def test_no_pruning_unless_asked():
    s = make_searcher(e := experiment(), make_plan(e))
    for value in (100.0, 110.0, 120.0, 130.0, 140.0, 150.0):
        t = s.ask()
        assert not s.should_prune(t.id, SCENARIO, 4, {"output_throughput": value / 100})
        finish(s, t, value)


def test_other_searchers_never_prune():
    s = make_searcher(e := experiment(method="random"), make_plan(e))
    t = s.ask()
    assert not s.should_prune(t.id, SCENARIO, 4, {"output_throughput": 0.0})
