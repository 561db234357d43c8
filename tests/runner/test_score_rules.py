"""The rules that decide a run's answer, one table row each: SLO verdicts from intervals and
request counts, a trial's verdict from mixed checks, and who joins the best's tie set.

Written against the public scoring functions only (`score_trial`, `check_slo`,
`trial_verdict`, `ranking`), from experiment documents, so the tables stay valid however
the scoring module is organised inside. Every row names the rule it pins; each table was
checked to fail on the plausible slips of issue 26 (a trial with no interval never tied,
infeasible trials tied, `requests <= need`, "uncertain" checked before "violated", a min
SLO judged on its best scenario), applied by hand to runner/score.py.
"""

from __future__ import annotations

import pytest
from tuneops.runner import rankings, score
from tuneops.runner.results import COMPLETED, TrialResult

from tuneops.metrics import min_requests
from tuneops.spec import from_document

TPUT, TTFT = "output_throughput_per_gpu", "ttft.p99"
NEED = min_requests("p99")  # 100 requests before a p99 says more than the sample's maximum


def make_exp(slos, scenarios=("D(100,100)",), objective=None):
    return from_document({
        "metadata": {"name": "rules"},
        "model": {"id": "org/m", "tokenizer": "assets/tokenizer"},
        "engine": {"name": "sim", "version": "0.5.23"},
        "deployment": {"mode": "local", "gpus": {"count": 1, "type": "H100"}},
        "parameters": {"max-running-requests": [8, 64]},
        "benchmark": {"trafficScenarios": list(scenarios), "concurrency": [1],
                      "maxTimePerRun": 1, "maxRequestsPerRun": 10},
        "objective": objective or {"metric": TPUT},
        "slos": slos,
    })


def sp(lo, hi, n=3, method="repeats"):
    mean = (lo + hi) / 2 if lo is not None and hi is not None else (lo if hi is None else hi)
    return {"mean": mean, "low": lo, "high": hi, "n": n, "method": method}


def point(values: dict[str, float], spreads: dict[str, dict], scenario="D(100,100)"):
    """(metrics, spread) of one scenario at concurrency 1."""
    return {scenario: {1: values}}, {scenario: {1: spreads}}


# ------------------------------------------------------------------ SLO verdicts

MAX = {"metric": TTFT, "max": 500}
MIN = {"metric": TTFT, "min": 100}
# interval placements, per bound: wholly inside the limit, straddling it, wholly past it
PLACES = {
    ("max", "inside"): (300.0, 450.0), ("max", "straddle"): (400.0, 600.0),
    ("max", "past"): (520.0, 700.0),
    ("min", "inside"): (150.0, 300.0), ("min", "straddle"): (50.0, 150.0),
    ("min", "past"): (20.0, 80.0),
}
REQUESTS = {"fewer": NEED - 1, "exactly": NEED, "more": NEED + 300}
# Rules: inside -> met, straddling -> uncertain, past -> violated (the interval decides);
# a percentile from fewer requests than it needs is uncertain unless violated; exactly the
# requests it needs is enough (the rule is `requests < need`, not `<=`).
EXPECTED = {
    ("inside", "fewer"): "uncertain", ("inside", "exactly"): "met", ("inside", "more"): "met",
    ("straddle", "fewer"): "uncertain", ("straddle", "exactly"): "uncertain",
    ("straddle", "more"): "uncertain",
    ("past", "fewer"): "violated", ("past", "exactly"): "violated", ("past", "more"): "violated",
}
TRIAL = {"met": "feasible", "uncertain": "uncertain", "violated": "infeasible"}


@pytest.mark.parametrize("bound", ["max", "min"])
@pytest.mark.parametrize("requests", list(REQUESTS))
@pytest.mark.parametrize("place", ["inside", "straddle", "past"])
def test_slo_verdict_table(bound, requests, place):
    lo, hi = PLACES[(bound, place)]
    exp = make_exp([MAX if bound == "max" else MIN])
    metrics, spread = point({TPUT: 100.0, TTFT: (lo + hi) / 2},
                            {TPUT: sp(90, 110), TTFT: sp(lo, hi, REQUESTS[requests],
                                                           "bootstrap")})
    s = score.score_trial(exp, metrics, spread)
    (check,) = s.slo_checks
    want = EXPECTED[(place, requests)]
    assert (check.low, check.high, check.bound) == (lo, hi, bound)
    assert (check.requests, check.min_requests) == (REQUESTS[requests], NEED)
    assert check.verdict == want, f"{bound} bound, {place}, {requests} requests"
    assert s.verdict == TRIAL[want]


