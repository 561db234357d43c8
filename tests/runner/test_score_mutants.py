"""The scoring rules, case by case, written to kill the small plausible bugs mutation testing
found passing tests/runner/test_score.py (`make mutation MODULES=score`): each test names the
rule it pins. Pure functions on hand-made metrics; no fixtures."""

from __future__ import annotations

import math

import pytest
from tuneops.runner import rankings, score
from tuneops.runner.results import (
    CANCELLED,
    COMPLETED,
    FAILED_BENCHMARK,
    FAILED_CONFIG,
    FAILED_INFRA,
    Score,
    SloCheck,
    TrialResult,
)

from tuneops.metrics import Bound, UnknownMetric
from tuneops.spec import Objective, Slo

TPUT, TTFT, ERR = "output_throughput", "ttft.p99", "error_rate"


def obj(concurrency="best_feasible", direction="maximize", metric=TPUT, scenario=None):
    return Objective(metric, direction, concurrency, scenario)


def metrics(**scenarios: dict[int, dict[str, float]]):
    return {name.replace("_", "-"): by_c for name, by_c in scenarios.items()}


def result(i, status=COMPLETED, sc=None, mets=None):
    return TrialResult(f"t{i}", i, {"x": i}, {"x": i}, status, score=sc, metrics=mets or {})


def s(objective, feasible=True, violation=0.0, level=1):
    return Score(objective, feasible, violation, level, level if feasible else None, [])


# ---------------------------------------------------------------- values and views

@pytest.mark.parametrize("value,expected", [
    (True, None), (False, None), ("3", None), (None, None), (math.inf, None),
    (-math.inf, None), (math.nan, None), (3, 3.0), (0, 0.0), (-2.5, -2.5),
])
def test_finite(value, expected):
    got = score._finite(value)
    assert got == expected and (got is None or type(got) is float)


def test_direction_of_known_and_unknown_metrics():
    assert score.direction("ttft.p99") == "minimize"
    assert score.direction("output_throughput") == "maximize"
    with pytest.raises(UnknownMetric, match="did you mean ttft.p99"):
        score.direction("ttft.p999")  # unknown names are refused, not guessed


def test_levels_of_one_scenario_or_of_all():
    mets = metrics(a={4: {}, 1: {}}, b={16: {}, 1: {}})
    assert score.levels(mets) == [1, 4, 16]
    assert score.levels(mets, "a") == [1, 4]
    assert score.levels(mets, "missing") == []


def test_objective_value_of_a_scenario_or_the_mean_of_those_that_measured_it():
    mets = metrics(a={1: {TPUT: 10.0}}, b={1: {TPUT: 30.0}}, c={1: {}}, d={2: {TPUT: 99.0}})
    assert score.objective_value(mets, TPUT, 1, None) == 20.0  # c and d do not count
    assert score.objective_value(mets, TPUT, 1, "b") == 30.0
    assert score.objective_value(mets, TPUT, 3, None) is None
    assert score.objective_value(mets, TPUT, 1, "c") is None


def test_slo_over_scenarios_takes_the_worst_one_for_either_bound():
    mets = metrics(a={1: {TTFT: 100.0, TPUT: 50.0}}, b={1: {TTFT: 300.0, TPUT: 20.0}})
    assert score.slo_value(mets, Slo(TTFT, max=200), 1, None) == 300.0  # max bound: highest
    assert score.slo_value(mets, Slo(TPUT, min=30), 1, None) == 20.0  # min bound: lowest
    assert score.slo_value(mets, Slo(TPUT, min=30), 1, "a") == 50.0
    mets["c"] = {1: {TPUT: 40.0}}  # c did not measure TTFT: unknown, not the worst of a, b
    assert score.slo_value(mets, Slo(TTFT, max=200), 1, None) is None
    assert score.slo_value({}, Slo(TTFT, max=200), 1, None) is None


def test_a_min_slo_fails_when_any_scenario_falls_short():
    mets = metrics(a={1: {TPUT: 50.0}}, b={1: {TPUT: 20.0}})
    got = score.score_metrics(mets, obj(), [Slo(TPUT, min=30)])
    assert not got.feasible and got.slo_checks[0].value == 20.0


