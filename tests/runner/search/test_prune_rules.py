"""The rules of runner/search/prune.py one by one, as tables: which scenario is judged, how
far a metric can still move with load, how the levels combine per `objective.concurrency`,
and when a bound is out of reach. Unit-fast: `make mutation` runs this file per mutant."""

from __future__ import annotations

import dataclasses

import pytest
from tuneops.runner.search.prune import judged_scenario, objective_bound, out_of_reach, reach

from tuneops.spec import from_document

A, B = "D(100,100)", "D(200,50)"


def experiment(metric="output_throughput", concurrency="best_feasible", levels=(4, 16, 64),
               scenarios=(A,), direction=None, scenario=None, bench=None):
    objective = {"metric": metric, "concurrency": concurrency}
    if direction:
        objective["direction"] = direction
    if scenario:
        objective["scenario"] = scenario
    benchmark = bench or {"concurrency": list(levels)}
    return from_document({
        "metadata": {"name": "prune-rules"},
        "model": {"id": "org/model"},
        "engine": {"name": "sim", "args": {"gpu-type": "H100"}},
        "deployment": {"mode": "local", "gpus": {"count": 1}},
        "benchmark": {"trafficScenarios": list(scenarios), **benchmark},
        "objective": objective,
        "parameters": {"a": {"type": "int", "low": 1, "high": 1000}},
        "search": {"method": "bayesian", "seed": 0, "maxTrials": 20, "pruning": {}},
    })


OPEN_LOOP = {"load": {"type": "rate", "rates": [1, 2], "arrival": "poisson", "requests": 20}}
BISECT = {"concurrency": {"search": "bisect", "low": 1, "high": 64}}


@pytest.mark.parametrize("exp, judged, rule", [
    (experiment(), A, "one scenario: it is the judged one"),
    (experiment(scenarios=(A, B)), None, "two scenarios, none named: averaged, never pruned"),
    (experiment(scenarios=(A, B), scenario=B), B, "the objective's own scenario"),
    (experiment(bench=OPEN_LOOP, scenario=A), None,
     "open-loop rates are never pruned, even with a named scenario"),
    (experiment(bench=OPEN_LOOP), None, "open-loop rates, one scenario"),
    (experiment(bench=BISECT, scenario=A), None,
     "a concurrency bisection is never pruned, even with a named scenario"),
    (experiment(bench=BISECT), None, "a concurrency bisection, one scenario"),
])
def test_judged_scenario(exp, judged, rule):
    assert judged_scenario(exp) == judged, rule


def _with_metric(exp, metric):
    """An objective on a metric the catalog does not know (validation refuses one; the
    bound must still not guess)."""
    return dataclasses.replace(exp, objective=dataclasses.replace(exp.objective, metric=metric))


@pytest.mark.parametrize("exp, value, level, higher, expected, rule", [
    (experiment(), 10.0, 3, 64, 10.0 * 64 / 3,
     "a served rate grows at most in proportion to the requests in flight (a true division)"),
    (experiment(), 0.5, 4, 64, 8.0, "a rate under 1 still has its bound"),
    (experiment(), 0.0, 4, 64, 0.0, "nothing served stays nothing"),
    (experiment(), -0.5, 4, 64, None, "a negative value is no measurement: no bound"),
    (experiment(), -1.0, 4, 64, None, "a negative value is no measurement: no bound"),
    (_with_metric(experiment(), "no_such_metric"), 5.0, 4, 64, None,
     "a metric the catalog does not know has no bound"),
    (experiment(direction="minimize"), 10.0, 4, 64, None,
     "a served rate minimised: load can only raise it, no bound toward lower"),
    (experiment(metric="ttft.mean"), 80.0, 4, 64, 80.0,
     "a latency minimised is at least what it is now"),
    (experiment(metric="ttft.mean", direction="maximize"), 80.0, 4, 64, None,
     "a latency maximised has no bound"),
    (experiment(metric="output_inference_speed.mean"), 30.0, 4, 64, None,
     "neither a served rate nor a latency: no bound"),
    (experiment(metric="output_inference_speed.mean", direction="minimize"), 30.0, 4, 64,
     None, "neither a served rate nor a latency, minimised: no bound"),
])
def test_reach(exp, value, level, higher, expected, rule):
    got = reach(exp, value, level, higher)
    assert got == (pytest.approx(expected) if expected is not None else None), rule


FOUR = (4, 8, 16, 64)


@pytest.mark.parametrize("exp, seen, expected, rule", [
    # best over levels: every measured level and every bound still open
    (experiment(), {}, None, "nothing measured: no bound"),
    (experiment(), {4: 10.0, 16: 30.0, 64: 20.0}, 30.0,
     "every level measured: the best of them"),
    # max: the highest level's bound, or the last level measured once none is left
    (experiment(concurrency="max", levels=FOUR), {4: 10.0}, 160.0,
     "max: the highest level's bound, not the next level's"),
    (experiment(concurrency="max"), {4: 10.0, 16: 30.0, 64: 20.0}, 20.0,
     "max with every level measured: the highest level's value, not the best"),
    (experiment(metric="ttft.mean", concurrency="max"), {4: 80.0, 16: 90.0}, 90.0,
     "max of a latency: the last level's, not the best level's"),
    # mean: measured and bounds together, a true division
    (experiment(concurrency="mean"), {4: 10.0, 16: 20.0}, (10.0 + 20.0 + 80.0) / 3,
     "mean: the measured levels and the open bounds averaged"),
    (experiment(concurrency="mean"), {16: 40.0}, (40.0 + 160.0) / 2,
     "mean: a level below the last measured one adds no bound"),
    # a fixed level
    (experiment(concurrency=16), {4: 10.0}, 40.0, "a fixed level not reached: its bound"),
    (experiment(concurrency=16), {4: 10.0, 16: 12.0}, 12.0, "a fixed level measured: its value"),
    (experiment(concurrency=16), {4: 10.0, 64: 50.0}, None,
     "a fixed level passed without a value: no bound (a lower level has none)"),
    (experiment(metric="output_inference_speed.mean"), {4: 1.0}, None,
     "a level with no bound ahead: no bound at all"),
])
def test_objective_bound(exp, seen, expected, rule):
    got = objective_bound(exp, seen)
    assert got == (pytest.approx(expected) if expected is not None else None), rule


@pytest.mark.parametrize("exp, bound, best, expected, rule", [
    (experiment(), 96.0, 100.0, False, "within the 5 % margin of the best: kept"),
    (experiment(), 94.0, 100.0, True, "past the margin: out of reach"),
    (experiment(), 95.0, 100.0, False, "exactly at the margin: kept (strictly worse only)"),
    (experiment(metric="ttft.mean"), 104.0, 100.0, False,
     "a latency within 5 % above the best: kept"),
    (experiment(metric="ttft.mean"), 106.0, 100.0, True,
     "a latency past 5 % above the best: out of reach"),
    (experiment(), 50.0, None, False, "no feasible best yet: nothing is out of reach"),
    (experiment(), None, 100.0, False, "no bound: never out of reach"),
    (experiment(), -10.2, -10.0, False, "the margin is the best's size, whatever its sign"),
    (experiment(), -10.6, -10.0, True, "the margin is the best's size, whatever its sign"),
])
def test_out_of_reach(exp, bound, best, expected, rule):
    assert out_of_reach(exp, bound, best, 0.05) is expected, rule