@pytest.mark.parametrize(("bound", "value", "verdict"), [
    ("max", 499.0, "met"),  # no interval: the point estimate decides
    ("max", 500.0, "met"),  # at the limit is within it
    ("max", 501.0, "violated"),
    ("min", 100.0, "met"),
    ("min", 99.0, "violated"),
])
def test_without_an_interval_the_point_decides(bound, value, verdict):
    exp = make_exp([MAX if bound == "max" else MIN])
    s = score.score_trial(exp, {"D(100,100)": {1: {TPUT: 1.0, TTFT: value}}})
    assert s.slo_checks[0].verdict == verdict


@pytest.mark.parametrize(("bound", "scen_a", "scen_b", "verdict"), [
    # Rule: with several scenarios an SLO is judged on its worst scenario's interval: the
    # highest bounds for a max SLO, the lowest for a min SLO (never the best scenario's).
    ("max", (300.0, 450.0), (520.0, 700.0), "violated"),
    ("max", (300.0, 450.0), (400.0, 600.0), "uncertain"),
    ("min", (150.0, 300.0), (20.0, 80.0), "violated"),
    ("min", (150.0, 300.0), (50.0, 150.0), "uncertain"),
    ("min", (150.0, 300.0), (120.0, 200.0), "met"),
])
def test_an_slo_over_scenarios_takes_the_worst_scenarios_interval(bound, scen_a, scen_b,
                                                                   verdict):
    exp = make_exp([MAX if bound == "max" else MIN], scenarios=("A(1,1)", "B(1,1)"))
    metrics, spread = {}, {}
    for name, (lo, hi) in (("A(1,1)", scen_a), ("B(1,1)", scen_b)):
        m, s = point({TPUT: 100.0, TTFT: (lo + hi) / 2},
                     {TPUT: sp(90, 110), TTFT: sp(lo, hi, 400, "bootstrap")}, name)
        metrics |= m
        spread |= s
    check = score.score_trial(exp, metrics, spread).slo_checks[0]
    worst = max if bound == "max" else min
    assert (check.low, check.high) == (worst(scen_a[0], scen_b[0]), worst(scen_a[1], scen_b[1]))
    assert check.verdict == verdict


def test_the_fewest_requests_over_scenarios_decide_sufficiency():
    """Rule: a percentile is only as sure as its least-measured scenario."""
    exp = make_exp([MAX], scenarios=("A(1,1)", "B(1,1)"))
    metrics, spread = {}, {}
    for name, n in (("A(1,1)", 1000), ("B(1,1)", NEED - 1)):
        m, s = point({TPUT: 100.0, TTFT: 200.0},
                     {TPUT: sp(90, 110), TTFT: sp(150, 250, n, "bootstrap")}, name)
        metrics |= m
        spread |= s
    check = score.score_trial(exp, metrics, spread).slo_checks[0]
    assert check.requests == NEED - 1 and check.verdict == "uncertain"


# ------------------------------------------------------------------ a trial's verdict


def _check(verdict: str):
    """A real SloCheck with the given verdict (from check_slo, not built by hand)."""
    slo = make_exp([MAX]).slos[0]
    lo, hi = PLACES[("max", {"met": "inside", "uncertain": "straddle",
                             "violated": "past"}[verdict])]
    c = score.check_slo(slo, (lo + hi) / 2, (lo, hi), 1000)
    assert c.verdict == verdict
    return c


@pytest.mark.parametrize(("verdicts", "objective", "trial"), [
    ((), 1.0, "feasible"),  # no SLO: nothing to miss
    (("met", "met"), 1.0, "feasible"),
    (("met", "uncertain"), 1.0, "uncertain"),  # any uncertain check makes the trial uncertain
    (("uncertain", "violated"), 1.0, "infeasible"),  # violated outranks uncertain
    (("violated", "uncertain"), 1.0, "infeasible"),  # whatever the order of the SLOs
    (("met", "violated", "met"), 1.0, "infeasible"),
    (("met",), None, "infeasible"),  # no objective value: never feasible
    (("uncertain",), None, "infeasible"),
])
def test_trial_verdict_from_mixed_checks(verdicts, objective, trial):
    assert score.trial_verdict(objective, [_check(v) for v in verdicts]) == trial


