"""Continuous batching, SGLang style, as a pure state machine over a clock it is handed.

``plan`` picks the next step (a prefill batch when new work fits, else one decode token for
every running request) and prices it with the performance model; ``complete`` applies it.
The HTTP server runs this loop in real time (one timer per step, not per request);
``closed_loop`` runs it in virtual time, which is both the tests' driver and the
simulator's own prediction of TTFT/TPOT/throughput for a given load.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tuneops.engines.sim.perfmodel import PerfModel

# SGLang 0.5.23's adaptive new-token ratio (srt/environ.py:646-650 defaults; its tracker is
# srt/managers/scheduler_components/new_token_ratio_tracker.py): the share of each running
# request's remaining output that admission keeps free in the KV pool.
NEW_TOKEN_RATIO = 0.7  # SGLANG_INIT_NEW_TOKEN_RATIO, times --schedule-conservativeness
MIN_NEW_TOKEN_RATIO_FACTOR = 0.14  # SGLANG_MIN_NEW_TOKEN_RATIO_FACTOR: the floor, x init
NEW_TOKEN_RATIO_DECAY_STEPS = 600  # SGLANG_NEW_TOKEN_RATIO_DECAY_STEPS: init -> floor
RETRACT_DECODE_STEPS = 20  # SGLANG_RETRACT_DECODE_STEPS: headroom assumed after a retract
CLIP_MAX_NEW = 4096  # SGLANG_CLIP_MAX_NEW_TOKENS_ESTIMATION

_ids = itertools.count(1)


@dataclass(eq=False)
class Request:
    prompt_len: int
    max_new: int
    out_len: int  # tokens it will produce (<= max_new): EOS or the limit
    arrival: float
    sink: Any = None  # whoever streams the tokens (the HTTP layer)
    id: int = field(default_factory=lambda: next(_ids))
    state: str = "waiting"  # waiting | prefill | decode | done
    generated: int = 0
    kv: int = 0  # tokens it holds in the KV pool
    target: int = 0  # tokens to have in KV before decoding (prompt, + output after a retract)
    first_token: float | None = None
    finished: float | None = None
    aborted: bool = False
    retracted: int = 0
    ignore_eos: bool = False  # runs to max_new for sure: SGLang reserves all of it
    submit_seq: int = 0
    peaks: _Peaks | None = field(default=None, repr=False)  # the scheduler's, once submitted
    final_peak: int | None = None  # frozen when it finishes or is aborted

    @property
    def peak_in_system(self) -> int:
        """Most requests in the system at once while this one was."""
        if self.final_peak is not None:
            return self.final_peak
        return self.peaks.since(self.submit_seq) if self.peaks else 0

    def settle(self) -> None:
        self.final_peak = self.peak_in_system

    def reserve(self, ratio: float) -> int:
        """KV tokens still to come: the prompt not yet prefilled, plus ``ratio`` of the output
        not yet generated (all of it with ``ignore_eos``), as SGLang 0.5.23's PrefillAdder
        counts a running request (srt/managers/schedule_policy.py:785-794). Never negative:
        tokens already decoded sit in ``kv`` and the pool's used count, not here."""
        prompt_left = max(self.target - self.kv, 0)
        output_left = max(min(self.max_new - self.generated, CLIP_MAX_NEW), 0)
        return prompt_left + math.ceil(output_left * (1.0 if self.ignore_eos else ratio))


class _Peaks:
    """The largest in-system count since any past submission, in O(log n) per question.

    A stack of (submission number, count) with counts strictly decreasing: a count at or
    below a later one can never be the maximum of a range that runs up to now. (Updating
    every live request on each submission was O(n) per request, O(n^2) for an offline run.)
    """

    def __init__(self) -> None:
        self.seq = 0
        self.seqs: list[int] = []
        self.counts: list[int] = []

    def push(self, count: int) -> int:
        self.seq += 1
        while self.counts and self.counts[-1] <= count:
            self.seqs.pop()
            self.counts.pop()
        self.seqs.append(self.seq)
        self.counts.append(count)
        return self.seq

    def since(self, seq: int) -> int:
        i = bisect.bisect_left(self.seqs, seq)
        return self.counts[i] if i < len(self.counts) else 0


