"""One open-loop rate measured by the simulator's performance model in virtual time
(engines/sim/openloop.py): the aiperf.Point the rate runner's search and sweep judge, with
the per-request TTFTs the sequential rule's intervals are drawn from. No AIPerf, no HTTP;
used by the capacity test and scripts/bench_capacity.py."""

from __future__ import annotations

from tuneops.engines.sim import profiles
from tuneops.engines.sim.openloop import open_loop
from tuneops.engines.sim.perfmodel import PerfModel, Settings
from tuneops.runner.loadgen import aiperf


def model(max_running_requests: int) -> PerfModel:
    """Llama-3.1-8B on an H100, as sim-poisson.yaml simulates it."""
    return PerfModel(profiles.gpu("H100"), profiles.model("Llama-3.1-8B"),
                     Settings(max_running_requests=max_running_requests))


def point(perf: PerfModel, rate: float, prompt: int, output: int, requests: int,
          burstiness: float | None, seed: int = 0) -> tuple[aiperf.Point, float]:
    """(the Point, its sending time in virtual seconds) of `requests` arriving at `rate`."""
    run = open_loop(perf, rate, prompt, output, requests, burstiness, seed)
    ttfts = [t * 1000 for t in run.ttfts]
    return aiperf.Point(ok=True, records={"ttft": ttfts}, metrics={
        "ttft.p99": run.ttft_quantile(0.99) * 1000,
        "num_completed_requests": float(requests), "error_rate": 0.0}), run.duration