# ---------------------------------------------------------------- SLO checks

@pytest.mark.parametrize("slo,value,violation", [
    (Slo(TTFT, max=500), 600.0, 0.2),
    (Slo(TTFT, max=500), 500.0, 0.0),
    (Slo(TTFT, max=500), 100.0, 0.0),
    (Slo(TPUT, min=100), 80.0, 0.2),
    (Slo(TPUT, min=100), 120.0, 0.0),
    (Slo(TPUT, min=-10), -15.0, 0.5),  # relative to |limit|: a negative limit too
    (Slo(TPUT, max=-10), -5.0, 0.5),
    (Slo(ERR, max=0), 0.25, 0.25),  # limit 0: absolute
    (Slo(ERR, min=0), -0.5, 0.5),
])
def test_relative_violation(slo, value, violation):
    check = score.check_slo(slo, value)
    assert check.violation == pytest.approx(violation) and check.violation >= 0
    assert check.met is (violation == 0)
    assert (check.metric, check.value) == (slo.metric, value)
    assert (check.bound, check.limit) == (("max", slo.max) if slo.max is not None
                                          else ("min", slo.min))
    assert type(check.limit) is float


def test_an_unmeasured_slo_is_an_infinite_violation():
    check = score.check_slo(Slo(TTFT, min=5), None)
    assert check.violation == math.inf and not check.met and check.bound == "min"


# ---------------------------------------------------------------- choosing the point

MULTI = metrics(x={
    1: {TPUT: 10.0, TTFT: 100.0},
    4: {TPUT: 30.0, TTFT: 400.0},
    16: {TPUT: 50.0, TTFT: 900.0},
})


def test_best_feasible_level_and_the_highest_feasible_level():
    got = score.score_metrics(MULTI, obj(), [Slo(TTFT, max=500)])
    assert (got.objective, got.concurrency, got.feasible) == (30.0, 4, True)
    assert got.max_feasible_concurrency == 4 and got.violation == 0.0


def test_best_feasible_minimizing_picks_the_lowest():
    got = score.score_metrics(MULTI, obj(direction="minimize", metric=TTFT),
                              [Slo(TTFT, max=500)])
    assert (got.objective, got.concurrency) == (100.0, 1)


def test_best_feasible_skips_feasible_levels_without_an_objective_value():
    mets = metrics(x={1: {TPUT: 10.0, TTFT: 1.0}, 4: {TTFT: 1.0}, 8: {TPUT: 5.0, TTFT: 1.0}})
    got = score.score_metrics(mets, obj(), [Slo(TTFT, max=5)])
    assert (got.objective, got.concurrency, got.feasible) == (10.0, 1, True)


@pytest.mark.parametrize("direction,level", [("maximize", 16), ("minimize", 4)])
def test_with_nothing_feasible_the_tie_goes_to_the_better_objective(direction, level):
    # both 4 and 16 miss the SLO by the same relative amount; 1 misses by more
    mets = metrics(x={1: {TPUT: 1.0, TTFT: 3000.0}, 4: {TPUT: 30.0, TTFT: 200.0},
                      16: {TPUT: 50.0, TTFT: 200.0}})
    got = score.score_metrics(mets, obj(direction=direction), [Slo(TTFT, max=100)])
    assert got.concurrency == level and not got.feasible
    assert got.violation == pytest.approx(1.0) and got.max_feasible_concurrency is None


def test_with_nothing_feasible_the_least_violation_wins_over_a_better_objective():
    mets = metrics(x={1: {TPUT: 1.0, TTFT: 110.0}, 4: {TPUT: 99.0, TTFT: 300.0}})
    got = score.score_metrics(mets, obj(), [Slo(TTFT, max=100)])
    assert got.concurrency == 1 and got.violation == pytest.approx(0.1)


def test_with_nothing_feasible_a_level_without_objective_loses_the_tie():
    mets = metrics(x={1: {TTFT: 200.0}, 4: {TPUT: 5.0, TTFT: 200.0}})
    for direction in ("maximize", "minimize"):
        got = score.score_metrics(mets, obj(direction=direction), [Slo(TTFT, max=100)])
        assert got.concurrency == 4


