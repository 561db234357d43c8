"""Memory-aware search: which points cannot start, known before they run.

Every trial that cannot start still costs an engine start (minutes on a GPU). Two things
tell tuneops in advance:

- The performance model's memory plan (engines/sim/perfmodel.py `MemoryPlan`: weights + KV
  pool + CUDA graphs inside `mem-fraction-static` x GPU memory, activations, logits and
  the CUDA context outside it). For SGLang, vLLM (its flags mapped to SGLang's,
  predict.VLLM_NAMES) and the simulator with a model profile and a known GPU type, a point
  whose plan has an `error` is left out of the search before it starts: `prefilter`
  lists each one with the plan's reason, and `tuneops plan` prints them.
- Start failures measured in the run (`StartLog`). Points that differ only in the memory
  fraction (and in knobs that only schedule: `SCHEDULING_ONLY`) share one memory need, so
  one start failure speaks for the others of its group — the (tp, chunk size, CUDA graph
  size, ...) group of issue 23. A fraction that ran out of memory *outside* the static
  pool (CUDA OOM: activations, graphs) fails for every higher fraction of the group; one
  whose KV pool came out empty ("increase --mem-fraction-static") for every lower one.
  `StartLog.probe` bisects the values still open between the highest fraction known to
  start and the lowest known to fail, where vLLM's benchmarks/auto_tune/auto_tune.sh
  walks `gpu-memory-utilization` down from 0.98 in steps of 0.01 until the server starts
  (the loop after "first find out the max gpu-memory-utilization without HBM OOM"): the
  same highest value that starts, in log2(n) starts instead of n.

Outcomes are values (`Inferred`): a point left out carries the trial it was inferred from
and why, so nothing is dropped without a line in the run's notes.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any

from tuneops.runner.search.predict import ENGINES_WITH_MODEL, model_for, perf_model

from tuneops.plan import Plan, trial_args
from tuneops.spec import Experiment

# The memory-fraction flag of each engine the model knows (SGLang's name in the sim).
FRACTION = {"sglang": "mem-fraction-static", "sim": "mem-fraction-static",
            "vllm": "gpu-memory-utilization"}
# Flags that change what the scheduler admits, not what start-up allocates: points that
# differ only in them (and the fraction) share a start outcome. SGLang sizes its request
# pool from max-running-requests, a few MiB; everything not listed here splits groups.
SCHEDULING_ONLY = frozenset({
    "max-running-requests", "max-num-seqs", "schedule-policy", "schedule-conservativeness",
    "stream-interval", "max-prefill-tokens", "scheduling-policy",
})
# Start-failure texts. Too little KV (the fraction is too low): SGLang's
# model_runner.py "Not enough memory. Please try to increase --mem-fraction-static";
# vLLM's "No available memory for the cache blocks. Try increasing
# `gpu_memory_utilization`" and "... larger than the available KV cache memory ...
# Try increasing `gpu_memory_utilization`" (vllm/v1/core/kv_cache_utils.py). Too much
# (no room left outside the static pool): torch's "CUDA out of memory" and vLLM's "Free
# memory on device ... is less than desired GPU memory utilization" (vllm/v1/worker/utils.py).
TOO_LOW = re.compile(r"increase --mem-fraction-static|increasing `?gpu_memory_utilization"
                     r"|no available memory for the cache blocks", re.I)
TOO_HIGH = re.compile(r"out of memory|OutOfMemoryError|less than desired gpu memory "
                      r"utilization", re.I)


def known_gpu(exp: Experiment, params: dict[str, Any]) -> str | None:
    """The GPU type a point runs on, when tuneops knows it: the trial's own type, the
    deployment's, or the engine's `gpu-type`; the simulator's default (H100) for sim."""
    args = {**exp.engine.args, **params}
    kind = args.get("gpu-type") or exp.gpu_type_for(params)
    if kind is None and exp.engine.name == "sim":
        kind = "H100"  # engines/sim/config.py: --gpu-type defaults to H100
    return str(kind) if kind else None


@functools.lru_cache(maxsize=100_000)
def _plan_error(gpu: str, model: str, args: tuple) -> str | None:
    """`args`: (flag, repr, value) triples. The repr is in the memo's key because equal
    values of other types are one key to a dict, but the model reads them apart: a
    chunked-prefill-size of True is SGLang's default chunk, 1 a chunk of one token."""
    return perf_model(gpu, model, {k: v for k, _, v in args}).plan.error


