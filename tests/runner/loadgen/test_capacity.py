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


# ------------------------------------------- the search against the simulator's own model

def test_on_the_simulator_the_search_finds_the_models_saturation_rate():
    """The simulator's performance model predicts a saturation rate (engines/sim/openloop.py
    saturation_rate: its completion rate with the running batch full). The runner's own
    capacity search (rate._search: the bracket, the geometric split, the sequential rule
    over each rate's requests), measuring each rate with the same model in virtual time,
    finds it within 10 %. Constant arrivals: without arrival randomness TTFT stays near its
    unloaded value below saturation and grows with the backlog above it, so the SLO's knee
    is the saturation rate itself (under Poisson arrivals a p99 SLO holds lower: queueing
    from the randomness, tests/engines/sim/test_sim_openloop.py)."""
    import dataclasses
    from pathlib import Path

    from tuneops.engines.sim.openloop import saturation_rate
    from tuneops.runner.bench.parse import BenchOutcome
    from tuneops.runner.loadgen import rate

    from tests.helpers import sim_rates
    from tuneops.metrics import MAX_SLO_RATE
    from tuneops.validate import load_experiment

    exp = load_experiment(Path("experiments/examples/sim-poisson.yaml"))  # D(50,50), 100 req
    (scenario,), n = exp.benchmark.traffic_scenarios, exp.benchmark.load.requests
    slo = Slo.from_entry({"metric": "ttft.p99", "max": 500})[0]
    for mrr in (2, 4, 8):
        model = sim_rates.model(mrr)
        sat = saturation_rate(model, 50, 50)
        load = dataclasses.replace(exp.benchmark.load, rates=(sat / 8, sat * 4))
        trial = dataclasses.replace(exp, slos=(slo,), benchmark=dataclasses.replace(
            exp.benchmark, load=load))

        def measure(scenario: str, offered: float, model=model):
            return sim_rates.point(model, offered, 50, 50, n, burstiness=None)[0]

        outcome = BenchOutcome(ok=True)
        rate._search(trial, scenario, measure, outcome)
        found = next(iter(outcome.metrics[scenario].values()))[MAX_SLO_RATE]
        assert abs(found - sat) <= 0.1 * sat, (mrr, found, sat)
