"""Open-loop load in virtual time, and the saturation rate the performance model predicts.

``closed_loop`` (scheduler.py) answers "what does a fixed number of clients see"; this
module answers the open-loop question: requests arrive at times drawn from an arrival
process whatever the server does, so once the offered rate passes what the replica can
serve, the queue (and TTFT) grows without bound. The same scheduler and step prices as the
HTTP server are used, so the prediction is the server's own.

Arrival processes follow vLLM's ``benchmarks/serve.py`` (``get_request``): inter-arrival
gaps are gamma-distributed with shape ``burstiness`` and mean ``1/rate``; burstiness 1 is
Poisson (exponential gaps), < 1 burstier, and "constant" is the fixed gap ``1/rate``.
AIPerf's constant/Poisson/gamma interval generators draw the same gaps.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from tuneops.engines.sim.perfmodel import PerfModel
from tuneops.engines.sim.scheduler import Request, Scheduler, closed_loop


def gaps(rate: float, count: int, burstiness: float | None, seed: int = 0) -> list[float]:
    """``count`` inter-arrival gaps (s) at ``rate`` req/s: None is constant, 1.0 Poisson,
    any other positive value a gamma process of that shape (same mean gap)."""
    if rate <= 0:
        raise ValueError(f"rate must be > 0, not {rate}")
    if burstiness is None:
        return [1.0 / rate] * count
    if burstiness <= 0:
        raise ValueError(f"burstiness must be > 0, not {burstiness}")
    rng = random.Random(seed)
    theta = 1.0 / (rate * burstiness)  # gamma(shape k, scale theta) has mean k * theta
    return [rng.gammavariate(burstiness, theta) for _ in range(count)]


@dataclass(frozen=True)
class OpenLoopResult:
    """What an open-loop client would measure (seconds)."""

    rate: float
    requests: int
    ttfts: tuple[float, ...]
    mean_tpot: float
    duration: float

    def ttft_quantile(self, q: float) -> float:
        xs = sorted(self.ttfts)
        return xs[min(len(xs) - 1, max(0, int(round(q * (len(xs) - 1)))))]

    @property
    def achieved_rate(self) -> float:
        return self.requests / self.duration if self.duration > 0 else 0.0


def open_loop(model: PerfModel, rate: float, prompt_len: int, output_len: int,
              num_requests: int, burstiness: float | None = 1.0, seed: int = 0
              ) -> OpenLoopResult:
    """Serve ``num_requests`` fixed-size requests arriving at ``rate`` req/s (see ``gaps``)
    in virtual time; every request is submitted at its arrival time, never later."""
    arrivals, t = [], 0.0
    for g in gaps(rate, num_requests, burstiness, seed):
        t += g
        arrivals.append(t)
    sched = Scheduler(model, seed)
    now, nxt, done = 0.0, 0, []
    while len(done) < num_requests:
        while nxt < num_requests and arrivals[nxt] <= now:
            sched.submit(Request(prompt_len, output_len, output_len, arrivals[nxt]))
            nxt += 1
        step = sched.plan()
        if step is None:  # idle: jump to the next arrival
            now = arrivals[nxt]
            continue
        now += step.duration
        _, finished = sched.complete(step, now)
        done.extend(finished)
    ttft = tuple(r.first_token - r.arrival for r in done)
    tpot = [(r.finished - r.first_token) / (r.generated - 1) for r in done if r.generated > 1]
    return OpenLoopResult(rate=rate, requests=len(done), ttfts=ttft,
                          mean_tpot=sum(tpot) / len(tpot) if tpot else 0.0,
                          duration=max(r.finished for r in done))


def saturation_rate(model: PerfModel, prompt_len: int, output_len: int,
                    num_requests: int = 0) -> float:
    """The highest request rate (req/s) the replica sustains: its completion rate with the
    running batch always full (a closed loop at the replica's running-request cap, capped at
    what the KV pool holds). Offered beyond it, an open-loop queue grows without bound."""
    per_req = prompt_len + output_len
    fits = max(1, model.plan.max_total_tokens // max(per_req, 1))
    slots = max(1, min(model.max_running_requests, fits, 1024))
    n = num_requests or max(4 * slots, 64)
    run = closed_loop(model, slots, prompt_len, output_len, n)
    return run.requests / run.duration


def predicted_capacity(model: PerfModel, prompt_len: int, output_len: int,
                       ttft_p99_limit_s: float, num_requests: int = 400,
                       burstiness: float | None = 1.0, seeds: tuple[int, ...] = (1, 2, 3),
                       resolution: float = 0.01) -> float:
    """The highest offered rate whose open-loop p99 TTFT (the median over `seeds`) stays
    within the limit: what a capacity search under that SLO and run length should find.
    Near ``saturation_rate`` under a loose limit (a run of `num_requests` can hold a little
    beyond it, before its queue has grown far); well below it under a tight one."""

    def holds(rate: float) -> bool:
        p99 = sorted(open_loop(model, rate, prompt_len, output_len, num_requests, burstiness,
                               s).ttft_quantile(0.99) for s in seeds)
        return p99[len(p99) // 2] <= ttft_p99_limit_s

    # a finite run can hold a little above saturation: its queue has not grown far yet
    lo, hi = 0.0, 2.0 * saturation_rate(model, prompt_len, output_len)
    if holds(hi):
        return hi
    while hi - lo > resolution * hi:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if holds(mid) else (lo, mid)
    return lo
