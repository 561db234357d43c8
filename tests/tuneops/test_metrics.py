"""tuneops.metrics: the metric table and the one rule that judges an SLO."""

from __future__ import annotations

import json
import math

import pytest

from tuneops.metrics import (
    METRICS,
    UNITS,
    Bound,
    Direction,
    Metric,
    RequestSlo,
    Slo,
    Statistic,
    TrialVerdict,
    UnknownMetric,
    Verdict,
    metric,
)

# ------------------------------------------------------------------ the table


@pytest.mark.parametrize("name,unit,direction,statistic,field", [
    ("ttft.p99", "ms", Direction.MINIMIZE, Statistic.P99, "ttft"),
    ("tpot.mean", "ms", Direction.MINIMIZE, Statistic.MEAN, "tpot"),
    ("e2e_latency.max", "ms", Direction.MINIMIZE, Statistic.MAX, "e2e_latency"),
    ("output_latency.min", "ms", Direction.MINIMIZE, Statistic.MIN, "output_latency"),
    ("output_inference_speed.p50", "tok/s", Direction.MAXIMIZE, Statistic.P50,
     "output_inference_speed"),
    ("output_throughput", "tok/s", Direction.MAXIMIZE, None, None),
    ("output_throughput_per_gpu", "tok/s", Direction.MAXIMIZE, None, None),
    ("requests_per_s", "req/s", Direction.MAXIMIZE, None, None),
    ("error_rate", "fraction", Direction.MINIMIZE, None, None),
    ("max_slo_concurrency", "requests in flight", Direction.MAXIMIZE, None, None),
])
def test_each_kind_of_metric_says_what_it_is(name, unit, direction, statistic, field):
    m = metric(name)
    assert (m.name, m.unit, m.direction, m.statistic, m.request_field) == (
        name, unit, direction, statistic, field)
    assert m.is_latency is (unit == "ms")
    assert UNITS[name] == unit


@pytest.mark.parametrize("stat", list(Statistic))
def test_every_statistic_of_every_request_field_is_a_metric(stat):
    for field in ("ttft", "tpot", "e2e_latency", "output_latency", "output_inference_speed"):
        m = metric(f"{field}.{stat}")
        assert (m.statistic, m.request_field) == (stat, field)
        assert m.source == f"aggregated_metrics.stats.{field}.{stat}"


@pytest.mark.parametrize("stat,percentile,need", [
    (Statistic.P25, 25.0, 2), (Statistic.P50, 50.0, 2), (Statistic.P75, 75.0, 4),
    (Statistic.P90, 90.0, 10), (Statistic.P95, 95.0, 20), (Statistic.P99, 99.0, 100),
    (Statistic.MEAN, None, 2), (Statistic.MIN, None, 2), (Statistic.MAX, None, 2),
])
def test_statistics_know_their_percentile_and_the_requests_they_need(stat, percentile, need):
    assert stat.percentile == percentile
    assert stat.min_requests == need


def test_whole_run_values_need_no_request_count():
    assert metric("output_throughput").min_requests is None
    assert metric("ttft.p99").min_requests == 100


@pytest.mark.parametrize("name,hint", [
    ("ttft.p999", "did you mean ttft.p99"),
    ("output_throughput_per_gpus", "did you mean output_throughput_per_gpu"),
    ("errors", "did you mean error_rate"),
    ("zzz", "see docs/experiment.md"),
])
def test_unknown_names_are_refused_with_a_did_you_mean(name, hint):
    with pytest.raises(UnknownMetric, match=hint) as info:
        metric(name)
    assert repr(name) in str(info.value)
    with pytest.raises(UnknownMetric, match=hint):
        Slo(name, max=1.0)  # an SLO on a name that is no metric is refused when made


def test_a_new_metric_is_one_table_entry(monkeypatch):
    """What docs/architecture.md promises: one Metric row, and the lookup, units, reading
    and SLO judging all know it."""
    row = Metric("gpu_power.mean", "W", Direction.MINIMIZE, "telemetry.gpu_power.mean")
    monkeypatch.setitem(METRICS, row.name, row)
    assert metric("gpu_power.mean") is row
    assert row.read({"telemetry": {"gpu_power": {"mean": 250}}}) == 250.0
    assert Slo("gpu_power.mean", max=300).judge(320.0).verdict is Verdict.VIOLATED


# ------------------------------------------------------------------ reading a run JSON


def test_read_converts_seconds_and_divides_per_gpu():
    run = {"_time_unit": "s", "aggregated_metrics": {
        "stats": {"ttft": {"p99": 0.25}}, "mean_output_throughput_tokens_per_s": 100.0}}
    assert metric("ttft.p99").read(run) == 250.0
    assert metric("ttft.p99").read({**run, "_time_unit": "ms"}) == 0.25
    assert metric("output_throughput_per_gpu").read(run, gpu_count=4) == 25.0
    assert metric("output_throughput_per_gpu").read(run, gpu_count=0) == 100.0  # per machine
    assert metric("output_throughput").read(run, gpu_count=4) == 100.0