@pytest.mark.parametrize("level", [4, "4"])
def test_a_fixed_level(level):
    got = score.score_metrics(MULTI, obj(concurrency=level), [Slo(TTFT, max=500)])
    assert (got.objective, got.concurrency, got.feasible) == (30.0, 4, True)
    got = score.score_metrics(MULTI, obj(concurrency=level), [Slo(TTFT, max=300)])
    assert not got.feasible and got.objective == 30.0
    assert got.violation == pytest.approx(1 / 3) and got.max_feasible_concurrency == 1


def test_a_fixed_level_never_measured():
    got = score.score_metrics(MULTI, obj(concurrency=2), [Slo(TTFT, max=500)])
    assert got.objective is None and not got.feasible and got.concurrency == 2
    assert got.violation == math.inf and got.max_feasible_concurrency == 4


def test_max_takes_the_highest_level():
    got = score.score_metrics(MULTI, obj(concurrency="max"), [Slo(TTFT, max=1000)])
    assert (got.objective, got.concurrency, got.feasible) == (50.0, 16, True)
    empty = score.score_metrics({}, obj(concurrency="max"), [Slo(TTFT, max=1)])
    assert empty.objective is None and not empty.feasible and empty.concurrency is None


def test_mean_over_levels_and_its_worst_level_checks():
    got = score.score_metrics(MULTI, obj(concurrency="mean"), [Slo(TTFT, max=1000)])
    assert got.objective == pytest.approx(30.0) and got.feasible and got.violation == 0.0
    assert got.concurrency is None and got.max_feasible_concurrency == 16
    bad = score.score_metrics(MULTI, obj(concurrency="mean"), [Slo(TTFT, max=500)])
    assert not bad.feasible and bad.objective == pytest.approx(30.0)
    assert bad.violation == pytest.approx(0.8)  # the worst level, 16
    assert [c.value for c in bad.slo_checks] == [900.0]
    assert bad.max_feasible_concurrency == 4


def test_mean_skips_levels_without_the_objective_and_needs_some_level():
    mets = metrics(x={1: {TPUT: 10.0, TTFT: 1.0}, 4: {TTFT: 1.0}, 8: {TPUT: 20.0, TTFT: 1.0}})
    got = score.score_metrics(mets, obj(concurrency="mean"), [Slo(TTFT, max=5)])
    assert got.objective == pytest.approx(15.0) and got.feasible
    none = score.score_metrics({}, obj(concurrency="mean"), [Slo(TTFT, max=5)])
    assert none.objective is None and not none.feasible
    novalue = score.score_metrics(metrics(x={1: {TTFT: 1.0}}), obj(concurrency="mean"),
                                  [Slo(TTFT, max=5)])
    assert novalue.objective is None and not novalue.feasible


def test_named_scenario_for_objective_and_slos():
    mets = metrics(a={1: {TPUT: 10.0, TTFT: 50.0}}, b={1: {TPUT: 90.0, TTFT: 5000.0}})
    got = score.score_metrics(mets, obj(scenario="a"), [Slo(TTFT, max=100)])
    assert (got.objective, got.feasible) == (10.0, True)
    both = score.score_metrics(mets, obj(), [Slo(TTFT, max=100)])
    assert not both.feasible and both.objective == pytest.approx(50.0)


def test_feasibility_needs_every_slo():
    mets = metrics(x={1: {TPUT: 10.0, TTFT: 50.0, ERR: 0.5}})
    got = score.score_metrics(mets, obj(concurrency=1), [Slo(TTFT, max=100), Slo(ERR, max=0.1)])
    assert not got.feasible and got.violation == pytest.approx(4.0)
    assert [c.met for c in got.slo_checks] == [True, False]


# ---------------------------------------------------------------- optimizer constraints

def test_constraint_is_zero_when_feasible_else_the_violation():
    """What the Bayesian searcher tells Optuna (runner/search/bayesian.py calls it)."""
    assert score.constraint(None) == 1.0
    assert score.constraint(Score(2.0, True, 0.0, 1, 1, [])) == 0.0
    assert score.constraint(Score(3.0, False, 0.7, 1, None, [])) == 0.7
    assert score.constraint(Score(None, False, math.inf, 1, None, [])) == math.inf
    assert score.constraint(Score(None, False, 0.0, 1, None, [])) == 1.0  # how far: unknown