def test_mixed_verdicts_through_scoring():
    """Two SLOs, one straddling and one wholly past: the trial is infeasible, not uncertain."""
    exp = make_exp([MAX, {"metric": "tpot.p50", "max": 10}])
    metrics, spread = point({TPUT: 100.0, TTFT: 500.0, "tpot.p50": 20.0},
                            {TPUT: sp(90, 110), TTFT: sp(400, 600, 1000, "bootstrap"),
                             "tpot.p50": sp(15, 25, 1000, "bootstrap")})
    s = score.score_trial(exp, metrics, spread)
    assert [c.verdict for c in s.slo_checks] == ["uncertain", "violated"]
    assert s.verdict == "infeasible"


# ------------------------------------------------------------------ the tie set


def result(i, tput, tput_sp, ttft=100.0, exp=None):
    """A measured trial: throughput `tput` with interval `tput_sp` (None: no spread at
    all), ttft.p99 `ttft` judged against the 500 ms SLO."""
    spread = None
    if tput_sp is not None:
        spread = {"D(100,100)": {1: {TPUT: tput_sp, TTFT: sp(ttft - 5, ttft + 5, 1000,
                                                             "bootstrap")}}}
    r = TrialResult(trial_id=f"t{i}", index=i, params={"x": i}, args={}, status=COMPLETED,
                    metrics={"D(100,100)": {1: {TPUT: tput, TTFT: ttft}}}, spread=spread)
    r.score = score.score_result(exp, r)
    return r


TIES = [
    # (rule, other trial: (throughput, its interval or None, ttft), tied with best?)
    ("overlapping intervals tie", (495.0, sp(470, 515), 100.0), True),
    ("disjoint intervals do not", (300.0, sp(290, 310), 100.0), False),
    ("intervals touching at one point tie (closed intervals)", (470.0, sp(440, 480), 100.0),
     True),
    ("no interval: tied when its point lies inside the best's", (490.0, None, 100.0), True),
    ("no interval: not tied when its point lies outside", (470.0, None, 100.0), False),
    ("a one-sided ± is no interval: its point decides (inside)",
     (485.0, sp(470, None), 100.0), True),
    ("a one-sided ± is no interval: its point decides (outside)",
     (460.0, sp(None, 481), 100.0), False),
    ("a ± of 0.0 is an interval: tied when that point is inside",
     (500.0, sp(500, 500), 100.0), True),
    ("a ± of 0.0 is an interval: not tied when it is outside",
     (479.0, sp(479, 479), 100.0), False),
    ("infeasible trials never tie, even overlapping", (505.0, sp(490, 520), 900.0), False),
    ("an uncertain trial is feasible by its point: it ties",
     (495.0, sp(470, 515), 495.0), True),
]


@pytest.mark.parametrize(("rule", "other", "tied"), TIES, ids=[t[0] for t in TIES])
def test_tie_set_table(rule, other, tied):
    exp = make_exp([MAX])
    best = result(0, 500.0, sp(480, 520), exp=exp)
    tput, interval, ttft = other
    o = result(1, tput, interval, ttft, exp=exp)
    behind = result(2, 100.0, sp(95, 105), exp=exp)
    rk = rankings.ranking([behind, o, best], exp)
    assert rk.best.trial_id == "t0", rule
    assert rk.tie_ids == (["t0", "t1"] if tied else ["t0"]), rule
    assert rk.separated == (not tied), rule


def test_a_best_with_a_zero_width_interval_ties_only_what_touches_it():
    exp = make_exp([MAX])
    best = result(0, 500.0, sp(500, 500), exp=exp)
    touching = result(1, 495.0, sp(490, 500), exp=exp)
    short = result(2, 495.0, sp(490, 499.9), exp=exp)
    assert rankings.ranking([short, touching, best], exp).tie_ids == ["t0", "t1"]


