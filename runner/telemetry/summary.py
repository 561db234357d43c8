"""A measurement's scrapes → its telemetry summary (what results.json keeps).

Per tuneops series: ``{mean, max, p95, n}`` over the run and per scenario × level, with
``total`` for counters (mean/max/p95 of a counter are its per-second rate). A gauge's
points are its values; a rate's and a counter's the increase between consecutive scrapes
per second (a counter reset counts the new value); a ratio's the increase of its sample
over the summed increases of ``per`` (its mean is the ratio of the totals, so a quiet
interval does not weigh as much as a busy one).

Levels: genai-bench writes each level's result JSON as the level ends; the file's mtime
is its end and the run's ``run_duration`` its length (runner/bench/driver.py saves the
collector right after the level; genai-bench's CLI does the same), so a level's window is
``[mtime - run_duration, mtime]`` on the wall clock the scraper stamps its samples with.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from tuneops.runner.bench.parse import run_metrics
from tuneops.runner.telemetry.scrape import Scrapes
from tuneops.runner.telemetry.series import Mapping, SeriesSpec

TIMELINE_POINTS = 240  # per series and measurement, for the HTML report's timeline
Window = tuple[float, float]


def level_windows(folder: str | Path, files: list[str]) -> dict[str, dict[int, Window]]:
    """{scenario: {level: (start, end)}} from genai-bench's result files (wall clock)."""
    out: dict[str, dict[int, Window]] = {}
    for name in files:
        path = Path(folder) / name
        try:
            end = path.stat().st_mtime
            scenario, level, values = run_metrics(json.loads(path.read_text()))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        duration = values.get("run_duration_s")
        if duration is not None and duration >= 0:
            out.setdefault(scenario, {})[level] = (end - duration, end)
    return out


def _increases(before: dict[str, float], now: dict[str, float]) -> dict[str, float]:
    """Each counter's increase; a counter that went down restarted from 0 (an engine
    restart), so its increase is its new value."""
    return {k: (v - before[k] if v >= before[k] else v) for k, v in now.items() if k in before}


def points(spec: SeriesSpec, samples: list[tuple[float, dict[str, float]]]
           ) -> list[tuple[float, float, float]]:
    """(t, value, weight) per scrape for one series; weight: a ratio's denominator, a
    counter's interval (seconds), 1 for a gauge."""
    out: list[tuple[float, float, float]] = []
    prev: tuple[float, dict[str, float]] | None = None
    for t, raw in samples:
        if spec.kind == "gauge":
            if spec.sample in raw:
                out.append((t, raw[spec.sample], 1.0))
            continue
        if not all(s in raw for s in spec.samples()):
            continue
        if prev is not None and t > prev[0]:
            inc = _increases(prev[1], raw)
            if spec.kind == "ratio":
                den = sum(inc[s] for s in spec.per)
                if den > 0:
                    out.append((t, inc[spec.sample] / den, den))
            else:
                dt = t - prev[0]
                out.append((t, inc[spec.sample] / dt, dt))
        prev = (t, raw)
    return out


def _stats(spec_kind: str, pts: list[tuple[float, float, float]]) -> dict[str, Any] | None:
    if not pts:
        return None
    vals = np.array([v for _, v, _ in pts], dtype=float)
    weights = np.array([w for _, _, w in pts], dtype=float)
    mean = float(np.average(vals, weights=weights)) if weights.sum() > 0 else float(vals.mean())
    out: dict[str, Any] = {"mean": mean, "max": float(vals.max()),
                           "p95": float(np.percentile(vals, 95)), "n": len(pts)}
    if spec_kind == "counter":
        out["total"] = float(np.sum(vals * weights))
    return {k: (round(v, 6) if isinstance(v, float) and math.isfinite(v) else v)
            for k, v in out.items()}


def _within(pts: list[tuple[float, float, float]], w: Window) -> list[tuple[float, float, float]]:
    return [p for p in pts if w[0] <= p[0] <= w[1]]


def _thin(pts: list[tuple[float, float]], most: int) -> list[tuple[float, float]]:
    if len(pts) <= most:
        return pts
    step = len(pts) / most
    return [pts[int(i * step)] for i in range(most)]


def summarize(scrapes: Scrapes, m: Mapping,
              windows: dict[str, dict[int, Window]] | None = None,
              gpu: dict[str, Any] | None = None) -> dict[str, Any]:
    """One measurement's telemetry summary (see the module's docstring)."""
    windows = windows or {}
    series: dict[str, Any] = {}
    levels: dict[str, dict[str, dict[str, Any]]] = {}
    timeline: dict[str, list[list[float]]] = {}
    t0 = scrapes.started or (scrapes.samples[0][0] if scrapes.samples else 0.0)
    not_exposed = m.not_exposed()
    for spec in m.series:
        pts = points(spec, scrapes.samples)
        whole = _stats(spec.kind, pts)
        if whole is None:
            # mapped, but the endpoint never served it (an older engine, a disabled feature)
            if scrapes.samples:
                not_exposed[spec.name] = f"not exposed by {m.shown_as} (no {spec.sample})"
            continue
        series[spec.name] = whole
        for sc, by_level in windows.items():
            for level, w in by_level.items():
                s = _stats(spec.kind, _within(pts, w))
                if s is not None:
                    levels.setdefault(sc, {}).setdefault(str(level), {})[spec.name] = s
        timeline[spec.name] = [[round(t - t0, 3), round(v, 6)]
                               for t, v in _thin([(t, v) for t, v, _ in pts], TIMELINE_POINTS)]
    out: dict[str, Any] = {
        "source": scrapes.url,
        "interval_s": scrapes.interval_s,
        "scrapes": len(scrapes.samples),
        "errors": scrapes.errors,
        "series": series,
        "levels": levels,
        "not_exposed": not_exposed,
        "windows": {sc: {str(c): [round(a - t0, 3), round(b - t0, 3)] for c, (a, b) in bl.items()}
                    for sc, bl in windows.items()},
        "timeline": timeline,
    }
    if scrapes.errors:
        out["last_error"] = scrapes.last_error
    if gpu is not None:
        out["gpu"] = gpu
    return out