@pytest.mark.parametrize("value", [None, "12", True, math.nan, math.inf, {"p99": 1}])
def test_read_refuses_what_is_not_a_finite_number(value):
    run = {"aggregated_metrics": {"stats": {"ttft": {"p99": value}}}}
    assert metric("ttft.p99").read(run) is None
    assert metric("max_slo_concurrency").read(run) is None  # computed by tuneops, not read


# ------------------------------------------------------------------ directions and bounds


@pytest.mark.parametrize("direction,a,b,better,key_a,sign,word", [
    (Direction.MAXIMIZE, 2.0, 1.0, True, -2.0, 1.0, "higher"),
    (Direction.MAXIMIZE, 1.0, 2.0, False, -1.0, 1.0, "higher"),
    (Direction.MINIMIZE, 1.0, 2.0, True, 1.0, -1.0, "lower"),
    (Direction.MINIMIZE, 2.0, 1.0, False, 2.0, -1.0, "lower"),
    (Direction.MINIMIZE, 1.0, 1.0, False, 1.0, -1.0, "lower"),  # equal is not better
])
def test_direction(direction, a, b, better, key_a, sign, word):
    assert direction.better(a, b) is better
    assert direction.sort_key(a) == key_a
    assert (direction.sign, direction.word) == (sign, word)


@pytest.mark.parametrize("bound,value,limit,excess,holds,worst,symbol", [
    (Bound.MAX, 600.0, 500.0, 100.0, False, 9.0, "≤"),
    (Bound.MAX, 500.0, 500.0, 0.0, True, 9.0, "≤"),
    (Bound.MAX, 400.0, 500.0, -100.0, True, 9.0, "≤"),
    (Bound.MIN, 80.0, 100.0, 20.0, False, 1.0, "≥"),
    (Bound.MIN, 100.0, 100.0, 0.0, True, 1.0, "≥"),
    (Bound.MIN, 120.0, 100.0, -20.0, True, 1.0, "≥"),
])
def test_bound(bound, value, limit, excess, holds, worst, symbol):
    assert bound.excess(value, limit) == excess
    assert bound.holds(value, limit) is holds
    assert bound.worst([3.0, 9.0, 1.0]) == worst
    assert bound.symbol == symbol


def test_enums_are_their_strings_in_json_and_text():
    doc = {"bound": Bound.MAX, "verdict": Verdict.MET, "trial": TrialVerdict.FEASIBLE,
           "direction": Direction.MINIMIZE}
    assert json.dumps(doc) == ('{"bound": "max", "verdict": "met", "trial": "feasible", '
                               '"direction": "minimize"}')
    assert f"{Bound.MIN} {Direction.MAXIMIZE}" == "min maximize"
    assert Bound("max") is Bound.MAX and Verdict("") is Verdict.UNJUDGED


# ------------------------------------------------------------------ SLOs


@pytest.mark.parametrize("slo,bound,limit,as_dict", [
    (Slo("ttft.p99", max=500), Bound.MAX, 500, {"metric": "ttft.p99", "max": 500, "min": None}),
    (Slo("output_throughput", min=10.5), Bound.MIN, 10.5,
     {"metric": "output_throughput", "max": None, "min": 10.5}),
    (Slo("error_rate", bound="max", limit=0), Bound.MAX, 0,
     {"metric": "error_rate", "max": 0, "min": None}),
])
def test_an_slo_has_one_bound_and_keeps_its_limit_as_written(slo, bound, limit, as_dict):
    assert (slo.bound, slo.limit) == (bound, limit)
    assert type(slo.limit) is type(limit)  # 500 stays 500 in results.json
    assert slo.as_dict() == as_dict
    assert Slo.from_entry(as_dict) == (slo,)


def test_an_entry_bounding_both_sides_is_two_slos():
    both = Slo.from_entry({"metric": "ttft.p50", "max": 900, "min": 100})
    assert [(s.bound, s.limit) for s in both] == [(Bound.MAX, 900), (Bound.MIN, 100)]
    with pytest.raises(ValueError, match="exactly one bound"):
        Slo("ttft.p50", max=900, min=100)


@pytest.mark.parametrize("entry,error", [
    ({"metric": "ttft.p99"}, ValueError),  # no bound: no SLO
    ({"metric": "ttft.p99", "max": "500"}, ValueError),
    ({"metric": "ttft.p99", "max": True}, ValueError),
    ({"metric": "ttft.p99", "max": math.nan}, ValueError),
    ({"metric": "ttft.p99", "min": -math.inf}, ValueError),
    ({"max": 500}, KeyError),
    ({"metric": "ttft.p100", "max": 500}, UnknownMetric),
])
def test_bad_entries_are_refused_not_half_used(entry, error):
    with pytest.raises(error):
        Slo.from_entry(entry)