def cannot_start(exp: Experiment, params: dict[str, Any]) -> str | None:
    """Why the memory plan says this point cannot start (None: it may, or no model knows)."""
    if exp.engine.name not in ENGINES_WITH_MODEL:
        return None
    got = model_for(exp)
    gpu = known_gpu(exp, params)
    if isinstance(got, str) or gpu is None:
        return None
    args = trial_args(exp, params)
    frozen = tuple(sorted((k, repr(v), tuple(v) if isinstance(v, list) else v)
                          for k, v in {**args, "gpu-type": gpu}.items()))
    try:
        error = _plan_error(gpu, got[1], frozen)
    except (KeyError, ValueError, TypeError):
        return None  # a value the model cannot read: the engine will judge it
    return f"memory plan ({gpu}): {error}" if error else None


def prefilter(exp: Experiment, plan: Plan) -> dict[str, str]:
    """trial id -> why the memory plan says it cannot start, for every planned trial."""
    out = {}
    for trial in plan.trials:
        if (why := cannot_start(exp, trial.params)) is not None:
            out[trial.id] = why
    return out


@dataclass(frozen=True)
class Inferred:
    """A start outcome known without running: the point, and the measured trial it follows."""

    source: str  # trial id whose start failure says so
    fraction: float
    reason: str


@dataclass
class StartLog:
    """Start outcomes per memory group; what they say about the group's other fractions."""

    exp: Experiment
    too_high: dict[tuple, tuple[float, str]] = field(default_factory=dict)  # lowest OOM
    too_low: dict[tuple, tuple[float, str]] = field(default_factory=dict)  # highest empty KV
    started: dict[tuple, float] = field(default_factory=dict)  # highest fraction that started

    @property
    def fraction(self) -> str | None:
        return FRACTION.get(self.exp.engine.name)

    def group(self, params: dict[str, Any]) -> tuple:
        """The point's memory group: its values of every flag but the fraction and the
        scheduling-only ones."""
        skip = SCHEDULING_ONLY | {self.fraction}
        return tuple(sorted((k, repr(v)) for k, v in params.items() if k not in skip))

    def value(self, params: dict[str, Any]) -> float | None:
        v = {**self.exp.engine.args, **params}.get(self.fraction) if self.fraction else None
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None

    def learn(self, trial_id: str, params: dict[str, Any], failure: str | None) -> None:
        """One start: `failure` is the reason it did not start (None: it started)."""
        f = self.value(params)
        if f is None:
            return
        g = self.group(params)
        if failure is None:
            self.started[g] = max(self.started.get(g, f), f)
        elif TOO_LOW.search(failure):  # checked first: SGLang's text also says "memory"
            if g not in self.too_low or f > self.too_low[g][0]:
                self.too_low[g] = (f, trial_id)
        elif TOO_HIGH.search(failure):
            if g not in self.too_high or f < self.too_high[g][0]:
                self.too_high[g] = (f, trial_id)

    def verdict(self, params: dict[str, Any]) -> Inferred | None:
        """The failure this point will hit, inferred from its group's measured starts."""
        f = self.value(params)
        if f is None:
            return None
        g = self.group(params)
        if g in self.too_high and f >= self.too_high[g][0]:
            at, src = self.too_high[g]
            return Inferred(src, f, f"{self.fraction} {f:g} >= {at:g}, which ran out of "
                            f"memory at start in trial {src} (same tp, chunk and graph sizes)")
        if g in self.too_low and f <= self.too_low[g][0]:
            at, src = self.too_low[g]
            return Inferred(src, f, f"{self.fraction} {f:g} <= {at:g}, which left no KV "
                            f"cache at start in trial {src} (same tp, chunk and graph sizes)")
        return None

    def probe(self, params: dict[str, Any], values: list[float]) -> float | None:
        """The fraction to start next in this point's group, bisecting towards the highest
        that starts: the middle of `values` strictly between the highest known to start and
        the lowest known to run out of memory (None: no OOM seen in the group, or the
        point's own fraction is not open — the model's own ranking decides then)."""
        g = self.group(params)
        if g not in self.too_high:
            return None
        hi = self.too_high[g][0]
        lo = max(self.started.get(g, float("-inf")),
                 self.too_low[g][0] if g in self.too_low else float("-inf"))
        open_ = sorted(v for v in set(values) if lo < v < hi)
        if self.value(params) not in open_:
            return None
        return open_[len(open_) // 2]
