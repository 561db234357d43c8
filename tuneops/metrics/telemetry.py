"""Engine and GPU telemetry series: what each engine's Prometheus samples are mapped to
(schemas/engines.yaml `metrics.series`, scraped by tuneops.runner.telemetry) and what NVML
reads, with their units. Reported per measurement (mean, max, p95; counters also their
total) to explain a result; never objectives or SLOs, so they are not Metric rows.
"""

from __future__ import annotations

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