@pytest.mark.parametrize("make", [
    lambda: Slo("ttft.p999", max=math.nan),
    lambda: Slo.from_entry({"metric": "ttft.p999", "max": "500"}),
    lambda: RequestSlo("ttft_p99", math.nan),
])
def test_an_slo_wrong_twice_over_is_refused_for_what_it_bounds_first(make):
    """Rule: what is bounded is checked before by how much, for per-run and per-request SLOs
    alike, so an entry with an unknown metric and a bad limit is refused once, always for
    the metric (with a did-you-mean), never for whichever check happens to run first."""
    with pytest.raises((UnknownMetric, ValueError)) as info:
        make()
    assert "limit" not in str(info.value), str(info.value)
    assert "ttft" in str(info.value)


@pytest.mark.parametrize("slo,text", [
    (Slo("ttft.p99", max=500), "≤ 500 ms"),
    (Slo("output_throughput", min=12.5), "≥ 12.5 tok/s"),
    (Slo("error_rate", max=0.01), "≤ 0.01"),  # a fraction has no unit
])
def test_limit_text(slo, text):
    assert slo.limit_text() == text


@pytest.mark.parametrize("slo,value,low,high,requests,violation,verdict", [
    # max bound: the point decides without an interval
    (Slo("ttft.p50", max=500), 600.0, None, None, None, 0.2, Verdict.VIOLATED),
    (Slo("ttft.p50", max=500), 500.0, None, None, None, 0.0, Verdict.MET),
    # with an interval: wholly inside, wholly past, straddling
    (Slo("ttft.p50", max=500), 450.0, 400.0, 480.0, 50, 0.0, Verdict.MET),
    (Slo("ttft.p50", max=500), 600.0, 550.0, 650.0, 50, 0.2, Verdict.VIOLATED),
    (Slo("ttft.p50", max=500), 450.0, 400.0, 550.0, 50, 0.0, Verdict.UNCERTAIN),
    # min bound, mirrored
    (Slo("output_throughput", min=100), 80.0, None, None, None, 0.2, Verdict.VIOLATED),
    (Slo("output_throughput", min=100), 120.0, 110.0, 130.0, None, 0.0, Verdict.MET),
    (Slo("output_throughput", min=100), 80.0, 70.0, 90.0, None, 0.2, Verdict.VIOLATED),
    (Slo("output_throughput", min=100), 105.0, 95.0, 115.0, None, 0.0, Verdict.UNCERTAIN),
    # a p99 from fewer than 100 requests is uncertain when it would pass, never when it fails
    (Slo("ttft.p99", max=500), 450.0, 400.0, 480.0, 30, 0.0, Verdict.UNCERTAIN),
    (Slo("ttft.p99", max=500), 450.0, 400.0, 480.0, 100, 0.0, Verdict.MET),
    (Slo("ttft.p99", max=500), 600.0, 550.0, 650.0, 30, 0.2, Verdict.VIOLATED),
    (Slo("output_inference_speed.p90", min=10), 20.0, None, None, 5, 0.0, Verdict.UNCERTAIN),
    # a throughput is a whole-run value: no request count applies
    (Slo("output_throughput", min=100), 120.0, None, None, 1, 0.0, Verdict.MET),
    # limit 0: absolute; unmeasured: infinitely violated
    (Slo("error_rate", max=0), 0.25, None, None, None, 0.25, Verdict.VIOLATED),
    (Slo("ttft.p50", max=500), None, None, None, None, math.inf, Verdict.VIOLATED),
])
def test_judge(slo, value, low, high, requests, violation, verdict):
    j = slo.judge(value, low, high, requests=requests)
    assert j.violation == pytest.approx(violation)
    assert j.verdict is verdict
    assert j.min_requests == slo.definition.min_requests


@pytest.mark.parametrize("slo,value,slack", [
    (Slo("ttft.p99", max=500), 400.0, -0.2),
    (Slo("ttft.p99", max=500), 750.0, 0.5),
    (Slo("output_throughput", min=100), 80.0, 0.2),
    (Slo("error_rate", max=0), 0.5, 0.5),
])
def test_slack_is_relative_to_the_limit(slo, value, slack):
    assert slo.slack(value) == pytest.approx(slack)


@pytest.mark.parametrize("name,stops", [
    ("ttft.p99", True), ("tpot.mean", True), ("e2e_latency.max", True),
    ("output_inference_speed.p50", True),
    ("output_throughput", False), ("error_rate", False), ("max_slo_concurrency", False),
])
def test_only_statistics_over_requests_can_stop_a_trial_early(name, stops):
    slo = Slo(name, max=1.0)
    assert slo.can_stop_early is stops
    assert (slo.statistic is not None) is stops