def test_a_best_without_an_interval_ties_nothing_and_claims_no_separation():
    exp = make_exp([MAX])
    best = result(0, 500.0, None, exp=exp)
    same = result(1, 500.0, None, exp=exp)
    rk = rankings.ranking([same, best], exp)
    assert rk.tie_ids == ["t0"] and not rk.spread_known and not rk.separated


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_tie_set_in_either_direction(direction):
    """Rule: overlap decides, whichever way the objective points."""
    exp = make_exp([], objective={"metric": TPUT, "direction": direction})
    good = 500.0 if direction == "maximize" else 100.0
    near = good - 5 if direction == "maximize" else good + 5
    far = 300.0 if direction == "maximize" else 300.0
    a = result(0, good, sp(good - 20, good + 20), exp=exp)
    b = result(1, near, sp(near - 20, near + 20), exp=exp)
    c = result(2, far, sp(far - 10, far + 10), exp=exp)
    assert rankings.ranking([c, b, a], exp).tie_ids == ["t0", "t1"]


# ------------------------------------------------------------------ the objective's interval


def test_the_mean_objective_takes_the_mean_of_the_levels_intervals_and_the_fewest_repeats():
    """Rule: objective.concurrency "mean" averages the value and each bound over the levels,
    and its n is the fewest repeats any level had."""
    exp = make_exp([], objective={"metric": TPUT, "concurrency": "mean"})
    metrics = {"D(100,100)": {1: {TPUT: 100.0}, 2: {TPUT: 200.0}}}
    spread = {"D(100,100)": {1: {TPUT: sp(90.0, 110.0, n=5)}, 2: {TPUT: sp(190.0, 210.0, n=3)}}}
    s = score.score_trial(exp, metrics, spread)
    assert (s.objective, s.objective_low, s.objective_high) == (150.0, 140.0, 160.0)
    assert s.objective_n == 3


def test_a_named_scenario_takes_its_own_repeat_count():
    """Rule: an objective pinned to one scenario counts that scenario's repeats only."""
    exp = make_exp([], scenarios=("D(100,100)", "D(10,10)"),
                   objective={"metric": TPUT, "scenario": "D(100,100)", "concurrency": 1})
    metrics = {"D(100,100)": {1: {TPUT: 100.0}}, "D(10,10)": {1: {TPUT: 50.0}}}
    spread = {"D(100,100)": {1: {TPUT: sp(90.0, 110.0, n=5)}},
              "D(10,10)": {1: {TPUT: sp(40.0, 60.0, n=2)}}}
    s = score.score_trial(exp, metrics, spread)
    assert (s.objective, s.objective_low, s.objective_high, s.objective_n) == \
        (100.0, 90.0, 110.0, 5)


# ------------------------------------------------------------------ requests behind an SLO


@pytest.mark.parametrize(("repeats", "expected"), [(None, 50), (3, 150)])
def test_an_slo_without_pooled_requests_counts_completed_times_repeats(repeats, expected):
    """Rule: without a bootstrap over pooled requests, a percentile is judged from the
    completed requests of each run times the repeats (one run when the repeats are not
    recorded)."""
    slo = make_exp([MAX]).slos[0]
    values = {TTFT: 400.0, "num_completed_requests": 50}
    spreads = {} if repeats is None else {"num_completed_requests": sp(50, 50, n=repeats)}
    metrics, spread = point(values, spreads)
    assert score.slo_requests(metrics, spread, slo, 1, None) == expected


def test_a_scenario_without_recorded_spread_counts_one_measurement():
    """Rule: the objective's n is 1 for a scenario the spread does not cover (a single
    measurement), not an error, under the mean over levels as at one level."""
    exp = make_exp([], scenarios=("D(100,100)", "D(10,10)"),
                   objective={"metric": TPUT, "scenario": "D(10,10)", "concurrency": "mean"})
    metrics = {"D(100,100)": {1: {TPUT: 100.0}}, "D(10,10)": {1: {TPUT: 50.0}}}
    spread = {"D(100,100)": {1: {TPUT: sp(90.0, 110.0, n=5)}}}
    s = score.score_trial(exp, metrics, spread)
    assert (s.objective, s.objective_low, s.objective_n) == (50.0, None, 1)
    s = score.score_trial(exp, metrics)  # no spread recorded at all
    assert (s.objective, s.objective_low, s.objective_n) == (50.0, None, 1)


