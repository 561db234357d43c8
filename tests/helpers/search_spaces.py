"""Search spaces built from the simulator's performance model, measured in virtual time.

Shared by scripts/bench_search.py and tests/runner/search/test_search_model.py. A space is
an experiment (sim engine, no HTTP) plus a truth: what each configuration would measure.
The truth is the simulator's own model with its efficiency constants moved by up to
±`perturb` (seeded): the "real hardware" the search does not know, while
`search.method: model` predicts with the unmoved constants and calibrates as it measures.

- easy: Llama-3.1-8B on one H100, a loose TTFT bound; many points are near the best.
- plateau: Llama-3.1-70B on 8 GPUs (tp 2 does not start): tp 8 is a wide plateau at
  ~86 % of the best, which only tp 4 with one chunk size (2048) and a narrow band of
  running-request caps reaches under tight TTFT/TPOT SLOs.
- narrow: Llama-3.1-8B on a 4-GPU budget under tight TTFT/TPOT SLOs, with OOM regions
  (high memory fractions with big chunks): the best is tp 2 with mid-size chunks.
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
        {"max-running-requests": [32, 64, 96, 128, 192, 256],
         "chunked-prefill-size": [2048, 4096, 8192, 16384],
         "mem-fraction-static": {"type": "float", "low": 0.78, "high": 0.9, "step": 0.02},
         "schedule-conservativeness": [0.8, 1.0, 1.2]},
        [{"metric": "ttft.mean", "max": 8000}], [32, 128], "D(1000,200)"),
    "plateau": _doc(
        "plateau", "Llama-3.1-70B", 8,
        {"tp-size": [2, 4, 8],
         "max-running-requests": {"type": "int", "low": 8, "high": 256, "step": 8},
         "chunked-prefill-size": [1024, 2048, 4096, 8192, 16384],
         "mem-fraction-static": [0.8, 0.85, 0.9],
         "disable-cuda-graph": [False, True]},
        [{"metric": "ttft.mean", "max": 2500}, {"metric": "tpot.mean", "max": 30}],
        [32, 64, 128, 256], "D(2000,250)"),
    "narrow": _doc(
        "narrow", "Llama-3.1-8B", 4,
        {"tp-size": [1, 2, 4],
         "max-running-requests": {"type": "int", "low": 8, "high": 128, "step": 8},
         "chunked-prefill-size": [512, 1024, 2048, 4096, 8192, 16384, 32768],
         "mem-fraction-static": [0.6, 0.8, 0.95],
         "disable-cuda-graph": [False, True]},
        [{"metric": "ttft.mean", "max": 400}, {"metric": "tpot.mean", "max": 15}],
        [16, 32, 64, 128], "D(1500,300)"),
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
