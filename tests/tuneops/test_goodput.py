"""Goodput: a request is good when it succeeded and met every per-request bound."""

from __future__ import annotations

import math

import pytest

from tuneops.metrics import (
    GOOD_FRACTION,
    GOODPUT_OUTPUT_TOKENS,
    GOODPUT_REQUESTS,
    METRICS,
    Direction,
    RequestSlo,
    goodput,
    is_good,
)


def rec(ttft=100.0, tpot=10.0, e2e=500.0, tokens=50, error=False):
    return {"ttft": ttft, "tpot": tpot, "e2e_latency": e2e, "num_output_tokens": tokens,
            "error": error}


def test_a_request_is_good_only_when_every_bound_holds():
    slos = (RequestSlo("ttft", 200), RequestSlo("tpot", 20))
    assert is_good(rec(), slos)
    assert is_good(rec(ttft=200.0), slos)  # the limit itself is met (≤)
    assert not is_good(rec(ttft=200.1), slos)
    assert not is_good(rec(tpot=21.0), slos)
    assert is_good(rec(e2e=10_000.0), slos)  # e2e not bounded here


def test_failed_and_unmeasured_requests_are_never_good():
    slos = (RequestSlo("tpot", 20),)
    assert not is_good(rec(error=True), slos)
    assert not is_good(rec(tpot=None), slos)  # genai-bench drops a TPOT it cannot time
    assert not is_good(rec(tpot=math.nan), slos)
    assert not is_good(rec(tpot=True), slos)  # a bool is no latency


def test_goodput_counts_good_requests_and_their_tokens_per_second():
    slos = (RequestSlo("ttft", 200),)
    records = [rec(ttft=100, tokens=10), rec(ttft=150, tokens=30), rec(ttft=900, tokens=99),
               rec(error=True, tokens=None)]
    got = goodput(records, slos, duration_s=2.0)
    assert got[GOODPUT_REQUESTS] == pytest.approx(2 / 2.0)
    assert got[GOODPUT_OUTPUT_TOKENS] == pytest.approx(40 / 2.0)
    assert got[GOOD_FRACTION] == pytest.approx(2 / 4)


def test_nothing_to_judge_gives_no_goodput():
    slos = (RequestSlo("ttft", 200),)
    assert goodput([rec()], (), 1.0) == {}
    assert goodput([], slos, 1.0) == {}
    for bad in (None, 0.0, -1.0, math.inf, math.nan):
        assert goodput([rec()], slos, bad) == {}


@pytest.mark.parametrize("field,limit", [("ttft.p99", 100), ("output_throughput", 1),
                                         ("ttft", 0), ("ttft", -5), ("ttft", math.inf),
                                         ("ttft", True), ("ttft", "100")])
def test_bad_bounds_are_refused(field, limit):
    with pytest.raises(ValueError):
        RequestSlo(field, limit)


def test_goodput_metrics_are_table_rows_to_maximize():
    for name in (GOODPUT_REQUESTS, GOODPUT_OUTPUT_TOKENS, GOOD_FRACTION):
        assert METRICS[name].direction is Direction.MAXIMIZE
        assert METRICS[name].statistic is None  # a whole-run value: intervals over repeats
    assert METRICS[GOODPUT_REQUESTS].unit == "req/s"
    assert METRICS[GOODPUT_OUTPUT_TOKENS].unit == "tok/s"


def test_a_good_requests_tokens_count_only_when_they_are_a_positive_number():
    """Rule: a good request adds its output tokens to the token goodput only when they are a
    positive finite number: a negative, NaN, text or boolean count adds nothing (and never
    subtracts)."""
    slos = [RequestSlo("ttft", 200.0)]
    for bad in (-5, float("nan"), "50", True, None):
        got = goodput([rec(tokens=50), rec(tokens=bad)], slos, 1.0)
        assert got[GOODPUT_OUTPUT_TOKENS] == 50.0, bad
        assert got[GOODPUT_REQUESTS] == 2.0, bad


def test_a_non_finite_latency_is_never_good():
    """Rule: an infinite or NaN latency was not measured; -inf is as unmeasured as +inf."""
    slo = RequestSlo("ttft", 200.0)
    for bad in (float("-inf"), float("inf"), float("nan")):
        assert not slo.holds(rec(ttft=bad)), bad
    assert slo.holds(rec(ttft=-0.0)) and slo.holds(rec(ttft=200.0))


def test_goodput_counts_a_one_token_answer_and_never_a_fraction_below_zero():
    """Rule: a good request adds its output tokens when positive, one token included; a
    count at or under zero (a fraction like -0.5 too) adds nothing; rates are true
    divisions by the run's duration."""
    slos = [RequestSlo("ttft", 200.0)]
    records = [{"ttft": 100.0, "num_output_tokens": n} for n in (1, -0.5, 2, math.inf, True)]
    got = goodput(records, slos, 2.0)
    assert got[GOODPUT_OUTPUT_TOKENS] == 1.5  # (1 + 0 + 2 + 0 + 0) / 2 s
    assert got[GOODPUT_REQUESTS] == 2.5  # 5 good / 2 s


def test_a_per_request_limit_under_one_ms_is_allowed_and_read_from_its_entry():
    """Rule: any positive limit is a limit (0.5 ms too); an entry's field and max become
    the bound."""
    assert RequestSlo("ttft", 0.5).limit == 0.5
    slo = RequestSlo.from_entry({"metric": "ttft", "max": 150, "perRequest": True})
    assert (slo.field, slo.limit) == ("ttft", 150)
    assert slo.as_dict() == {"metric": "ttft", "max": 150, "perRequest": True}
