"""What the simulator's performance model predicts a configuration measures, before running it.

`search.method: model` ranks the grid with this. The prediction is the steady state of
genai-bench's closed loop (every client sends its next request when its last one ends) on
`engines/sim/perfmodel.py`'s memory plan and step times: with fixed request sizes the
clients move in waves of `b` requests (b: what the KV pool, the running-request cap and
the load allow), each wave prefilled in chunks and then decoded together. Little's law
turns a wave's time into throughput and latency. It is an estimate of the same model the
simulator runs step by step (`scheduler.closed_loop`), cheap enough to rank thousands of
points again after every measurement.

Who has a model: SGLang, vLLM (its flags mapped to SGLang's) and the simulator, for a
model the simulator has a profile of (`engines/sim/data/models.json`) on a known GPU type.
llama.cpp on CPU has none (`model_for` says why).
"""

from __future__ import annotations

import argparse
import math
import re
from dataclasses import dataclass
from typing import Any

from tuneops.engines.sim import profiles
from tuneops.engines.sim.config import settings as sim_settings
from tuneops.engines.sim.perfmodel import PerfModel

from tuneops.spec import Experiment

ENGINES_WITH_MODEL = ("sglang", "vllm", "sim")
# vLLM's flag -> the SGLang flag the performance model reads (same meaning, other name)
VLLM_NAMES = {
    "tensor_parallel_size": "tp_size", "data_parallel_size": "dp_size",
    "gpu_memory_utilization": "mem_fraction_static", "max_num_seqs": "max_running_requests",
    "max_num_batched_tokens": "chunked_prefill_size", "enforce_eager": "disable_cuda_graph",
    "max_model_len": "context_length",
}


@dataclass(frozen=True)
class Prediction:
    """One load level's predicted metrics (tuneops' names and units: ms, tokens/s), or the
    start-up failure the memory plan foresees (`error`)."""

    values: dict[str, float]
    batch: int = 0
    error: str | None = None


def request_sizes(scenario: str) -> tuple[int, int] | None:
    """(prompt tokens, output tokens) of a D(in,out) or N(in,sd)/(out,sd) scenario."""
    s = scenario.replace(" ", "")
    if m := re.fullmatch(r"D\((\d+),(\d+)\)", s):
        return int(m[1]), int(m[2])
    if m := re.fullmatch(r"N\((\d+),\d+\)/\((\d+),\d+\)", s):
        return int(m[1]), int(m[2])
    return None


def model_for(exp: Experiment) -> tuple[str, str] | str:
    """(GPU profile, model profile) for the experiment, or why there is no model for it."""
    if exp.engine.name not in ENGINES_WITH_MODEL:
        return (f"engine {exp.engine.name} has no performance model "
                f"(only {', '.join(ENGINES_WITH_MODEL)})")
    model = exp.engine.args.get("sim-model") or profiles.guess_model(exp.model.id)
    if model is None:
        return (f"model {exp.model.id} has no profile in engines/sim/data/models.json "
                f"(known: {', '.join(profiles.model_names())})")
    gpu = exp.engine.args.get("gpu-type") or exp.deployment.gpus.type or "H100"
    if gpu not in profiles.gpu_names() and not any(p.name == "gpu-type" for p in exp.parameters):
        return f"GPU type {gpu} has no profile (known: {', '.join(profiles.gpu_names())})"
    scenario = exp.objective.scenario or exp.benchmark.traffic_scenarios[0]
    if request_sizes(scenario) is None:
        return f"scenario {scenario} is not D(in,out) or N(in,sd)/(out,sd)"
    return gpu, model


def perf_model(gpu: str, model: str, args: dict[str, Any]) -> PerfModel:
    """The simulator's model of a server started with `args` (SGLang's or vLLM's names)."""
    ns = {k.replace("-", "_"): v for k, v in args.items()}
    for vllm, sglang in VLLM_NAMES.items():
        if vllm in ns:
            ns.setdefault(sglang, ns[vllm])
    if isinstance(ns.get("chunked_prefill_size"), bool):
        ns.pop("chunked_prefill_size")
    gpu = str(args.get("gpu-type") or gpu)
    return PerfModel(profiles.gpu(gpu), profiles.model(model), sim_settings(
        argparse.Namespace(**ns)))


def predict(pm: PerfModel, concurrency: int, prompt: int, output: int) -> Prediction:
    """The closed loop's steady state at `concurrency` clients (see the module doc)."""
    if pm.plan.error:
        return Prediction({}, error=pm.plan.error)
    per_request = prompt + output
    fits = max(1, pm.plan.max_total_tokens // max(per_request, 1))
    b = max(1, min(concurrency, pm.max_running_requests, fits))
    cache = pm.__dict__.setdefault("_waves", {})  # levels above the batch cap share a wave
    if (b, prompt, output) not in cache:
        cache[b, prompt, output] = _wave(pm, b, prompt, output)
    wave_s, in_wave = cache[b, prompt, output]
    throughput = b * output / wave_s
    e2e = concurrency * output / throughput  # Little's law over the closed loop
    ttft = (e2e - wave_s) + in_wave  # the earlier waves' time, then its own place
    tpot = (wave_s - in_wave) / max(output - 1, 1)  # waits for the wave's later prefills
    gpus = max(pm.s.tp, 1) * max(pm.s.dp, 1)
    values = {"output_throughput": throughput, "output_throughput_per_gpu": throughput / gpus,
              "input_throughput": throughput * prompt / output,
              "total_throughput": throughput * per_request / output,
              "total_throughput_per_gpu": throughput * per_request / output / gpus,
              "requests_per_s": throughput / output, "error_rate": 0.0}
    for stat in ("mean", "p50", "p90", "p95", "p99", "min", "max"):
        values[f"ttft.{stat}"] = ttft * 1000
        values[f"tpot.{stat}"] = tpot * 1000
        values[f"e2e_latency.{stat}"] = e2e * 1000
        values[f"output_inference_speed.{stat}"] = 1.0 / tpot if tpot > 0 else math.inf
    return Prediction(values, batch=b)


def _wave(pm: PerfModel, b: int, prompt: int, output: int) -> tuple[float, float]:
    """(a wave's seconds, its requests' mean time to first token from the wave's start):
    `b` prompts packed into prefill steps of at most the chunk size, then decoded together.
    A pure function of the model and `b`, so `predict` computes it once per batch size."""
    chunk = pm.chunked_prefill_size or pm.s.max_prefill_tokens
    prefill_s, left, done, firsts = 0.0, [prompt] * b, [0] * b, []
    i = 0
    while i < b:  # pack the wave's prompts into prefill steps of at most `chunk` tokens
        room, batch, ended = chunk, [], 0
        while i < b and room > 0:
            take = min(left[i], room)
            batch.append((take, done[i]))
            done[i] += take
            left[i] -= take
            room -= take
            if left[i] == 0:
                i += 1
                ended += 1
        prefill_s += pm.step_time(batch, 0, 0)
        firsts += [prefill_s] * ended  # these requests get their first token now
    decode_s = pm.step_time([], b, b * (prompt + output // 2))
    wave_s = prefill_s + max(output - 1, 0) * decode_s
    in_wave = sum(firsts) / len(firsts)  # first token, counted from the wave's start
    return wave_s, in_wave