def test_an_interval_missing_either_bound_leaves_the_verdict_to_the_point():
    """Rule: only a whole interval [low, high] decides from the interval; one bound alone is
    no interval, and the point value decides (met at 400 ms under a 500 ms limit)."""
    slo = Slo("ttft.p99", max=500)
    for low, high in ((None, 600.0), (450.0, None)):
        assert slo.judge(400.0, low, high).verdict is Verdict.MET, (low, high)
        assert slo.judge(520.0, low, high).verdict is Verdict.VIOLATED, (low, high)


# ------------------------------------------------------------------ session 30: full sweep


def test_the_served_rates_and_per_gpu_metrics_are_exactly_these():
    """Rule: a served rate (pruning may stop a trial whose rate already fell behind,
    runner/search/prune.py) is a throughput, a request rate or a goodput, and nothing else;
    a per-GPU metric is divided by the trial's GPUs, and only the two *_per_gpu ones are.
    Written out by hand, not read from the table."""
    assert {n for n, m in METRICS.items() if m.served_rate} == {
        "output_throughput", "input_throughput", "total_throughput",
        "output_throughput_per_gpu", "total_throughput_per_gpu", "requests_per_s",
        "goodput_requests_per_s", "goodput_output_tokens_per_s"}
    assert {n for n, m in METRICS.items() if m.per_gpu} == {
        "output_throughput_per_gpu", "total_throughput_per_gpu"}


def test_a_per_gpu_metric_divides_by_the_gpus_as_a_fraction_and_defaults_to_one():
    """Rule: per GPU is the run's value over its GPUs, a true division; read without a GPU
    count, a run had one GPU."""
    per_gpu = metric("total_throughput_per_gpu")
    run = {"aggregated_metrics": {"mean_total_tokens_throughput_tokens_per_s": 100.0}}
    assert per_gpu.read(run, gpu_count=3) == pytest.approx(100.0 / 3)
    assert per_gpu.read(run) == 100.0


def test_better_is_strict_and_holds_is_at_the_limit_only():
    """Rule: of two equal values neither is better (the first found keeps its place); a
    bound holds at its limit and not a hair past it."""
    assert not Direction.MAXIMIZE.better(5.0, 5.0)
    assert not Direction.MINIMIZE.better(5.0, 5.0)
    assert Bound.MAX.holds(500.0, 500.0) and not Bound.MAX.holds(500.5, 500.0)
    assert Bound.MIN.holds(100.0, 100.0) and not Bound.MIN.holds(99.5, 100.0)


def test_a_mean_or_an_extreme_needs_two_requests():
    """Rule: a statistic that is not a percentile (mean, min, max) needs 2 requests, as p50."""
    from tuneops.metrics import min_requests

    assert [min_requests(s) for s in ("mean", "min", "max", "p50")] == [2, 2, 2, 2]


def test_an_slo_built_without_a_bound_is_refused_with_its_reason():
    """Rule: an SLO needs exactly one bound: none is the same clear refusal as two."""
    with pytest.raises(ValueError, match="exactly one bound"):
        Slo("ttft.p99")


def test_an_unknown_metric_suggests_the_three_nearest_names():
    """Rule: the did-you-mean lists the three nearest names, no more, no fewer."""
    with pytest.raises(UnknownMetric) as info:
        metric("ttft.p999")
    assert str(info.value).count(" or ") == 2, str(info.value)


def test_slos_and_metrics_are_values():
    """Rule: an SLO, its judgement and a metric are immutable values: shared by the spec,
    the score and the report, and usable as keys."""
    import dataclasses

    slo = Slo("ttft.p99", max=500)
    assert {slo: 1}[Slo("ttft.p99", max=500)] == 1
    for value, field in ((slo, "limit"), (slo.judge(400.0), "verdict"),
                         (metric("ttft.p99"), "unit"), (RequestSlo("ttft", 200.0), "limit")):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(value, field, None)


def test_a_bound_given_without_its_limit_is_refused_as_no_bound():
    """Rule: `bound` without `limit` is an SLO with no bound, refused as such."""
    with pytest.raises(ValueError, match="exactly one bound"):
        Slo("ttft.p99", bound="max")


def test_cost_metrics_are_in_the_table_and_print_their_unit():
    """Rule: both cost metrics exist, and an SLO on one prints its unit (only fractions
    print none)."""
    from tuneops.metrics import COST_METRICS

    assert set(COST_METRICS) <= set(METRICS)
    assert Slo(COST_METRICS[0], max=5).limit_text().endswith("USD/1M tok")