@dataclass
class NewTokenRatio:
    """SGLang's ``NewTokenRatioTracker`` (new_token_ratio_tracker.py:13-49 in 0.5.23).

    Starts at 0.7 x conservativeness (at most 1), decays linearly to 14 % of that over 600
    decode steps without a retraction (scheduler.py:4542), jumps to what the kept batch has
    really used after a retraction (scheduler.py:4513, schedule_batch.py:3534-3537), and
    resets when the server goes idle (scheduler.py:5318)."""

    init: float
    floor: float
    decay: float
    current: float

    @classmethod
    def from_conservativeness(cls, conservativeness: float) -> NewTokenRatio:
        init = min(NEW_TOKEN_RATIO * conservativeness, 1.0)
        floor = min(init * MIN_NEW_TOKEN_RATIO_FACTOR, 1.0)
        return cls(init, floor, (init - floor) / NEW_TOKEN_RATIO_DECAY_STEPS, init)

    def decay_step(self) -> None:
        self.current = max(self.current - self.decay, self.floor)

    def reset(self) -> None:
        self.current = self.init

    def after_retract(self, kept: list[Request]) -> None:
        decoded = sum(r.generated for r in kept)
        budget = sum(r.max_new for r in kept)
        self.current = min(1.0, (decoded + RETRACT_DECODE_STEPS * len(kept)) / (budget + 1))


@dataclass
class Step:
    duration: float
    prefill: list[tuple[Request, int]]
    decode: list[Request]


