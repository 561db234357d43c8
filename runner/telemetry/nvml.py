"""GPU utilization, memory and power per measurement, read by NVML (nvidia-ml-py).

Only where NVML answers: on a machine without NVIDIA's driver (every CPU run, the
simulator, a pod tuneops cannot reach) the summary says "not measured" and why, never a
zero. Energy is the power integrated over the run (trapezoids between samples); energy
per token divides it by the output tokens genai-bench counted in the same run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

GiB = 1024 ** 3


def reader(gpus: tuple[str, ...]) -> tuple[Callable[[], dict[str, float] | None] | None, str]:
    """(a sampler of the trial's GPUs, "") or (None, why not)."""
    if not gpus:
        return None, "no GPU assigned to the trial"
    try:
        import pynvml
    except ImportError:
        return None, "nvidia-ml-py is not installed"
    try:
        pynvml.nvmlInit()
        handles = []
        for g in gpus:
            handles.append(pynvml.nvmlDeviceGetHandleByUUID(g) if g.startswith("GPU-")
                           else pynvml.nvmlDeviceGetHandleByIndex(int(g)))
    except (pynvml.NVMLError, ValueError) as e:
        return None, f"NVML cannot read the GPUs: {e}"

    def sample() -> dict[str, float] | None:
        try:
            util = [pynvml.nvmlDeviceGetUtilizationRates(h).gpu / 100.0 for h in handles]
            mem = [pynvml.nvmlDeviceGetMemoryInfo(h).used / GiB for h in handles]
            out = {"gpu_utilization": float(np.mean(util)), "gpu_memory_used": float(sum(mem))}
        except pynvml.NVMLError:
            return None
        try:  # power is not readable on every board (and not in every container)
            out["gpu_power"] = sum(pynvml.nvmlDeviceGetPowerUsage(h) for h in handles) / 1000.0
        except pynvml.NVMLError:
            pass
        return out

    return sample, ""


def summarize(samples: list[tuple[float, dict[str, float]]], why_not: str,
              output_tokens: float | None) -> dict[str, Any]:
    """{series: {mean, max, p95, n}, energy_j, energy_per_output_token_j} or not measured."""
    if not samples:
        return {"not_measured": why_not or "NVML gave no sample"}
    out: dict[str, Any] = {}
    for name in ("gpu_utilization", "gpu_memory_used", "gpu_power"):
        vals = np.array([s[name] for _, s in samples if name in s], dtype=float)
        if vals.size:
            out[name] = {"mean": round(float(vals.mean()), 4), "max": round(float(vals.max()), 4),
                         "p95": round(float(np.percentile(vals, 95)), 4), "n": int(vals.size)}
    power = [(t, s["gpu_power"]) for t, s in samples if "gpu_power" in s]
    if len(power) >= 2:
        t = np.array([p[0] for p in power])
        w = np.array([p[1] for p in power])
        energy = float(np.sum((w[1:] + w[:-1]) / 2 * np.diff(t)))
        out["energy_j"] = round(energy, 3)
        out["energy_per_output_token_j"] = (round(energy / output_tokens, 6)
                                            if output_tokens else "not measured")
    else:
        out["energy_j"] = "not measured"
        out["energy_per_output_token_j"] = "not measured"
    return out