def test_the_searchers_constraint_needs_a_value_to_call_a_point_feasible():
    """Rule: Optuna is told 0 (feasible) only for a feasible score with an objective value;
    a score without one says nothing of how far it is: 1."""
    assert score.constraint(score.Score(100.0, True, 0.0, 1, 1, [])) == 0.0
    assert score.constraint(score.Score(None, True, 0.0, 1, 1, [])) == 1.0
    assert score.constraint(score.Score(100.0, False, 0.25, 1, None, [])) == 0.25
    assert score.constraint(None) == 1.0


# ------------------------------------------------------------------ the ranking's lookups


def test_a_trial_over_several_levels_has_the_mean_of_their_intervals():
    """Rule: with no objective level (no score), a trial's interval is the mean of each
    level's bounds, as fractions: (100, 111) and (200, 222) give (150, 166.5), and (100, 111)
    and (201, 222) give (150.5, 166.5)."""
    r = TrialResult("t", 0, {}, {}, COMPLETED,
                    metrics={"D(100,100)": {1: {TPUT: 105.0}, 2: {TPUT: 211.0}}},
                    spread={"D(100,100)": {1: {TPUT: sp(100.0, 111.0)},
                                           2: {TPUT: sp(200.0, 222.0)}}})
    assert rankings.point_bounds(r, TPUT, None) == (150.0, 166.5)
    r.spread["D(100,100)"][2][TPUT] = sp(201.0, 222.0)  # both bounds' means are fractions
    assert rankings.point_bounds(r, TPUT, None) == (150.5, 166.5)


def test_a_trials_rank_is_found_by_its_ids_text():
    """Rule: rank_of finds a trial by the id's text, such as an id read back from a report
    (a string equal to the trial's, not the same object)."""
    import json

    exp = make_exp([])
    results = [TrialResult(f"{i:012x}", i, {}, {}, COMPLETED,
                           metrics={"D(100,100)": {1: {TPUT: 100.0 * (i + 1)}}})
               for i in range(3)]
    for r in results:
        r.score = score.score_trial(exp, r.metrics)
    ranked = rankings.ranking(results, exp)
    assert ranked.rank_of(json.loads('"000000000002"')) == 1
    assert ranked.rank_of(json.loads('"000000000000"')) == 3


def _measured(tid, levels_):
    """A completed trial at concurrency levels {level: (tput, ttft, tput interval or None)}."""
    metrics, spread = {"D(100,100)": {}}, {"D(100,100)": {}}
    for c, (tput, ttft, iv) in levels_.items():
        metrics["D(100,100)"][c] = {TPUT: tput, TTFT: ttft}
        spread["D(100,100)"][c] = {TPUT: sp(*iv)} if iv else {}
    return TrialResult(tid, 0, {}, {}, COMPLETED, metrics=metrics, spread=spread)


def test_an_interval_unknown_at_any_level_or_scenario_is_unknown():
    """Rule: a mean of intervals needs every one: a level without an interval, or a scenario
    the trial never measured, leaves the trial's interval unknown (never a partial mean)."""
    r = _measured("t", {1: (105.0, 100.0, (100.0, 111.0)), 2: (211.0, 100.0, None)})
    assert rankings.point_bounds(r, TPUT, None) == score.UNKNOWN
    assert rankings.point_bounds(r, TPUT, "D(1,1)") == score.UNKNOWN


def test_an_interval_with_one_bound_recorded_is_unknown():
    r = _measured("t", {1: (105.0, 100.0, (100.0, 111.0))})
    r.score = score.Score(105.0, True, 0.0, 1, 1, [], 100.0, None, 3)
    assert rankings.objective_interval(r) == score.UNKNOWN
    r.score = score.Score(105.0, True, 0.0, 1, 1, [], None, 111.0, 3)
    assert rankings.objective_interval(r) == score.UNKNOWN
    r.score = score.Score(105.0, True, 0.0, 1, 1, [], 100.0, 111.0, 3)
    assert rankings.objective_interval(r) == (100.0, 111.0)


def test_the_pareto_front_leaves_out_a_trial_missing_either_axis():
    full = _measured("full", {1: (100.0, 50.0, None)})
    no_tput = _measured("no-tput", {1: (100.0, 10.0, None)})
    del no_tput.metrics["D(100,100)"][1][TPUT]
    no_ttft = _measured("no-ttft", {1: (500.0, 10.0, None)})
    del no_ttft.metrics["D(100,100)"][1][TTFT]
    front = rankings.pareto_front([full, no_tput, no_ttft], TPUT, TTFT)
    assert [r.trial_id for r in front] == ["full"]


