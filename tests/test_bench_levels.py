"""Early-stop and bisection decisions (pure): what "violated beyond the noise" means."""

from __future__ import annotations

import random

import pytest
from tuneops.runner.bench import levels as lv

from tuneops.spec import Slo


def run_json(ttfts_s, errors=0, unit="s"):
    recs = [{"ttft": t, "tpot": 0.01, "e2e_latency": t + 0.5, "output_latency": 0.5,
             "output_inference_speed": 100.0, "error_code": None} for t in ttfts_s]
    recs += [{"ttft": None, "error_code": 503, "error_message": "down"}] * errors
    return {"_time_unit": unit, "individual_request_metrics": recs}


def test_ascending_dedups_and_sorts():
    assert lv.ascending([16, 1, 4, 4]) == [1, 4, 16]


def test_request_values_are_milliseconds_and_skip_errors():
    assert lv.request_values(run_json([0.1, 0.2], errors=3), "ttft") == [100.0, 200.0]
    assert lv.request_values(run_json([100.0], unit="ms"), "ttft") == [100.0]
    assert lv.request_values(run_json([0.1]), "output_inference_speed") == [100.0]


def test_order_statistic_bounds_match_the_binomial():
    xs = list(range(1, 10))  # 9 requests
    # p99 of 9: P(all 9 below the p99) = 0.99^9 = 0.914 < 0.95, P(>= 8) = 0.997: the
    # second largest is the 95 % lower bound; no upper bound exists from 9 requests.
    assert lv.quantile_bounds(xs, 0.99) == (8, None)
    # the median of 9: P(Binomial(9, .5) >= 3) = 1 - 46/512 = 0.910 < 0.95 but
    # P(>= 2) = 1 - 10/512 = 0.980: the 2nd smallest; the mirror image is the 8th
    assert lv.quantile_bounds(xs, 0.5) == (2, 8)
    assert lv.quantile_bounds([], 0.5) == (None, None)


def test_order_statistic_bound_covers_at_the_stated_rate():
    """The lower bound of the p90 lies below the true p90 at least 95 % of the time."""
    rng = random.Random(7)
    true_p90 = -100.0 * __import__("math").log(0.1)  # exponential, mean 100
    hits = total = 0
    for _ in range(2000):
        xs = [rng.expovariate(1 / 100) for _ in range(40)]
        lower, _ = lv.quantile_bounds(xs, 0.9)
        total += 1
        hits += lower is not None and lower <= true_p90
    assert hits / total >= 0.94


def test_max_min_and_mean_bounds():
    assert lv.stat_bounds([1.0, 5.0, 3.0], "max") == (5.0, None)
    assert lv.stat_bounds([1.0, 5.0, 3.0], "min") == (None, 1.0)
    lo, hi = lv.stat_bounds([10.0, 11.0, 9.0, 10.5, 9.5] * 4, "mean")
    assert lo < 10.0 < hi
    assert lv.stat_bounds([10.0] * 5, "mean") == (10.0, 10.0)
    assert lv.stat_bounds([1.0], "mean") == (None, None)  # one request: no spread to judge
    assert lv.mean_bounds([1.0, 2.0, 3.0, 4.0]) == lv.mean_bounds([1.0, 2.0, 3.0, 4.0])


def test_a_clear_violation_is_lost_a_marginal_one_is_not():
    slo = Slo("ttft.p99", max=500.0)
    assert lv.slo_lost(slo, [900.0] * 20)
    # one slow request out of 20: the sample p99 is past 500, but the 95 % lower bound of
    # the p99 (the 2nd largest of 20 here) is not: within the noise, keep going
    assert not lv.slo_lost(slo, [100.0] * 19 + [900.0])
    assert not lv.slo_lost(slo, [])  # nothing measured decides nothing


def test_min_bound_slos_use_the_upper_bound():
    slo = Slo("output_inference_speed.p50", min=50.0)
    assert lv.slo_lost(slo, [10.0] * 10)
    assert not lv.slo_lost(slo, [60.0] * 10)


def test_lost_slos_checks_only_per_request_latencies():
    slos = [Slo("ttft.p99", max=50.0), Slo("error_rate", max=0.0),
            Slo("output_throughput", min=1e9), Slo("e2e_latency.mean", max=1e6)]
    lost = lv.lost_slos(slos, run_json([0.2] * 12, errors=5))
    assert [s.metric for s in lost] == ["ttft.p99"]


def test_not_run_reason_names_the_level():
    assert lv.not_run_reason(16) == "not run: SLO lost at 16"


def _bisect(low, high, holds):
    """Drive bisect_next against a `holds(level)` oracle; the levels in measuring order."""
    held, order = {}, []
    while (nxt := lv.bisect_next(low, high, held)) is not None:
        assert nxt not in held
        held[nxt] = holds(nxt)
        order.append(nxt)
    return order, lv.max_holding(low, high, held)


@pytest.mark.parametrize("limit", [1, 2, 3, 5, 17, 63, 64])
def test_bisect_finds_the_threshold_in_logarithmic_steps(limit):
    order, best = _bisect(1, 64, lambda c: c <= limit)
    assert best == min(limit, 64)
    assert order[:2] == [1, 64]
    assert len(order) <= 2 + 6  # ceil(log2(63)) halvings


def test_bisect_edges():
    assert _bisect(4, 16, lambda c: False) == ([4], 0)  # even low fails: 0
    assert _bisect(4, 16, lambda c: True) == ([4, 16], 16)  # high holds: done
    assert _bisect(1, 2, lambda c: c == 1) == ([1, 2], 1)


def test_bisect_tolerates_non_monotone_results():
    # holds at 1, 2, fails at 3, holds again at 5: the answer stays below the first failure
    order, best = _bisect(1, 8, lambda c: c in (1, 2, 5))
    assert best == 2


def test_max_levels_bounds_the_bisection():
    from tuneops.spec import Benchmark
    b = Benchmark(task="text-to-text", traffic_scenarios=("D(1,1)",), concurrency=(1, 64),
                  max_time_per_run_min=1, max_requests_per_run=1, concurrency_search="bisect")
    assert b.max_levels == 2 + 6
    for limit in range(0, 66):
        assert len(_bisect(1, 64, lambda c, lim=limit: c <= lim)[0]) <= b.max_levels


def test_drain_covers_a_prefill_and_a_token_within_genai_benchs_second():
    assert lv.drain_s(0.2, 0.05) == pytest.approx(0.3)  # p99 TTFT + two p99 tokens
    assert lv.drain_s(0.01, 0.001) == lv.DRAIN_MIN_S  # never below the floor
    assert lv.drain_s(3.0, 0.1) == lv.DRAIN_MAX_S  # never more than genai-bench's second
    assert lv.drain_s(None, None) == lv.DRAIN_MAX_S  # nothing measured: its second
    assert lv.drain_s(float("nan"), None) == lv.DRAIN_MAX_S
    assert lv.drain_s(None, 0.1) == pytest.approx(0.2)


def test_failed_requests_latencies_never_count_toward_early_stop():
    """Rule: a failed request's latency (a 30 s timeout still records one) says nothing of
    the served latency: 200 fast successes and 50 timed-out failures keep ttft.p99 <= 500."""
    run = run_json([0.05] * 200)
    run["individual_request_metrics"] += [
        {"ttft": 30.0, "e2e_latency": 30.0, "error_code": 504, "error_message": "timeout"}
    ] * 50
    assert lv.request_values(run, "ttft") == [50.0] * 200
    assert lv.lost_slos([Slo(metric="ttft.p99", max=500.0)], run) == []