class Scheduler:
    """One replica's queue, running batch and KV pool."""

    def __init__(self, model: PerfModel, seed: int = 0) -> None:
        self.model = model
        self.capacity = model.plan.max_total_tokens
        self.max_running = model.max_running_requests
        self.chunk = model.chunked_prefill_size
        self.policy = model.s.schedule_policy
        self.new_token_ratio = NewTokenRatio.from_conservativeness(
            model.s.schedule_conservativeness)
        self.rng = random.Random(seed)
        self.waiting: list[Request] = []
        self.running: list[Request] = []
        self.chunked: Request | None = None
        self.kv_used = 0
        self.prompt_tokens_total = 0
        self.generation_tokens_total = 0
        self.retractions = 0
        self.peaks = _Peaks()

    # -- admission ------------------------------------------------------------------------

    def in_system(self) -> int:
        return len(self.waiting) + len(self.running) + (self.chunked is not None)

    def check(self, prompt_len: int, max_new: int) -> str | None:
        """Why a request can never run here (SGLang answers 400), or None."""
        if prompt_len >= self.model.context_length:
            return (f"The input ({prompt_len} tokens) is longer than the model's context length "
                    f"({self.model.context_length} tokens).")
        if prompt_len + 1 > self.capacity:
            return f"The input ({prompt_len} tokens) does not fit the KV pool ({self.capacity})."
        return None

    def submit(self, req: Request) -> None:
        req.target = req.prompt_len
        req.max_new = max(1, min(req.max_new, self.model.context_length - req.prompt_len))
        req.out_len = max(1, min(req.out_len, req.max_new))
        self.waiting.append(req)
        req.peaks, req.submit_seq = self.peaks, self.peaks.push(self.in_system())

    def abort(self, req: Request) -> None:
        req.aborted = True
        req.settle()

    def _purge(self) -> None:
        if any(r.aborted for r in self.waiting):
            self.waiting = [r for r in self.waiting if not r.aborted]
        if self.chunked is not None and self.chunked.aborted:
            self._free(self.chunked)
            self.chunked = None
        if any(r.aborted for r in self.running):
            for r in self.running:
                if r.aborted:
                    self._free(r)
            self.running = [r for r in self.running if not r.aborted]

    def _free(self, req: Request) -> None:
        self.kv_used -= req.kv
        req.kv = 0

    def _ordered_waiting(self) -> list[Request]:
        if self.policy == "random":
            order = list(self.waiting)
            self.rng.shuffle(order)
            return order
        if self.policy == "lof":
            return sorted(self.waiting, key=lambda r: -r.max_new)
        # fcfs; lpm/dfs-weight reduce to it: the simulator models no shared prefixes
        return self.waiting

    # -- planning -------------------------------------------------------------------------

    @property
    def ratio(self) -> float:
        return self.new_token_ratio.current

    def plan(self) -> Step | None:
        self._purge()
        if not self.running and not self.waiting and self.chunked is None:
            self.new_token_ratio.reset()  # idle (SGLang's on_idle)
            return None
        step = self._plan_prefill()
        if step is None and self.running:
            if self._make_room(len(self.running)):
                self.new_token_ratio.after_retract(self.running)
            else:
                self.new_token_ratio.decay_step()
            decode = list(self.running)
            ctx = sum(r.kv for r in decode)
            step = Step(self.model.step_time([], len(decode), ctx, len(self.waiting)), [], decode)
        return step

    def _plan_prefill(self) -> Step | None:
        if not self.waiting and self.chunked is None:
            return None
        budget = self.chunk or self.model.s.max_prefill_tokens
        reserved = sum(r.reserve(self.ratio) for r in self.running)
        parts: list[tuple[Request, int]] = []
        if self.chunked is not None:
            req = self.chunked
            reserved += req.reserve(self.ratio)
            n = min(budget, req.target - req.kv)
            parts.append((req, n))
            budget -= n
        free = self.capacity - self.kv_used - reserved
        slots = self.max_running - len(self.running) - len(parts)
        taken: list[Request] = []
        for req in self._ordered_waiting():
            if slots <= 0 or budget <= 0:
                break
            remaining = req.target - req.kv
            need = req.reserve(self.ratio)
            if need > free and (self.running or parts or taken):
                break  # wait for memory; an empty server admits whatever fits outright
            if remaining + 1 > self.capacity - self.kv_used:
                break
            if remaining <= budget:
                n = remaining
            elif self.chunk:
                n = budget
            elif not parts and not taken:
                n = remaining  # chunking disabled: one oversize prompt runs whole
            else:
                break
            parts.append((req, n))
            taken.append(req)
            req.state = "prefill"
            free -= need
            budget -= n
            slots -= 1
        if taken:
            gone = set(map(id, taken))
            self.waiting = [r for r in self.waiting if id(r) not in gone]
        if not parts:
            return None
        decode: list[Request] = []
        if self.model.s.enable_mixed_chunk and self.running:
            self._make_room(len(self.running) + sum(n for _, n in parts))
            decode = list(self.running)
        ctx = sum(r.kv for r in decode)
        priced = [(n, r.kv) for r, n in parts]
        duration = self.model.step_time(priced, len(decode), ctx, len(self.waiting))
        return Step(duration, parts, decode)

    def _make_room(self, need: int) -> int:
        """Retract the newest running requests until ``need`` new KV slots exist; how many."""
        before = self.retractions
        while self.capacity - self.kv_used < need and len(self.running) > 1:
            victim = self.running.pop()
            need -= 1
            self._free(victim)
            victim.state = "waiting"
            victim.target = victim.prompt_len + victim.generated
            victim.retracted += 1
            self.retractions += 1
            self.waiting.insert(0, victim)
        return self.retractions - before

    # -- applying a step ------------------------------------------------------------------

    def complete(self, step: Step, now: float) -> tuple[list[Request], list[Request]]:
        """Apply a finished step at ``now``: (requests that got a token, requests done)."""
        emitted: list[Request] = []
        for req in step.decode:
            if req.state != "decode":
                continue
            req.kv += 1
            req.generated += 1
            emitted.append(req)
        self.kv_used += len(emitted)
        for req, n in step.prefill:
            if req.aborted:
                continue
            req.kv += n
            self.kv_used += n
            self.prompt_tokens_total += n if req.retracted == 0 else 0
            if req.kv >= req.target:
                if self.chunked is req:
                    self.chunked = None
                req.state = "decode"
                self.running.append(req)
                req.generated += 1
                if req.first_token is None:
                    req.first_token = now
                emitted.append(req)
            else:
                self.chunked = req
        self.generation_tokens_total += len(emitted)
        finished = [r for r in emitted if r.generated >= r.out_len]
        if finished:
            for req in finished:
                req.state = "done"
                req.finished = now
                req.settle()
                self._free(req)
            self.running = [r for r in self.running if r.state == "decode"]
        return emitted, finished


