"""Spread of measured metrics: means and 95 % confidence intervals, as pure functions.

Two sources of spread, each used where it means something:
- over repeats (every scenario x concurrency point measured `repeats` times): the mean and
  a Student-t interval of the per-repeat values. This is what catches run-to-run noise
  (engine placement, a busy host), so it is used for throughputs, rates and means.
- over requests, for percentiles: genai-bench keeps every request's latencies
  (`individual_request_metrics`); the percentile of the requests of every repeat pooled is
  the value, and a seeded bootstrap over those requests gives its interval. When repeats
  disagree more than the requests do, the wider of the two intervals is kept.

An interval is `Spread(mean, low, high, n, method)`; `n` counts repeats (or requests for a
bootstrapped percentile). One measurement has no interval (low = high = None): reports say
"spread unknown" rather than inventing one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from tuneops.metrics import METRICS, REQUEST_FIELDS, STATS, min_requests  # noqa: F401

CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0
# Per-request fields (genai-bench's names) bootstrapped for percentiles; seconds -> ms.
RECORD_FIELDS = REQUEST_FIELDS

# Two-sided 97.5 % quantiles of Student's t, by degrees of freedom (1..30); 1.96 beyond.
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
         2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
         2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


@dataclass(frozen=True)
class Spread:
    mean: float
    low: float | None
    high: float | None
    n: int  # repeats (method "repeats"/"single"), or pooled requests ("bootstrap")
    method: str  # "repeats" | "bootstrap" | "single"

    @property
    def half_width(self) -> float | None:
        if self.low is None or self.high is None:
            return None
        return (self.high - self.low) / 2.0

    def as_dict(self) -> dict:
        d = asdict(self)
        d["half_width"] = self.half_width
        return d


def t_quantile(df: int) -> float:
    """Student's t 97.5 % quantile: the table up to 30 degrees of freedom, then the
    Cornish-Fisher expansion around the normal's 1.96 to second order (within 1e-4 of the
    exact value from 31 on; 1.96 alone would make a 40-repeat interval 3 % too narrow)."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    if df <= len(_T975):
        return _T975[df - 1]
    z = 1.959963984540054
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def mean_interval(values: Sequence[float]) -> Spread:
    """Mean and Student-t 95 % interval of independent repeats."""
    vals = [float(v) for v in values if v is not None and math.isfinite(v)]
    n = len(vals)
    if n == 0:
        raise ValueError("no values")
    mean = sum(vals) / n
    if n == 1:
        return Spread(mean, None, None, 1, "single")
    sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1))
    half = t_quantile(n - 1) * sd / math.sqrt(n)
    return Spread(mean, mean - half, mean + half, n, "repeats")


def percentile_interval(records: Sequence[float], q: float, *, seed: int = BOOTSTRAP_SEED,
                        resamples: int = BOOTSTRAP_RESAMPLES) -> Spread:
    """The q-th percentile of the records (numpy's linear rule, as genai-bench computes
    it) and a percentile-bootstrap 95 % interval, seeded so reports are reproducible."""
    x = np.asarray([r for r in records if r is not None and math.isfinite(r)], dtype=float)
    if x.size == 0:
        raise ValueError("no records")
    value = float(np.percentile(x, q))
    if x.size == 1:
        return Spread(value, None, None, 1, "single")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(resamples, x.size))
    boot = np.percentile(x[idx], q, axis=1)
    alpha = (1 - CONFIDENCE) / 2
    lo, hi = np.quantile(boot, [alpha, 1 - alpha])
    return Spread(value, min(float(lo), value), max(float(hi), value), int(x.size), "bootstrap")


# samples[scenario][level] -> one {metric: value} per repeat
# records[scenario][level] -> {genai-bench request field: [value (ms for latencies), ...]}
Samples = dict[str, dict[int, list[dict[str, float]]]]
Records = dict[str, dict[int, dict[str, list[float]]]]
SpreadMap = dict[str, dict[int, dict[str, Spread]]]


def summarize_point(
    repeats: list[dict[str, float]], records: dict[str, list[float]] | None
) -> tuple[dict[str, float], dict[str, Spread]]:
    """One scenario x level: ({metric: value}, {metric: Spread}) from its repeats."""
    names: list[str] = []
    for r in repeats:
        names += [k for k in r if k not in names]
    values: dict[str, float] = {}
    spreads: dict[str, Spread] = {}
    # Records stand in for the requests only when none is missing (a trimmed file would
    # move the percentile): as many as the repeats completed.
    done = sum(float(r.get("num_completed_requests") or 0) for r in repeats)
    if records and any(len(v) < done for v in records.values()):
        records = None
    for name in names:
        vals = [r[name] for r in repeats if r.get(name) is not None]
        vals = [v for v in vals if isinstance(v, (int, float)) and math.isfinite(v)]
        if not vals:
            continue
        sp = mean_interval(vals)
        m = METRICS.get(name)  # counters (num_completed_requests, errors.503) are not in it
        q = m.statistic.percentile if m is not None and m.statistic is not None else None
        pooled = (records or {}).get(m.request_field) if q is not None else None
        if q is not None and pooled:
            boot = percentile_interval(pooled, q)
            if sp.half_width is not None and boot.half_width is not None \
                    and sp.half_width > boot.half_width:
                # repeats disagree more than requests: keep the wider, around the pooled value
                boot = Spread(boot.mean, boot.mean - sp.half_width, boot.mean + sp.half_width,
                              boot.n, "bootstrap+repeats")
            sp = boot
        values[name] = sp.mean
        spreads[name] = sp
    return values, spreads


def summarize(samples: Samples, records: Records | None = None
              ) -> tuple[dict[str, dict[int, dict[str, float]]], SpreadMap]:
    """(metrics, spread) for every scenario x level measured."""
    metrics: dict[str, dict[int, dict[str, float]]] = {}
    spread: SpreadMap = {}
    for scenario, by_level in samples.items():
        for level, repeats in by_level.items():
            if not repeats:
                continue
            recs = ((records or {}).get(scenario) or {}).get(level)
            values, spreads = summarize_point(repeats, recs)
            metrics.setdefault(scenario, {})[level] = values
            spread.setdefault(scenario, {})[level] = spreads
    return metrics, spread
