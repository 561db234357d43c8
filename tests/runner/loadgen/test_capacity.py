"""The capacity search's rules (runner/loadgen/capacity.py): the bracket, the geometric
split, and the sequential rule that judges one rate from its runs."""

from __future__ import annotations

import random

from tuneops.runner.bench import levels
from tuneops.runner.loadgen import capacity

from tuneops.metrics import Slo, Verdict

P99 = Slo.from_entry({"metric": "ttft.p99", "max": 1000})[0]


def search(low: float, high: float, true_capacity: float) -> tuple[float, list[float]]:
    held: dict[float, bool] = {}
    order = []
    while (r := capacity.next_rate(low, high, held)) is not None:
        order.append(r)
        held[r] = r <= true_capacity
    return levels.max_holding(low, high, held), order


def test_search_finds_the_capacity_within_its_resolution():
    for true in (0.7, 1.3, 2.9, 5.5):
        found, order = search(0.5, 8.0, true)
        assert found <= true < found * (1 + capacity.RESOLUTION) + 1e-9, (true, found)
        assert order[:2] == [0.5, 8.0]
        assert len(order) <= 9  # log2 of the ratio range over 5 %: far fewer than a sweep


def test_low_failing_means_no_capacity_and_high_holding_is_the_top():
    assert search(0.5, 8.0, 0.1) == (0.0, [0.5])
    assert search(0.5, 8.0, 100.0) == (8.0, [0.5, 8.0])


def test_sequential_rule_stops_when_clear_and_repeats_when_not():
    assert capacity.decided(Verdict.MET, 1) is True
    assert capacity.decided(Verdict.VIOLATED, 1) is False
    assert capacity.decided(Verdict.UNCERTAIN, 1) is None
    # still undecided after the most runs: not held (capacity is beyond the noise)
    assert capacity.decided(Verdict.UNCERTAIN, capacity.MOST_RUNS_PER_RATE) is False


def _run(ttfts: list[float]) -> tuple[dict[str, float], dict[str, list[float]]]:
    xs = sorted(ttfts)
    p99 = xs[min(len(xs) - 1, int(round(0.99 * (len(xs) - 1))))]
    return ({"ttft.p99": p99, "num_completed_requests": float(len(xs))}, {"ttft": ttfts})


def test_judge_uses_one_sided_bounds_on_the_pooled_requests():
    rng = random.Random(3)
    clear = [rng.uniform(50, 200) for _ in range(200)]
    far = [rng.uniform(3000, 5000) for _ in range(200)]
    near = [rng.uniform(100, 1000) for _ in range(150)] + [rng.uniform(950, 1100)
                                                           for _ in range(3)]
    for ttfts, want in ((clear, Verdict.MET), (far, Verdict.VIOLATED),
                        (near, Verdict.UNCERTAIN)):
        metrics, records = _run(ttfts)
        assert capacity.judge([P99], [metrics], records) is want
