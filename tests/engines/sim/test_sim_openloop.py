"""The simulator under open-loop load, in virtual time (engines/sim/openloop.py): the same
scheduler and step prices the HTTP server runs, so queueing, saturation and burstiness are
the server's own."""

from __future__ import annotations

import statistics

import pytest
from tuneops.engines.sim import profiles
from tuneops.engines.sim.openloop import gaps, open_loop, predicted_capacity, saturation_rate
from tuneops.engines.sim.perfmodel import PerfModel, Settings
from tuneops.engines.sim.scheduler import closed_loop

IN, OUT = 100, 200


def perf(mrr: int = 4) -> PerfModel:
    return PerfModel(profiles.gpu("H100"), profiles.model("Llama-3.1-8B"),
                     Settings(max_running_requests=mrr))


def p99s(model: PerfModel, rate: float, burstiness: float | None, seeds) -> list[float]:
    return [open_loop(model, rate, IN, OUT, 300, burstiness, s).ttft_quantile(0.99)
            for s in seeds]


def test_arrival_processes_keep_the_offered_mean_gap():
    for burstiness in (None, 1.0, 0.25, 4.0):
        g = gaps(2.0, 4000, burstiness, seed=5)
        assert statistics.fmean(g) == pytest.approx(0.5, rel=0.08)
    assert len(set(gaps(2.0, 10, None))) == 1  # constant: one gap
    # gamma of shape k: coefficient of variation 1/sqrt(k) (0.25 -> 2, Poisson -> 1)
    bursty, poisson = gaps(2.0, 4000, 0.25, seed=1), gaps(2.0, 4000, 1.0, seed=1)
    cv = [statistics.pstdev(g) / statistics.fmean(g) for g in (bursty, poisson)]
    assert 1.7 < cv[0] < 2.3 and 0.9 < cv[1] < 1.1


@pytest.mark.slow
def test_ttft_grows_as_the_offered_rate_nears_capacity():
    model = perf()
    sat = saturation_rate(model, IN, OUT)
    med = [statistics.median(p99s(model, f * sat, 1.0, (1, 2, 3))) for f in (0.3, 0.7, 0.95)]
    assert med[0] < med[1] < med[2]
    assert med[2] > 3 * med[0]


def test_beyond_saturation_the_server_serves_at_its_saturation_rate():
    """Fidelity of the open loop against the closed loop's capacity (±10 %): offered 1.5x
    its saturation rate, the replica completes requests at that rate, not faster."""
    for mrr in (2, 4):
        model = perf(mrr)
        sat = saturation_rate(model, IN, OUT)
        run = open_loop(model, 1.5 * sat, IN, OUT, 400, 1.0, seed=7)
        served = run.requests / (run.duration - run.ttfts[0])
        assert abs(served / sat - 1) <= 0.10, (mrr, served, sat)
        assert closed_loop(model, mrr, IN, OUT, 100).output_throughput / OUT == \
            pytest.approx(sat, rel=0.10)


@pytest.mark.slow
def test_bursty_arrivals_give_a_higher_p99_ttft_than_poisson_at_the_same_rate():
    """Gamma burstiness 0.25 against Poisson at 60 % of saturation, over eight seeds: the
    difference of the means is positive beyond twice its standard error."""
    model = perf()
    rate = 0.6 * saturation_rate(model, IN, OUT)
    seeds = range(1, 9)
    bursty, poisson = p99s(model, rate, 0.25, seeds), p99s(model, rate, 1.0, seeds)
    diff = statistics.fmean(bursty) - statistics.fmean(poisson)
    se = (statistics.variance(bursty) / len(bursty)
          + statistics.variance(poisson) / len(poisson)) ** 0.5
    assert diff > 2 * se, (bursty, poisson)


@pytest.mark.slow
def test_predicted_capacity_holds_the_slo_and_more_running_requests_raise_it():
    small, large = perf(2), perf(4)
    caps = [predicted_capacity(m, IN, OUT, 3.0, num_requests=120, seeds=(1, 2, 3))
            for m in (small, large)]
    assert 0 < caps[0] < caps[1]
    assert caps[0] < 2 * saturation_rate(small, IN, OUT)
    # a tighter SLO admits less load
    assert predicted_capacity(small, IN, OUT, 0.5, num_requests=120, seeds=(1, 2, 3)) < caps[0]