# ---------------------------------------------------------------- ranking

def key(r, dirn="maximize"):
    return rankings.rank_key(r, dirn)


def test_rank_key_groups_and_orders():
    feasible = result(5, sc=s(10.0))
    infeasible = result(6, sc=s(99.0, feasible=False, violation=0.5))
    unscored = result(7)
    assert key(feasible) == (0, -10.0, 0.0, 5, "t5")
    assert key(feasible, "minimize") == (0, 10.0, 0.0, 5, "t5")
    assert key(infeasible) == (1, 0.5, -99.0, 6, "t6")
    assert key(unscored) == (2, math.inf, 0.0, 7, "t7")
    assert key(result(1, FAILED_BENCHMARK))[:2] == (3, 0)
    assert key(result(1, FAILED_INFRA))[:2] == (3, 1)
    assert key(result(1, FAILED_CONFIG))[:2] == (3, 2)
    assert key(result(1, CANCELLED))[:2] == (3, 3)
    assert key(result(1, "unknown-status"))[:2] == (3, 9)


def test_feasible_without_objective_ranks_as_infeasible():
    r = result(1, sc=s(None, feasible=True, violation=math.nan))
    assert key(r) == (1, math.inf, math.inf, 1, "t1")


@pytest.mark.parametrize("dirn", ["maximize", "minimize"])
def test_infeasible_ties_on_violation_go_to_the_better_objective(dirn):
    lo = result(0, sc=s(10.0, feasible=False, violation=0.3))
    hi = result(1, sc=s(20.0, feasible=False, violation=0.3))
    worse = result(2, sc=s(99.0, feasible=False, violation=0.4))
    ranked = sorted([worse, lo, hi], key=lambda r: key(r, dirn))
    assert [r.index for r in ranked] == ([1, 0, 2] if dirn == "maximize" else [0, 1, 2])


def _exp(direction="maximize"):
    from tuneops.spec import from_document

    return from_document({
        "metadata": {"name": "rank"}, "model": {"id": "org/m"},
        "engine": {"name": "sim"}, "deployment": {"mode": "local", "gpus": {"count": 1}},
        "parameters": {"a": [1, 2]},
        "benchmark": {"trafficScenarios": ["D(1,1)"], "concurrency": [1]},
        "objective": {"metric": TPUT, "direction": direction},
        "slos": [{"metric": TTFT, "max": 100}],
    })


def test_rank_scores_unscored_results_and_best_is_the_first_feasible():
    measured = result(3, mets=metrics(x={1: {TPUT: 7.0, TTFT: 50.0}}))
    failing = result(0, sc=s(100.0, feasible=False, violation=0.1))
    empty = result(4)  # completed, nothing measured: stays unscored
    ranked = rankings.rank([failing, empty, measured], _exp())
    assert [r.index for r in ranked] == [3, 0, 4]
    assert ranked[0].score.objective == 7.0 and measured.score is None  # copied, not mutated
    assert ranked[2].score is None
    assert rankings.best(ranked) is ranked[0]
    assert rankings.best([failing, empty]) is None
    assert rankings.best([]) is None


def test_rank_uses_the_experiments_direction():
    a, b = result(0, sc=s(1.0)), result(1, sc=s(2.0))
    assert [r.index for r in rankings.rank([a, b], _exp("minimize"))] == [0, 1]
    assert [r.index for r in rankings.rank([a, b], _exp("maximize"))] == [1, 0]


def test_is_feasible():
    assert rankings.is_feasible(result(0, sc=s(1.0)))
    assert not rankings.is_feasible(result(0, sc=s(math.nan)))
    assert not rankings.is_feasible(result(0, sc=s(1.0, feasible=False)))
    assert not rankings.is_feasible(result(0))
    assert not rankings.is_feasible(result(0, FAILED_CONFIG, sc=s(1.0)))


# ---------------------------------------------------------------- Pareto

