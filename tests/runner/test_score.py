"""Scoring, feasibility, ranking and Pareto front: the rules a tuning run's answer rests on."""

from __future__ import annotations

import math

import pytest
from tuneops.runner import bench, rankings, score
from tuneops.runner.results import (
    CANCELLED,
    COMPLETED,
    FAILED_BENCHMARK,
    FAILED_CONFIG,
    FAILED_INFRA,
    TrialResult,
)

from tests.paths import TESTS
from tuneops.spec import from_document

FIXTURES = TESTS / "fixtures" / "genai_bench"


def make_exp(objective: dict | None = None, slos: list | None = None, scenarios=None,
             levels=None):
    return from_document({
        "metadata": {"name": "score-test"},
        "model": {"id": "org/m", "tokenizer": "assets/tokenizer"},
        "engine": {"name": "sim", "version": "0.5.23"},
        "deployment": {"mode": "local", "gpus": {"count": 1, "type": "H100"}},
        "parameters": {"max-running-requests": [8, 64]},
        "benchmark": {"trafficScenarios": scenarios or ["D(100,100)"],
                      "concurrency": levels or [1, 4, 16], "maxTimePerRun": 1,
                      "maxRequestsPerRun": 10},
        "objective": objective or {"metric": "output_throughput_per_gpu"},
        "slos": slos if slos is not None else [{"metric": "ttft.p99", "max": 500}],
    })


def m(tput: dict[int, float], ttft: dict[int, float], scenario="D(100,100)"):
    return {scenario: {c: {"output_throughput_per_gpu": tput[c], "ttft.p99": ttft[c]}
                       for c in tput}}


def trial(i, metrics=None, status=COMPLETED, exp=None):
    r = TrialResult(trial_id=f"t{i}", index=i, params={"x": i}, args={}, status=status,
                    metrics=metrics or {})
    if status == COMPLETED and exp is not None:
        r.score = score.score_trial(exp, r.metrics)
    return r


# ---------------------------------------------------------------- objective points


def test_best_feasible_picks_best_level_meeting_every_slo():
    exp = make_exp()
    s = score.score_trial(exp, m({1: 100, 4: 300, 16: 900}, {1: 50, 4: 200, 16: 800}))
    assert (s.objective, s.concurrency, s.feasible) == (300, 4, True)
    assert s.max_feasible_concurrency == 4
    assert s.violation == 0.0 and all(c.met for c in s.slo_checks)


def test_best_feasible_with_no_feasible_level_reports_least_violation():
    exp = make_exp()
    s = score.score_trial(exp, m({1: 100, 4: 300}, {1: 600, 4: 1000}))
    assert not s.feasible
    assert s.concurrency == 1
    assert s.violation == pytest.approx(0.2)  # 600 vs 500: 20 % over
    assert s.slo_checks[0].value == 600 and s.slo_checks[0].limit == 500
    assert s.max_feasible_concurrency is None


def test_fixed_level_is_judged_at_that_level_only():
    exp = make_exp({"metric": "output_throughput_per_gpu", "concurrency": 16})
    s = score.score_trial(exp, m({1: 100, 4: 300, 16: 900}, {1: 50, 4: 200, 16: 800}))
    assert (s.objective, s.concurrency, s.feasible) == (900, 16, False)
    assert s.violation == pytest.approx(0.6)
    assert s.max_feasible_concurrency == 4


def test_fixed_level_not_measured_is_infeasible_not_an_error():
    exp = make_exp({"metric": "output_throughput_per_gpu", "concurrency": 64})
    s = score.score_trial(exp, m({1: 100}, {1: 50}))
    assert s.objective is None and not s.feasible and math.isinf(s.violation)


def test_mean_requires_every_level_feasible():
    exp = make_exp({"metric": "output_throughput_per_gpu", "concurrency": "mean"})
    ok = score.score_trial(exp, m({1: 100, 4: 300}, {1: 50, 4: 200}))
    assert ok.objective == 200 and ok.feasible and ok.concurrency is None
    bad = score.score_trial(exp, m({1: 100, 4: 300}, {1: 50, 4: 700}))
    assert bad.objective == 200 and not bad.feasible and bad.violation == pytest.approx(0.4)