@dataclass(frozen=True)
class LoadResult:
    """What a closed-loop client at fixed concurrency would measure (seconds, tokens/s)."""

    concurrency: int
    requests: int
    mean_ttft: float
    mean_tpot: float
    mean_e2e: float
    output_throughput: float  # output tokens/s of the replica
    per_gpu_throughput: float
    duration: float
    retractions: int


def drive(model: PerfModel, arrivals: list[Request], seed: int = 0,
          on_finish: Callable[[Request, float], list[Request]] | None = None,
          ) -> tuple[Scheduler, list[Request], float]:
    """Run requests to completion in virtual time: (scheduler, finished requests, end time).

    Each request reaches the scheduler ``model.request_overhead_s`` after its ``arrival``
    (HTTP and tokenization happen before SGLang's scheduler sees it), so the fixed cost is
    part of its TTFT and never occupies the GPU. ``on_finish`` may answer a finished request
    with new ones (a closed-loop client sending its next request).
    """
    sched = Scheduler(model, seed)
    delay = model.request_overhead_s
    pending = [(r.arrival + delay, r.id, r) for r in arrivals]
    heapq.heapify(pending)
    t, done = 0.0, []
    while pending or sched.in_system():
        while pending and pending[0][0] <= t:
            sched.submit(heapq.heappop(pending)[2])
        step = sched.plan()
        if step is None:
            if not pending:
                raise RuntimeError("scheduler stalled with requests outstanding")
            t = pending[0][0]
            continue
        t += step.duration
        _, finished = sched.complete(step, t)
        for req in finished:
            done.append(req)
            for new in on_finish(req, t) if on_finish else ():
                heapq.heappush(pending, (new.arrival + delay, new.id, new))
    return sched, done, t


def closed_loop(model: PerfModel, concurrency: int, prompt_len: int, output_len: int,
                num_requests: int, seed: int = 0, ignore_eos: bool = False) -> LoadResult:
    """Run ``num_requests`` fixed-size requests with ``concurrency`` clients in virtual time.

    Each client sends its next request the moment the previous one finishes, as genai-bench
    does; every request arrives at the same instant as its predecessor's last token.
    """
    issued = min(concurrency, num_requests)

    def request(t: float) -> Request:
        return Request(prompt_len, output_len, output_len, t, ignore_eos=ignore_eos)

    def next_request(_: Request, t: float) -> list[Request]:
        nonlocal issued
        if issued >= num_requests:
            return []
        issued += 1
        return [request(t)]

    sched, done, t = drive(model, [request(0.0) for _ in range(issued)], seed, next_request)
    ttft = [r.first_token - r.arrival for r in done]
    tpot = [(r.finished - r.first_token) / (r.generated - 1) for r in done if r.generated > 1]
    e2e = [r.finished - r.arrival for r in done]
    out = sum(r.generated for r in done)
    gpus = model.s.tp
    return LoadResult(
        concurrency=concurrency, requests=len(done), mean_ttft=sum(ttft) / len(ttft),
        mean_tpot=sum(tpot) / len(tpot) if tpot else 0.0, mean_e2e=sum(e2e) / len(e2e),
        output_throughput=out / t, per_gpu_throughput=out / t / gpus, duration=t,
        retractions=sched.retractions,
    )