def test_pareto_keeps_duplicates_and_drops_only_the_dominated():
    pts = [(10.0, 5.0), (10.0, 5.0), (8.0, 4.0), (10.0, 6.0), (12.0, 9.0), (7.0, 9.0)]
    # x maximized, y minimized: both copies of (10,5) stay; (10,6) loses to (10,5) on y
    # alone, (7,9) to (12,9) on x alone; (8,4) has the lowest y, (12,9) the highest x.
    assert rankings.pareto_indices(pts, ("maximize", "minimize")) == [0, 1, 2, 4]
    assert rankings.pareto_indices(pts, ("maximize", "maximize")) == [4]
    assert rankings.pareto_indices(pts, ("minimize", "minimize")) == [2, 5]
    assert rankings.pareto_indices([], ("maximize", "minimize")) == []
    assert rankings.pareto_indices([(1.0, 1.0)], ("minimize", "maximize")) == [0]


def test_point_value_at_the_scored_level_or_the_mean():
    mets = metrics(x={1: {TPUT: 10.0}, 4: {TPUT: 30.0}}, y={1: {TPUT: 20.0}})
    scored = result(0, sc=s(30.0, level=4), mets=mets)
    assert rankings.point_value(scored, TPUT) == 30.0
    assert rankings.point_value(result(0, mets=mets), TPUT) == pytest.approx(22.5)  # (15+30)/2
    assert rankings.point_value(result(0, mets=mets), TPUT, "y") == 20.0
    assert rankings.point_value(result(0), TPUT) is None
    assert rankings.point_value(result(0, mets=mets), "missing") is None


def test_pareto_front_over_completed_measured_trials():
    def r(i, tput, ttft, status=COMPLETED):
        return result(i, status, mets=metrics(x={1: {TPUT: tput, TTFT: ttft}}))

    trials = [r(0, 10.0, 100.0), r(1, 20.0, 100.0), r(2, 5.0, 50.0),
              r(3, 99.0, 1.0, FAILED_INFRA), r(4, 20.0, 100.0),
              result(5, mets=metrics(x={1: {TPUT: 50.0}}))]
    front = rankings.pareto_front(trials, TPUT, TTFT)
    assert [t.index for t in front] == [1, 2, 4]
    by_scenario = rankings.pareto_front(trials, TPUT, TTFT, scenario="missing")
    assert by_scenario == []


# ---------------------------------------------------------------- values read from files
# Directions, modes, statuses and bounds come out of YAML and JSON parsers as new strings,
# not the interned literals of this file: the rules must compare them by value.

def fresh(text: str) -> str:
    return "".join(list(text))


def test_parsed_strings_compare_by_value():
    mets = metrics(x={1: {TPUT: 1.0, TTFT: 200.0}, 4: {TPUT: 5.0, TTFT: 200.0}})
    got = score.score_metrics(mets, obj(direction=fresh("maximize")), [Slo(TTFT, max=100)])
    assert got.concurrency == 4  # the tie among infeasible levels: the better objective
    ok = metrics(x={1: {TPUT: 9.0, TTFT: 1.0}, 4: {TPUT: 5.0, TTFT: 1.0}})
    assert score.score_metrics(ok, obj(direction=fresh("maximize")),
                               [Slo(TTFT, max=100)]).concurrency == 1
    assert score.score_metrics(ok, obj(concurrency=fresh("max")), []).concurrency == 4
    mean = score.score_metrics(ok, obj(concurrency=fresh("mean")), [])
    assert mean.concurrency is None and mean.objective == 7.0
    assert key(result(0, fresh(COMPLETED), sc=s(2.0)), fresh("maximize"))[:2] == (0, -2.0)
    assert rankings.is_feasible(result(0, fresh(COMPLETED), sc=s(2.0)))
    measured = result(0, fresh(COMPLETED), mets=metrics(x={1: {TPUT: 3.0, TTFT: 1.0}}))
    assert rankings.rank([measured], _exp())[0].score is not None
    front = rankings.pareto_front([result(0, fresh(COMPLETED),
                                       mets=metrics(x={1: {TPUT: 1.0, TTFT: 1.0}}))], TPUT, TTFT)
    assert len(front) == 1
    check = SloCheck(TTFT, 100.0, fresh("max"), 150.0, 0.5)
    assert check.bound is Bound.MAX
    assert score.constraint(Score(1.0, False, 0.5, 1, None, [check])) == 0.5


