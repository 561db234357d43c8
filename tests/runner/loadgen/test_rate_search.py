"""The capacity search's driver (runner/loadgen/rate.py) over a stand-in for one AIPerf
run: a point where the generator fell behind is taken again, never scored, and a generator
that keeps failing ends the search as the load generator's failure, with no capacity."""

from __future__ import annotations

import pytest
from tuneops.runner.bench.parse import BenchOutcome
from tuneops.runner.loadgen import capacity, rate
from tuneops.runner.loadgen.aiperf import Point

from tuneops.metrics import MAX_SLO_RATE
from tuneops.spec import from_document

CAPACITY = 5.0  # the stand-in server holds a p99 TTFT of 500 ms up to here


def exp():
    return from_document({
        "metadata": {"name": "search"},
        "model": {"id": "org/m", "servedName": "m", "tokenizer": "assets/tokenizer"},
        "engine": {"name": "sim", "version": "0.5.23"},
        "deployment": {"mode": "local", "gpus": {"count": 1, "type": "H100"}},
        "benchmark": {"trafficScenarios": ["D(50,50)"],
                      "load": {"type": "rate", "rates": {"search": "capacity", "low": 1,
                                                         "high": 16}, "requests": 200}},
        "objective": {"metric": MAX_SLO_RATE},
        "slos": [{"metric": "ttft.p99", "max": 500}],
    })


def point(r: float, behind: str = "") -> Point:
    ttft = 100.0 if r <= CAPACITY else 5000.0  # far from the limit: one run decides
    return Point(ok=True, behind=behind,
                 metrics={"ttft.p99": ttft, "offered_rate": r, "achieved_rate": r,
                          "num_completed_requests": 200.0},
                 records={"ttft": [ttft] * 200})


def test_a_point_the_generator_fell_behind_on_is_taken_again_and_not_scored():
    calls: list[float] = []

    def measure(scenario, r):
        calls.append(r)
        return point(r, "late sends" if len(calls) == 1 else "")

    outcome = BenchOutcome(ok=True)
    rate._search(exp(), "D(50,50)", measure, outcome)
    assert calls[:2] == [1.0, 1.0]  # the late run at 1 req/s was measured again
    found = {v[MAX_SLO_RATE] for v in outcome.metrics["D(50,50)"].values()}
    assert len(found) == 1 and CAPACITY / 1.05 <= found.pop() <= CAPACITY
    assert any("not scored: late sends" in n for n in outcome.not_run)


def test_a_generator_that_keeps_falling_behind_claims_no_capacity():
    def measure(scenario, r):
        return point(r, "late sends")

    with pytest.raises(rate._Stop) as stop:
        rate._search(exp(), "D(50,50)", measure, BenchOutcome(ok=True))
    assert stop.value.outcome.infra and not stop.value.outcome.ok
    assert f"fell behind {capacity.MOST_RUNS_PER_RATE} times" in stop.value.outcome.reason
