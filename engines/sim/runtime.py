"""The real-time side of the scheduler: one asyncio loop per replica, one timer per step.

Each step is planned, slept for exactly its modelled duration (against a running deadline,
so sleep overshoot does not accumulate), applied, and the tokens it produced are handed to
their streams in one pass. Per-request timings in model time are kept for ``/sim/requests``.
"""

from __future__ import annotations

import asyncio
from collections import deque

from tuneops.engines.sim.perfmodel import PerfModel
from tuneops.engines.sim.scheduler import Request, Scheduler

RESYNC_S = 0.2  # after falling this far behind wall time, stop trying to catch up
# SGLang recomputes its gen_throughput gauge every `decode_log_interval` forward steps
# (server_args.py: default 40) as the tokens generated since the last log over the time
# since it (managers/scheduler_metrics_mixin.py, log_decode_stats: num_generated_tokens /
# gap_latency); the simulator does the same in model time.
DECODE_LOG_INTERVAL = 40


class Replica:
    def __init__(self, model: PerfModel, seed: int) -> None:
        self.sched = Scheduler(model, seed)
        self.wake = asyncio.Event()
        self.steps = 0
        self.busy_s = 0.0
        self.lag_s = 0.0  # how far wall time trailed model time, summed over steps
        self.gen_throughput = 0.0  # tokens/s over the last DECODE_LOG_INTERVAL steps
        self._log_mark: tuple[float, int] | None = None  # (time, generated) at the last log

    def submit(self, req: Request) -> None:
        """Hand ``req`` to the scheduler once the model's fixed per-request cost (HTTP,
        tokenization: ``request_overhead_s``) has passed, as ``scheduler.drive`` does."""
        delay = self.sched.model.request_overhead_s
        if delay <= 0:
            self._enter(req)
        else:
            asyncio.get_running_loop().call_later(delay, self._enter, req)

    def _enter(self, req: Request) -> None:
        if req.aborted:
            return
        self.sched.submit(req)
        self.wake.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        t = loop.time()
        while True:
            step = self.sched.plan()
            if step is None:
                self.wake.clear()
                await self.wake.wait()
                # the step began when the work arrived, not when this task got the CPU back
                arrivals = [r.arrival for r in self.sched.waiting]
                ready = self.sched.model.request_overhead_s
                t = max(t, min(arrivals) + ready) if arrivals else loop.time()
                continue
            now = loop.time()
            if now - t > RESYNC_S:
                t = now
            end = t + step.duration
            await asyncio.sleep(max(0.0, end - now))
            self.lag_s += max(0.0, loop.time() - end)
            emitted, _ = self.sched.complete(step, end)
            self.steps += 1
            self.busy_s += step.duration
            self._log_gen(end)
            t = end
            for req in emitted:
                if req.sink is not None:
                    req.sink.on_tokens(req, end)


    def _log_gen(self, now: float) -> None:
        generated = self.sched.generation_tokens_total
        if self._log_mark is None:
            self._log_mark = (now, generated)
        elif self.steps % DECODE_LOG_INTERVAL == 0 and now > self._log_mark[0]:
            self.gen_throughput = (generated - self._log_mark[1]) / (now - self._log_mark[0])
            self._log_mark = (now, generated)


class Stats:
    """Completed requests as the model timed them, for fidelity checks and server info."""

    def __init__(self, keep: int = 20000) -> None:
        self.records: deque[dict] = deque(maxlen=keep)
        self.requests_total = 0
        self.aborted_total = 0

    def record(self, req: Request, finish_reason: str, completion_tokens: int) -> None:
        self.requests_total += 1
        ttft = (req.first_token - req.arrival) if req.first_token is not None else None
        tpot = None
        if req.first_token is not None and req.finished is not None and req.generated > 1:
            tpot = (req.finished - req.first_token) / (req.generated - 1)
        self.records.append({
            "id": req.id, "arrival": req.arrival, "prompt_tokens": req.prompt_len,
            "completion_tokens": completion_tokens, "finish_reason": finish_reason,
            "modelled_ttft_s": ttft, "modelled_tpot_s": tpot,
            "modelled_e2e_s": (req.finished - req.arrival) if req.finished else None,
            "peak_in_system": req.peak_in_system, "retracted": req.retracted,
        })

    def summary(self) -> dict:
        done = [r for r in self.records if r["modelled_ttft_s"] is not None]
        tpots = [r["modelled_tpot_s"] for r in done if r["modelled_tpot_s"] is not None]
        return {
            "requests_total": self.requests_total, "aborted_total": self.aborted_total,
            "mean_modelled_ttft_s": sum(r["modelled_ttft_s"] for r in done) / len(done)
            if done else None,
            "mean_modelled_tpot_s": sum(tpots) / len(tpots) if tpots else None,
        }
