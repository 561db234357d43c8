"""What the engine's telemetry says about a trial: which resource ran out first.

Reads the per-measurement summaries a trial keeps (results.json `telemetry`), so a report
rebuilt from results.json says the same. Levels pool the trial's measurements: a series'
max is the largest seen, its mean the mean of the measurements' means, a counter's total
the sum. The verdict, in order: the KV cache (≥ 95 % at some level: the engine must retract
or preempt), the running-request slots (requests waited while fewer than the offered
concurrency ran), the GPU (NVML utilization ≥ 90 %), else no engine resource saturated
and the offered load bounds the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tuneops.runner.results import level_key

KV_SATURATED = 0.95
QUEUED_SATURATED = 0.5  # mean requests waiting
GPU_SATURATED = 0.90


def pct(fraction: float) -> str:
    """98 %, 4.2 %, 0.25 %: small values keep the digits that tell them from zero."""
    v = fraction * 100
    return f"{v:.0f} %" if v >= 10 or v == 0 else (f"{v:.1f} %" if v >= 1 else f"{v:.2f} %")


@dataclass(frozen=True)
class Verdict:
    resource: str  # "KV cache", "running-request slots", "GPU compute", "none"
    sentence: str


def pooled_levels(telemetry: list[dict[str, Any]], scenario: str | None = None
                  ) -> dict[int, dict[str, dict[str, float]]]:
    """{level: {series: {mean, max, total?}}} over every measurement (one scenario, or the
    first one measured when None)."""
    acc: dict[int, dict[str, dict[str, list[float]]]] = {}
    for m in telemetry:
        levels = m.get("levels") or {}
        sc = scenario if scenario in levels else next(iter(levels), None)
        for level, series in (levels.get(sc) or {}).items():
            for name, s in series.items():
                slot = acc.setdefault(level_key(level), {}).setdefault(name, {})
                for k in ("mean", "max", "total"):
                    if k in s:
                        slot.setdefault(k, []).append(float(s[k]))
    out: dict[int, dict[str, dict[str, float]]] = {}
    for level, series in sorted(acc.items()):
        out[level] = {name: {"mean": sum(v["mean"]) / len(v["mean"]), "max": max(v["max"]),
                             **({"total": sum(v["total"])} if "total" in v else {})}
                      for name, v in series.items()}
    return out


def not_exposed(telemetry: list[dict[str, Any]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for m in telemetry:
        out.update(m.get("not_exposed") or {})
    return out


def _gpu_util(telemetry: list[dict[str, Any]]) -> float | None:
    vals = [m["gpu"]["gpu_utilization"]["max"] for m in telemetry
            if isinstance((m.get("gpu") or {}).get("gpu_utilization"), dict)]
    return max(vals) if vals else None


def saturation(telemetry: list[dict[str, Any]], scenario: str | None = None) -> Verdict | None:
    """The saturating resource, with a sentence that says how it shows; None when the
    trial has no scraped telemetry."""
    levels = pooled_levels(telemetry, scenario)
    if not levels:
        return None
    missing = not_exposed(telemetry)
    pre = sum(s.get("preemptions", {}).get("total", 0.0) for s in levels.values())
    pre_text = f"; {pre:.0f} preemptions" if pre >= 1 else ""
    for level, s in levels.items():
        kv = s.get("kv_cache_usage", {}).get("max")
        if kv is not None and kv >= KV_SATURATED:
            return Verdict("KV cache", f"KV cache saturated at {pct(kv)} from "
                                       f"concurrency {level}{pre_text}")
    for level, s in levels.items():
        queued = s.get("queued", {}).get("mean", 0.0)
        running = s.get("running", {}).get("max")
        if queued >= QUEUED_SATURATED and running is not None and running < level:
            return Verdict("running-request slots",
                           f"running-request slots full from concurrency {level}: at most "
                           f"{running:.0f} requests ran while {queued:.1f} waited on "
                           f"average{pre_text}")
    util = _gpu_util(telemetry)
    if util is not None and util >= GPU_SATURATED:
        return Verdict("GPU compute", f"GPU compute: utilization peaked at {util * 100:.0f} %"
                                      f"{pre_text}")
    top = max(levels)
    kv = levels[top].get("kv_cache_usage", {}).get("max")
    kv_text = (f"the KV cache peaked at {pct(kv)}" if kv is not None
               else f"KV-cache usage {missing.get('kv_cache_usage', 'not scraped')}")
    return Verdict("none", f"no engine resource saturated up to concurrency {top} "
                           f"({kv_text}, no request queued for a slot){pre_text}: the "
                           "offered load bounds the result")
