"""Search spaces built from the simulator's performance model, measured in virtual time.

Shared by scripts/bench_search.py and tests/runner/search/test_search_model.py. A space is
an experiment (sim engine, no HTTP) plus a truth: what each configuration would measure.
The truth is the simulator's own model with its efficiency constants moved by up to
±`perturb` (seeded): the "real hardware" the search does not know, while
`search.method: model` predicts with the unmoved constants and calibrates as it measures.

How hard each space is, counted by `near_share` (points within 3 % of the best, start
failures included in the count) over perturbation seeds 0-9 (over 0-29: plateau median
2.2 %, 0.6-5.0 %; narrow 1.6-7.3 %), and the trap in it. Every
flag is a real SGLang flag of schemas/catalogs/sglang.json that the simulator's model reads;
no space is made hard by flags that do nothing or by SLOs that leave one point standing.

- easy (448 points, 9.4-10.9 % within 3 %): Llama-3.1-8B on one H100, D(1000,200), a
  loose TTFT bound, clients 32-256. Throughput grows with the batch until the decode step
  is dominated by KV reads, so the best needs a running-request cap of 224-256 (of 8
  values) and an fp8 KV cache (half the bytes read per step); the chunk size and memory
  fraction hardly matter. No trap: a blind search finds it in a few trials.
- plateau (2,160 points, 1.1-2.2 %): Llama-3.1-70B on 8 GPUs, D(4000,400), TTFT <= 20 s
  and TPOT <= 45 ms, clients 32-256. tp 2 does not start (a third of the space fails at
  start). tp 8 is the trap: every tp-8 point meets the SLOs comfortably and the best of
  them sits at 78-92 % of the optimum (per seed) over hundreds of points. The optimum is tp
  4 with the running-request cap in a band one or two steps wide (48-56 of 16-128): a
  bigger batch at 64 clients loses the TPOT bound, a smaller one throughput; at the
  judged level hundreds of points measure more than the optimum and then lose an SLO
  (the pruning test's trap).
- narrow (2,688 points, 1.6-3.3 %): Llama-3.1-8B on a 2-GPU budget, long prompts
  D(6000,600), TPOT <= 22 ms (tight: a wave of 6,000-token prefills lands in every
  request's TPOT) and TTFT <= 15 s, clients 32-256. tp 1 runs out of KV pool at the
  higher levels unless the memory fraction is high, and high fractions with 16k chunks
  do not start (OOM regions); tp 1's best is a close second (91-100 %). The optimum is tp 2
  with an fp8 KV cache, chunks of 4k-16k and a running-request cap in a band of 2-3
  steps (96-112 of 8-256).
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tuneops.engines.sim import perfmodel
from tuneops.engines.sim.scheduler import closed_loop
from tuneops.runner import score
from tuneops.runner.search.predict import perf_model, predict, request_sizes

from tuneops.plan import make_plan
from tuneops.spec import Experiment, from_document


def _doc(name: str, model: str, gpus: int, parameters: dict, slos: list, levels: list,
         scenario: str, constraints: list | None = None) -> dict:
    return {
        "metadata": {"name": name},
        "model": {"id": f"meta-llama/{model}"},
        "engine": {"name": "sim", "args": {}},
        "deployment": {"mode": "local", "gpus": {"count": gpus}},
        "benchmark": {"trafficScenarios": [scenario], "concurrency": levels},
        "objective": {"metric": "output_throughput_per_gpu", "direction": "maximize",
                      "concurrency": "best_feasible"},
        "slos": slos,
        "parameters": parameters,
        "constraints": constraints or [],
        "search": {"method": "random", "seed": 0},
    }


SPACES: dict[str, dict] = {
    "easy": _doc(
        "easy", "Llama-3.1-8B", 1,
        {"max-running-requests": [32, 64, 96, 128, 160, 192, 224, 256],
         "chunked-prefill-size": [2048, 4096, 8192, 16384],
         "mem-fraction-static": {"type": "float", "low": 0.78, "high": 0.9, "step": 0.02},
         "kv-cache-dtype": ["auto", "fp8_e5m2"]},
        [{"metric": "ttft.mean", "max": 8000}], [32, 64, 128, 256], "D(1000,200)"),
    "plateau": _doc(
        "plateau", "Llama-3.1-70B", 8,
        {"tp-size": [2, 4, 8],
         "max-running-requests": {"type": "int", "low": 16, "high": 128, "step": 8},
         "chunked-prefill-size": [2048, 4096, 8192, 16384],
         "mem-fraction-static": {"type": "float", "low": 0.85, "high": 0.95, "step": 0.02},
         "disable-cuda-graph": [False, True]},
        [{"metric": "ttft.mean", "max": 20000}, {"metric": "tpot.mean", "max": 45}],
        [32, 64, 128, 256], "D(4000,400)"),
    "narrow": _doc(
        "narrow", "Llama-3.1-8B", 2,
        {"tp-size": [1, 2],
         "max-running-requests": {"type": "int", "low": 8, "high": 256, "step": 8},
         "chunked-prefill-size": [4096, 8192, 16384],
         "mem-fraction-static": [0.8, 0.85, 0.88, 0.9, 0.92, 0.94, 0.96],
         "kv-cache-dtype": ["auto", "fp8_e5m2"]},
        [{"metric": "ttft.mean", "max": 15000}, {"metric": "tpot.mean", "max": 22}],
        [32, 64, 128, 256], "D(6000,600)"),
}
HARD = ("plateau", "narrow")


def experiment(space: str, method: str, seed: int, **search: Any) -> Experiment:
    doc = dict(SPACES[space])
    doc["search"] = {"method": method, "seed": seed, **search}
    return from_document(doc)


@contextlib.contextmanager
def world() -> Iterator[perfmodel.Efficiency]:
    """The model these spaces were built against: the simulator's uncalibrated constants
    (``Efficiency()``), for truth and prediction alike, while the block runs.

    The spaces' SLO limits place a plateau trap and a narrow optimum in that model; the
    calibrated constants (data/calibration.json, fitted to published H100 numbers) are
    slower, and under them the plateau space has no feasible point at all. Pinning the world
    keeps each space what it was designed to be whatever a later calibration moves.
    """
    original = perfmodel.Efficiency.__dict__["for_gpu"]
    base = perfmodel.Efficiency()
    perfmodel.Efficiency.for_gpu = classmethod(lambda cls, gpu: base)
    try:
        yield base
    finally:
        perfmodel.Efficiency.for_gpu = original


@contextlib.contextmanager
def perturbed(seed: int | None, spread: float = 0.15) -> Iterator[dict[str, float]]:
    """The simulator's efficiency constants (every field of ``perfmodel.Efficiency``) each
    moved by a seeded factor in 1 ± spread (None: unmoved), restored afterwards.

    The constants live in an ``Efficiency`` value that ``PerfModel`` takes from
    ``Efficiency.for_gpu`` when none is given, so that lookup is what is replaced: every model
    built inside the block is the perturbed one. Single-threaded use only (a class attribute).
    """
    rng = random.Random(seed)
    names = perfmodel.Efficiency.names()
    factors = {name: 1.0 if seed is None else rng.uniform(1 - spread, 1 + spread)
               for name in names}
    original = perfmodel.Efficiency.__dict__["for_gpu"]
    calibrated = original.__func__

    def for_gpu(cls: type, gpu: str) -> perfmodel.Efficiency:
        return calibrated(cls, gpu).scaled(**factors)

    perfmodel.Efficiency.for_gpu = classmethod(for_gpu)
    try:
        yield factors
    finally:
        perfmodel.Efficiency.for_gpu = original


@dataclass
class Truth:
    """Every feasible point's measured levels, computed once: trial id -> level metrics."""

    exp: Experiment
    levels: dict[str, dict[int, dict[str, float]] | str]  # per args key

    def measure(self, args: dict[str, Any], scenario: str, level: int):
        got = self.levels[_key(args)]
        return got if isinstance(got, str) else got[level]