def test_a_completed_trial_with_nothing_measured_stays_unscored():
    """Rule: rank() scores completed trials from their metrics; with none there is nothing
    to score, and the trial sorts after the scored ones."""
    exp = make_exp([])
    empty = TrialResult("empty", 0, {}, {}, COMPLETED, metrics={})
    done = _measured("done", {1: (100.0, 50.0, None)})
    ranked = rankings.rank([empty, done], exp)
    assert [r.trial_id for r in ranked] == ["done", "empty"]
    assert ranked[1].score is None and ranked[0].score is not None


def test_rank_keeps_a_score_the_trial_already_carries():
    """Rule: rank() scores only completed trials without a score; one that carries a score
    (the stored score `tuneops report` re-ranks with, a confirmed one) keeps it, whatever
    its metrics would give now."""
    exp = make_exp([])
    kept = _measured("kept", {1: (100.0, 50.0, None)})
    kept.score = score.Score(999.0, True, 0.0, 1, 1, [])
    other = _measured("other", {1: (500.0, 50.0, None)})
    ranked = rankings.rank([other, kept], exp)
    assert [r.trial_id for r in ranked] == ["kept", "other"]
    assert ranked[0].score.objective == 999.0 and ranked[1].score.objective == 500.0


# ------------------------------------------------------------------ ties on the best's bounds


@pytest.mark.parametrize(("rule", "direction", "best_iv", "other", "tied"), [
    ("a point on the best's lower bound ties (closed interval)", "maximize", (480, 520),
     (480.0, None), True),
    ("a point on the best's upper bound ties (closed interval)", "minimize", (90, 110),
     (110.0, None), True),
    ("a point past the best's upper bound does not tie", "minimize", (90, 110),
     (111.0, None), False),
    ("an interval starting at the best's upper bound ties (closed intervals)", "minimize",
     (90, 110), (120.0, (110, 130)), True),
    ("an interval starting past it does not", "minimize", (90, 110), (121.0, (111, 131)),
     False),
], ids=lambda v: v if isinstance(v, str) and " " in v else "")
def test_the_bests_interval_is_closed_at_both_ends(rule, direction, best_iv, other, tied):
    """Rule: the tie set holds every feasible trial that lies on the best's interval,
    its bounds included, on either side (a minimized objective puts runners-up above it)."""
    exp = make_exp([], objective={"metric": TPUT, "direction": direction})
    lo, hi = best_iv
    best = result(0, (lo + hi) / 2, sp(lo, hi), exp=exp)
    value, iv = other
    o = result(1, value, sp(*iv) if iv else None, exp=exp)
    assert rankings.ranking([o, best], exp).tie_ids == (["t0", "t1"] if tied else ["t0"]), rule


def test_a_trials_rank_is_its_own_position_whatever_the_ids_order():
    """Rule: rank_of is the trial's position in the ranking, found by equal id: trials
    ranked in their ids' order (000 first) still give 000 rank 1 and 002 rank 3."""
    exp = make_exp([])
    results = [TrialResult(f"{i:012x}", i, {}, {}, COMPLETED,
                           metrics={"D(100,100)": {1: {TPUT: 300.0 - 100.0 * i}}})
               for i in range(3)]
    for r in results:
        r.score = score.score_trial(exp, r.metrics)
    ranked = rankings.ranking(results, exp)
    assert [ranked.rank_of(f"{i:012x}") for i in range(3)] == [1, 2, 3]


def test_the_rankings_pareto_front_is_throughput_against_latency():
    """Rule: a run's Pareto front is taken on its (throughput, latency) axes: the fastest
    trial and the lowest-latency one both stay on it, the one worse on both does not."""
    exp = make_exp([])
    fast = result(0, 900.0, None, ttft=400.0, exp=exp)
    quick = result(1, 300.0, None, ttft=50.0, exp=exp)
    worse = result(2, 200.0, None, ttft=450.0, exp=exp)
    rk = rankings.ranking([worse, quick, fast], exp)
    assert rk.pareto_axes == (TPUT, TTFT)
    assert sorted(r.trial_id for r in rk.pareto) == ["t0", "t1"]