def test_max_is_the_highest_concurrency_level():
    exp = make_exp({"metric": "output_throughput_per_gpu", "concurrency": "max"})
    s = score.score_trial(exp, m({1: 100, 4: 300, 16: 250}, {1: 50, 4: 60, 16: 70}))
    assert (s.objective, s.concurrency, s.feasible) == (250, 16, True)


def test_minimize_objective_best_feasible_picks_lowest():
    exp = make_exp({"metric": "ttft.p99", "direction": "minimize"},
                   slos=[{"metric": "output_throughput_per_gpu", "min": 150}])
    s = score.score_trial(exp, m({1: 100, 4: 300, 16: 900}, {1: 50, 4: 200, 16: 800}))
    assert (s.objective, s.concurrency) == (200, 4)  # level 1 fails the throughput floor


def test_min_slo_violation_is_relative():
    exp = make_exp(slos=[{"metric": "output_throughput_per_gpu", "min": 200}])
    s = score.score_trial(exp, m({1: 150}, {1: 10}))
    assert not s.feasible and s.violation == pytest.approx(0.25)


def test_zero_limit_uses_absolute_violation():
    exp = make_exp(slos=[{"metric": "error_rate", "max": 0}])
    metrics = {"D(100,100)": {1: {"output_throughput_per_gpu": 10.0, "error_rate": 0.05}}}
    s = score.score_trial(exp, metrics)
    assert not s.feasible and s.violation == pytest.approx(0.05)


def test_scenarios_objective_averaged_slo_worst_case():
    exp = make_exp(scenarios=["A", "B"])
    metrics = {**m({1: 100}, {1: 100}, "A"), **m({1: 300}, {1: 400}, "B")}
    s = score.score_trial(exp, metrics)
    assert s.objective == 200 and s.feasible
    assert s.slo_checks[0].value == 400  # the worse scenario counts
    metrics["B"][1]["ttft.p99"] = 600
    assert not score.score_trial(exp, metrics).feasible


def test_named_scenario_ignores_others():
    exp = make_exp({"metric": "output_throughput_per_gpu", "scenario": "A"}, scenarios=["A", "B"])
    metrics = {**m({1: 100}, {1: 100}, "A"), **m({1: 300}, {1: 900}, "B")}
    s = score.score_trial(exp, metrics)
    assert s.objective == 100 and s.feasible


@pytest.mark.parametrize("bad", [float("nan"), None])
def test_nan_or_missing_slo_metric_is_never_feasible(bad):
    exp = make_exp()
    metrics = m({1: 100}, {1: 0})
    if bad is None:
        del metrics["D(100,100)"][1]["ttft.p99"]
    else:
        metrics["D(100,100)"][1]["ttft.p99"] = bad
    s = score.score_trial(exp, metrics)
    assert not s.feasible and s.slo_checks[0].value is None and math.isinf(s.violation)


def test_nan_objective_is_not_feasible():
    exp = make_exp()
    s = score.score_trial(exp, m({1: float("nan")}, {1: 10}))
    assert s.objective is None and not s.feasible


def test_empty_metrics_score_is_infeasible():
    s = score.score_trial(make_exp(), {})
    assert s.objective is None and not s.feasible


def test_scores_real_genai_bench_results():
    exp = make_exp(slos=[{"metric": "ttft.p99", "max": 10_000}],
                   scenarios=["D(20,10)", "N(30,5)/(8,2)", "U(10,30)/(4,12)"], levels=[1, 2])
    outcome = bench.parse_results(FIXTURES / "ok")
    s = score.score_trial(exp, outcome.metrics)
    assert s.feasible and s.concurrency in (1, 2)
    expected = sum(outcome.metrics[sc][s.concurrency]["output_throughput_per_gpu"]
                   for sc in outcome.metrics) / 3
    assert s.objective == pytest.approx(expected)


# ---------------------------------------------------------------- ranking


