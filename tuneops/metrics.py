"""The metrics an objective or SLO may name, and which way is better for each.

One table serves the schema (allowed names), the validator (did-you-mean) and the scorer.
Latencies are milliseconds, throughputs tokens/s, error_rate a fraction.
"""

from __future__ import annotations

import math

LATENCIES = ("ttft", "tpot", "e2e_latency", "output_latency")
STATS = ("mean", "min", "max", "p25", "p50", "p75", "p90", "p95", "p99")
THROUGHPUTS = (
    "output_throughput",
    "input_throughput",
    "total_throughput",
    "output_throughput_per_gpu",
    "total_throughput_per_gpu",
    "requests_per_s",
)
SPEEDS = tuple(f"output_inference_speed.{s}" for s in STATS)  # tokens/s seen by one request

METRICS: dict[str, str] = {}  # name -> better direction
for _name in THROUGHPUTS:
    METRICS[_name] = "maximize"
for _lat in LATENCIES:
    for _stat in STATS:
        METRICS[f"{_lat}.{_stat}"] = "minimize"
for _name in SPEEDS:
    METRICS[_name] = "maximize"
METRICS["error_rate"] = "minimize"
# Goodput over load (benchmark.concurrency: {search: bisect}): the highest concurrency that
# held every SLO in that trial's scenario, the same value at each level measured.
MAX_SLO_CONCURRENCY = "max_slo_concurrency"
METRICS[MAX_SLO_CONCURRENCY] = "maximize"

UNITS = {name: ("ms" if name.split(".")[0] in LATENCIES else "tok/s") for name in METRICS}
UNITS["error_rate"] = "fraction"
UNITS["requests_per_s"] = "req/s"

UNITS[MAX_SLO_CONCURRENCY] = "requests in flight"


def min_requests(stat: str) -> int:
    """Requests a statistic needs before it says more than the sample's extreme: one beyond
    the percentile (p99: 100, p95: 20, p90: 10); a mean or p50 needs 2."""
    q = float(stat[1:]) if stat.startswith("p") and stat[1:].replace(".", "").isdigit() else 50.0
    return 2 if q <= 50 else math.ceil(100.0 / (100.0 - q) - 1e-9)

# Engine telemetry (tuneops.runner.telemetry): what each engine's Prometheus series are
# mapped to (schemas/engines.yaml `metrics.series`), with units. Reported per measurement
# (mean, max, p95; counters also their total), never objectives.
TELEMETRY: dict[str, str] = {
    "kv_cache_usage": "fraction",  # KV-cache pool in use, 0-1
    "running": "requests",  # requests in the running batch
    "queued": "requests",  # requests waiting for a slot
    "preemptions": "requests",  # preempted (vLLM) / retracted (SGLang) requests
    "cache_hit_rate": "fraction",  # prefix-cache hits over prompt tokens looked up
    "generation_throughput": "tok/s",  # tokens generated per second, as the engine counts
}
# Read from the GPUs by NVML (runner/telemetry/nvml.py) where it can read them.
GPU_TELEMETRY: dict[str, str] = {
    "gpu_utilization": "fraction",
    "gpu_memory_used": "GiB",
    "gpu_power": "W",
}

# Cost (runner/cost.py): the GPUs' hourly price (schemas/gpus.yaml, or the experiment's
# deployment.gpus.pricePerHour) over the tokens served in an hour at that point, per repeat,
# so they carry intervals like any measured metric. Usable as objective or SLO.
COST_METRICS = ("cost_per_million_output_tokens", "cost_per_million_tokens")
for _name in COST_METRICS:
    METRICS[_name] = "minimize"
    UNITS[_name] = "USD/1M tok"