def test_a_cpu_experiment_plots_total_throughput_not_per_gpu():
    """Rule: with a latency objective the throughput axis is per GPU only when trials hold
    GPUs; a CPU-only experiment (gpus.count 0) has no per-GPU throughput."""
    cpu = from_document({
        "metadata": {"name": "cpu"},
        "model": {"id": "org/m", "tokenizer": "assets/tokenizer"},
        "engine": {"name": "sim", "version": "0.5.23"},
        "deployment": {"mode": "local", "gpus": {"count": 0}},
        "parameters": {"max-running-requests": [8, 64]},
        "benchmark": {"trafficScenarios": ["D(100,100)"], "concurrency": [1]},
        "objective": {"metric": TTFT, "direction": "minimize"},
        "slos": [],
    })
    assert rankings.pareto_axes(cpu) == ("output_throughput", TTFT)


# ------------------------------------------------------------------ means of intervals (session 30)


def _two_scenarios(tput_a, tput_b):
    """metrics, spread of scenarios A and B at concurrency 1: ((value, low, high), ...)."""
    metrics, spread = {}, {}
    for name, (value, lo, hi) in (("A(1,1)", tput_a), ("B(1,1)", tput_b)):
        m, s = point({TPUT: value, TTFT: 100.0},
                     {TPUT: sp(lo, hi), TTFT: sp(95, 105, 1000, "bootstrap")}, name)
        metrics |= m
        spread |= s
    return metrics, spread


def test_the_objective_over_scenarios_takes_the_mean_of_their_bounds_as_fractions():
    """Rule: with no scenario named, the objective's interval is the mean of the scenarios'
    lows and of their highs, a true division: (90, 111) and (101, 120) give (95.5, 115.5)."""
    exp = make_exp([MAX], scenarios=("A(1,1)", "B(1,1)"))
    s = score.score_trial(exp, *_two_scenarios((100.0, 90.0, 111.0), (110.0, 101.0, 120.0)))
    assert (s.objective_low, s.objective_high) == (95.5, 115.5)


def test_the_mean_over_levels_divides_its_bounds_as_fractions():
    """Rule: objective.concurrency "mean" averages each bound over the levels, a true
    division: (90, 111) and (101, 120) give (95.5, 115.5)."""
    exp = make_exp([], objective={"metric": TPUT, "concurrency": "mean"})
    metrics = {"D(100,100)": {1: {TPUT: 100.0}, 2: {TPUT: 110.0}}}
    spread = {"D(100,100)": {1: {TPUT: sp(90.0, 111.0)}, 2: {TPUT: sp(101.0, 120.0)}}}
    s = score.score_trial(exp, metrics, spread)
    assert (s.objective_low, s.objective_high) == (95.5, 115.5)


def test_an_objective_without_its_own_spread_is_one_measurement():
    """Rule: the objective's n counts the repeats behind its own value; a point whose spread
    covers only the SLO's metric was measured once (n = 1, never 0 or a guess)."""
    exp = make_exp([MAX])
    metrics, spread = point({TPUT: 100.0, TTFT: 200.0},
                            {TTFT: sp(150, 250, 1000, "bootstrap")})
    s = score.score_trial(exp, metrics, spread)
    assert (s.objective, s.objective_n) == (100.0, 1)


def test_an_slo_over_scenarios_has_no_interval_when_one_scenario_has_none():
    """Rule: the worst scenario's interval needs every scenario's; one scenario without an
    interval leaves the SLO's interval unknown (never the others' alone, never a crash)."""
    exp = make_exp([MAX], scenarios=("A(1,1)", "B(1,1)"))
    metrics, spread = _two_scenarios((100.0, 90.0, 110.0), (100.0, 90.0, 110.0))
    del spread["B(1,1)"][1][TTFT]
    (check,) = score.score_trial(exp, metrics, spread).slo_checks
    assert (check.value, check.low, check.high) == (100.0, None, None)


def test_the_mean_over_many_levels_is_feasible_when_every_level_is():
    """Rule: "mean" is feasible when every level holds its SLOs, compared by count, however
    many levels there are (the schema sets no limit; 300 is past CPython's small ints)."""
    exp = make_exp([MAX], objective={"metric": TPUT, "concurrency": "mean"})
    metrics = {"D(100,100)": {c: {TPUT: 100.0, TTFT: 200.0} for c in range(1, 301)}}
    s = score.score_trial(exp, metrics)
    assert (s.objective, s.feasible, s.max_feasible_concurrency) == (100.0, True, 300)