def test_equal_objectives_keep_the_lowest_level_and_a_worse_later_level_never_wins():
    flat = metrics(x={1: {TPUT: 5.0, TTFT: 1.0}, 4: {TPUT: 5.0, TTFT: 1.0}})
    assert score.score_metrics(flat, obj(), [Slo(TTFT, max=9)]).concurrency == 1
    assert score.score_metrics(flat, obj(direction="minimize"), [Slo(TTFT, max=9)]) \
        .concurrency == 1
    falling = metrics(x={1: {TPUT: 9.0, TTFT: 1.0}, 4: {TPUT: 3.0, TTFT: 1.0},
                         8: {TPUT: 6.0, TTFT: 1.0}})
    assert score.score_metrics(falling, obj(), [Slo(TTFT, max=9)]).concurrency == 1
    assert score.score_metrics(falling, obj(direction="minimize"), [Slo(TTFT, max=9)]) \
        .concurrency == 4


def test_the_objectives_direction_beats_the_metrics_default():
    # throughput is maximized by default; an explicit minimize must win
    got = score.score_metrics(MULTI, obj(direction="minimize"), [Slo(TTFT, max=500)])
    assert (got.objective, got.concurrency) == (10.0, 1)
    r1, r2 = result(0, sc=s(1.0)), result(1, sc=s(2.0))
    exp = _exp("minimize")
    assert exp.objective.direction == "minimize"
    assert [r.index for r in rankings.rank([r2, r1], exp)] == [0, 1]


def test_the_mean_is_a_true_division():
    mets = metrics(x={1: {TPUT: 1.0}, 2: {TPUT: 2.0}})
    assert score.score_metrics(mets, obj(concurrency="mean"), []).objective == 1.5
    both = metrics(a={1: {TPUT: 1.0}}, b={1: {TPUT: 2.0}})
    assert score.objective_value(both, TPUT, 1, None) == 1.5
    assert rankings.point_value(result(0, mets=mets), TPUT) == 1.5


def test_pareto_with_fractional_values_and_cancelled_trials():
    pts = [(10.5, 1.0), (10.2, 1.0)]  # the same whole part: only the fraction decides
    assert rankings.pareto_indices(pts, ("maximize", "minimize")) == [0]
    assert rankings.pareto_indices([(1.0, 10.2), (1.0, 10.5)], ("maximize", "minimize")) == [0]

    def r(i, status, tput, ttft):
        return result(i, status, mets=metrics(x={1: {TPUT: tput, TTFT: ttft}}))

    trials = [r(0, CANCELLED, 99.0, 1.0), r(1, COMPLETED, 5.0, 5.0),
              r(2, FAILED_BENCHMARK, 99.0, 1.0)]
    assert [t.index for t in rankings.pareto_front(trials, TPUT, TTFT)] == [1]


def test_rank_scores_only_completed_trials_and_only_completed_trials_are_feasible():
    mets = metrics(x={1: {TPUT: 3.0, TTFT: 1.0}})
    failed = result(0, FAILED_BENCHMARK, mets=mets)  # measured, then failed: stays unscored
    cancelled = result(1, CANCELLED, mets=mets)
    assert all(r.score is None for r in rankings.rank([failed, cancelled], _exp()))
    assert not rankings.is_feasible(result(2, CANCELLED, sc=s(1.0)))
    assert not rankings.is_feasible(result(2, FAILED_INFRA, sc=s(1.0)))


def test_pareto_directions_compare_by_value_and_unmeasured_trials_are_skipped_anywhere():
    pts = [(1.0, 1.0), (2.0, 2.0)]
    assert rankings.pareto_indices(pts, (fresh("maximize"), fresh("maximize"))) == [1]
    assert rankings.pareto_indices(pts, (fresh("minimize"), fresh("minimize"))) == [0]
    no_ttft = result(0, mets=metrics(x={1: {TPUT: 50.0}}))
    ok = result(1, mets=metrics(x={1: {TPUT: 5.0, TTFT: 5.0}}))
    assert rankings.pareto_front([no_ttft, ok], TPUT, TTFT) == [ok]