@pytest.mark.parametrize("dirn", ["maximize", "minimize"])
def test_ranking_feasible_then_infeasible_then_failed_both_directions(dirn):
    exp = make_exp({"metric": "output_throughput_per_gpu", "direction": dirn})
    feasible_lo = trial(0, m({1: 100}, {1: 100}), exp=exp)
    feasible_hi = trial(1, m({1: 400}, {1: 100}), exp=exp)
    slightly_over = trial(2, m({1: 9000}, {1: 550}), exp=exp)
    far_over = trial(3, m({1: 1}, {1: 5000}), exp=exp)
    failed = [trial(4, status=FAILED_CONFIG), trial(5, status=FAILED_INFRA),
              trial(6, status=CANCELLED), trial(7, status=FAILED_BENCHMARK)]
    ranked = rankings.rank([*failed, far_over, slightly_over, feasible_lo, feasible_hi], exp)
    ids = [r.trial_id for r in ranked]
    good = ["t1", "t0"] if dirn == "maximize" else ["t0", "t1"]
    assert ids[:2] == good
    assert ids[2:4] == ["t2", "t3"]  # least violation first, whatever its throughput
    assert ids[4:] == ["t7", "t5", "t4", "t6"]
    assert rankings.best(ranked).trial_id == good[0]


def test_failures_never_outrank_when_nothing_is_feasible():
    exp = make_exp({"metric": "ttft.p99", "direction": "minimize"}, slos=[])
    fail = trial(0, status=FAILED_CONFIG)
    ok = trial(1, m({1: 100}, {1: 100}), exp=exp)
    ranked = rankings.rank([fail, ok], exp)
    assert [r.trial_id for r in ranked] == ["t1", "t0"]
    assert rankings.best([fail]) is None


def test_rank_scores_unscored_completed_trials_without_mutating():
    exp = make_exp()
    raw = trial(0, m({1: 100}, {1: 100}))
    ranked = rankings.rank([raw], exp)
    assert raw.score is None and ranked[0].score.feasible


def test_rank_ties_are_deterministic_by_index():
    exp = make_exp()
    a, b = trial(2, m({1: 100}, {1: 1}), exp=exp), trial(1, m({1: 100}, {1: 1}), exp=exp)
    assert [r.trial_id for r in rankings.rank([a, b], exp)] == ["t1", "t2"]


def test_constraint_sign():
    exp = make_exp()
    ok = score.score_trial(exp, m({1: 100}, {1: 400}))
    bad = score.score_trial(exp, m({1: 100}, {1: 750}))
    assert score.constraint(ok) == 0.0
    assert score.constraint(bad) == pytest.approx(0.5)
    assert score.constraint(None) > 0


# ---------------------------------------------------------------- Pareto


def test_pareto_front_over_throughput_and_ttft():
    exp = make_exp(slos=[])
    pts = {0: (100, 50), 1: (300, 200), 2: (250, 300), 3: (300, 150), 4: (50, 40)}
    results = [trial(i, m({1: x}, {1: y}), exp=exp) for i, (x, y) in pts.items()]
    results.append(trial(9, status=FAILED_CONFIG))
    front = {r.trial_id for r in rankings.pareto_front(results)}
    assert front == {"t0", "t3", "t4"}  # t1 is beaten by t3, t2 by t3


def test_pareto_indices_respects_directions():
    pts = [(1.0, 1.0), (2.0, 2.0)]
    assert rankings.pareto_indices(pts, ("maximize", "maximize")) == [1]
    assert rankings.pareto_indices(pts, ("minimize", "minimize")) == [0]
    assert rankings.pareto_indices(pts, ("maximize", "minimize")) == [0, 1]


# ---------------------------------------------------------------- noise: intervals, ties


def spread(tput: tuple[float, float], ttft: tuple[float, float], n=3, requests=None,
           scenario="D(100,100)", level=1):
    """spread[scenario][level] with the given (low, high) bounds."""
    def sp(lo, hi, method="repeats", k=n):
        return {"mean": (lo + hi) / 2, "low": lo, "high": hi, "n": k, "method": method}
    ttft_sp = sp(*ttft, method="bootstrap", k=requests) if requests else sp(*ttft)
    return {scenario: {level: {"output_throughput_per_gpu": sp(*tput), "ttft.p99": ttft_sp}}}


def scored(i, tput, ttft, sp, exp):
    r = TrialResult(trial_id=f"t{i}", index=i, params={"x": i}, args={}, status=COMPLETED,
                    metrics=m({1: tput}, {1: ttft}), spread=sp)
    r.score = score.score_result(exp, r)
    return r