def optimum(tr: Truth) -> float | None:
    """The best feasible objective over every point of the truth (None: nothing feasible),
    scored by tuneops' own scorer."""
    best = None
    for trial in make_plan(tr.exp).trials:
        got = tr.levels[_key(trial.args)]
        if isinstance(got, str):
            continue
        s = score.score_trial(tr.exp, {tr.exp.benchmark.traffic_scenarios[0]: got})
        if s.feasible and (best is None or s.objective > best):
            best = s.objective
    return best


def near_share(tr: Truth, best: float, within: float = 0.03) -> float:
    """The share of the space's points (start failures and SLO losers counted) whose
    objective is within `within` of `best`: how hard the space is for a blind search."""
    trials = make_plan(tr.exp).trials
    near = 0
    for trial in trials:
        got = tr.levels[_key(trial.args)]
        if isinstance(got, str):
            continue
        s = score.score_trial(tr.exp, {tr.exp.benchmark.traffic_scenarios[0]: got})
        near += bool(s.feasible and s.objective >= (1 - within) * best)
    return near / len(trials)


def _key(args: dict[str, Any]) -> str:
    return repr(sorted(args.items()))


def truth(space: str, seed: int | None, *, engine: str = "scheduler") -> Truth:
    """What each point measures under constants perturbed by `seed`. engine "scheduler":
    the simulator's step-by-step closed loop (what the sim server does, in virtual time);
    "steady": the wave estimate (fast; for tests)."""
    exp = experiment(space, "grid", 0)
    prompt, output = request_sizes(exp.benchmark.traffic_scenarios[0])
    model = exp.model.id.split("/")[-1]
    out: dict[str, Any] = {}
    with perturbed(seed):
        for trial in make_plan(exp).trials:
            pm = perf_model("H100", model, trial.args)
            if pm.plan.error:
                out[_key(trial.args)] = pm.plan.error
                continue
            by_level = {}
            for c in exp.benchmark.concurrency:
                if engine == "steady":
                    by_level[c] = predict(pm, c, prompt, output).values
                else:
                    r = closed_loop(pm, c, prompt, output, max(2 * c, 32))
                    by_level[c] = _level_metrics(r, pm.s.tp)
            out[_key(trial.args)] = by_level
    return Truth(exp, out)


def _level_metrics(r, gpus: int) -> dict[str, float]:
    values = {"output_throughput": r.output_throughput,
              "output_throughput_per_gpu": r.output_throughput / gpus, "error_rate": 0.0}
    for stat in ("mean", "p50", "p90", "p99"):  # fixed-size requests: one value stands for all
        values[f"ttft.{stat}"] = r.mean_ttft * 1000
        values[f"tpot.{stat}"] = r.mean_tpot * 1000
    return values