@pytest.mark.parametrize(("bounds", "verdict", "trial_verdict"), [
    ((300, 450), "met", "feasible"),  # the whole interval under 500 ms
    ((520, 700), "violated", "infeasible"),  # wholly over
    ((400, 600), "uncertain", "uncertain"),  # straddles the limit
])
def test_slo_verdict_comes_from_the_interval(bounds, verdict, trial_verdict):
    exp = make_exp()
    s = score.score_trial(exp, m({1: 100}, {1: sum(bounds) / 2}),
                          spread((90, 110), bounds, requests=400))
    check = s.slo_checks[0]
    assert check.verdict == verdict and (check.low, check.high) == bounds
    assert s.verdict == trial_verdict
    assert (s.objective_low, s.objective_high) == (90, 110)


def test_a_p99_from_too_few_requests_is_uncertain_even_inside_the_limit():
    exp = make_exp()
    s = score.score_trial(exp, m({1: 100}, {1: 100}), spread((90, 110), (80, 120), requests=30))
    check = s.slo_checks[0]
    assert (check.requests, check.min_requests) == (30, 100)
    assert check.verdict == "uncertain" and s.verdict == "uncertain"
    assert s.feasible  # the point estimate still meets it: ranked, but flagged


def test_without_spread_the_verdict_is_the_point_estimate():
    exp = make_exp()
    s = score.score_trial(exp, m({1: 100}, {1: 100}))
    assert s.slo_checks[0].verdict == "met" and s.objective_low is None


def test_overlapping_objective_intervals_form_the_tie_set():
    exp = make_exp()
    a = scored(0, 500, 100, spread((480, 520), (90, 110)), exp)
    b = scored(1, 495, 100, spread((470, 515), (90, 110)), exp)  # overlaps a
    c = scored(2, 300, 100, spread((290, 310), (90, 110)), exp)  # clearly behind
    # infeasible (ttft over 500), its interval overlapping the best's: still never tied
    bad = scored(3, 510, 900, spread((490, 530), (880, 920)), exp)
    rk = rankings.ranking([c, bad, b, a], exp)
    assert rk.best.trial_id == "t0"
    assert rk.tie_ids == ["t0", "t1"]
    assert not rk.separated and rk.spread_known
    alone = rankings.ranking([a, c], exp)
    assert alone.tie_ids == ["t0"] and alone.separated


def test_single_measurements_never_claim_separation():
    exp = make_exp()
    a, b = trial(0, m({1: 500}, {1: 100}), exp=exp), trial(1, m({1: 300}, {1: 100}), exp=exp)
    rk = rankings.ranking([a, b], exp)
    assert rk.best.trial_id == "t0" and not rk.spread_known and not rk.separated


def test_one_pareto_rule_for_every_writer():
    """Axes: throughput = the objective, latency = the first latency SLO (else ttft.p99);
    a latency objective keeps throughput on the other axis."""
    exp = make_exp(slos=[{"metric": "tpot.p50", "max": 50}])
    assert rankings.pareto_axes(exp) == ("output_throughput_per_gpu", "tpot.p50")
    lat = make_exp({"metric": "ttft.p99", "direction": "minimize"}, slos=[])
    assert rankings.pareto_axes(lat) == ("output_throughput_per_gpu", "ttft.p99")
    rk = rankings.ranking([], make_exp())
    assert rk.pareto_axes == ("output_throughput_per_gpu", "ttft.p99")


def test_an_slo_bounded_on_both_sides_is_judged_on_both():
    """`{metric, max, min}` is two SLOs: before, the min of such an entry was never checked."""
    exp = make_exp(slos=[{"metric": "ttft.p99", "max": 500, "min": 100}])
    assert [(s.bound, s.limit) for s in exp.slos] == [("max", 500), ("min", 100)]
    too_fast = score.score_trial(exp, m({1: 100}, {1: 50}))
    assert not too_fast.feasible
    assert [c.met for c in too_fast.slo_checks] == [True, False]
    assert too_fast.violation == pytest.approx(0.5)  # (100 - 50) / 100
    assert score.score_trial(exp, m({1: 100}, {1: 300})).feasible
