"""Which concurrency level to measure next: early stop and goodput bisection (pure).

Early stop: levels run in ascending order; once a latency SLO is violated *beyond the
noise* at level c, the higher levels of that scenario are not run (they are recorded as
"not run: SLO lost at c"). Beyond the noise means the one-sided confidence bound of the
SLO's statistic, computed from the run's per-request records, is already past the limit:
- percentiles (p25..p99): a distribution-free order-statistic bound. The k-th smallest of
  n requests lies below the population q-quantile with probability P(Binomial(n, q) >= k),
  so the largest k with that probability >= the confidence is a lower bound (mirror image
  for the upper bound). It needs no resampling and is exact for any latency distribution;
  with few requests it is simply wide (or absent, then nothing is decided).
- max: the largest request seen is a certain lower bound of the maximum; min: the smallest
  is a certain upper bound of the minimum.
- mean: a percentile bootstrap over the requests (seeded, so decisions repeat).
Each SLO is tested on its own at `confidence` (one-sided); with several SLOs the chance of
a wrong stop is at most their number times 1 - confidence.

Goodput bisection: between `low` and `high`, find the highest concurrency whose run holds
every SLO (the same point check the scorer uses), assuming that holding is monotone in
load: measure low, then high, then halve the interval between the highest level that held
and the lowest that did not.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tuneops.metrics import LATENCIES, STATS
from tuneops.spec import Slo

CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 2000
REQUEST_METRICS = (*LATENCIES, "output_inference_speed")  # recorded per request
_QUANTILES = {s: int(s[1:]) / 100.0 for s in STATS if s.startswith("p")}


def ascending(levels: Iterable[int]) -> list[int]:
    return sorted({int(c) for c in levels})


# ------------------------------------------------------------------ per-request values


def request_values(run: Mapping[str, Any], metric: str) -> list[float]:
    """One genai-bench run JSON's per-request values of a base metric, in tuneops units
    (latencies ms). Failed requests and missing values are left out."""
    to_ms = 1000.0 if run.get("_time_unit", "s") == "s" else 1.0
    scale = to_ms if metric in LATENCIES else 1.0
    out = []
    for rec in run.get("individual_request_metrics") or []:
        if rec.get("error_code"):
            continue
        v = rec.get(metric)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            out.append(float(v) * scale)
    return out


# ------------------------------------------------------------------ confidence bounds


def _binom_sf(n: int, q: float, k: int) -> float:
    """P(Binomial(n, q) >= k)."""
    return sum(math.comb(n, i) * q**i * (1 - q) ** (n - i) for i in range(k, n + 1))


def quantile_bounds(values: Sequence[float], q: float,
                    confidence: float = CONFIDENCE) -> tuple[float | None, float | None]:
    """One-sided order-statistic bounds (lower, upper) of the population q-quantile, each
    holding with probability >= confidence; None where the sample is too small."""
    xs = sorted(values)
    n = len(xs)
    lower = upper = None
    for k in range(n, 0, -1):  # largest k with P(X_(k) <= xi_q) >= confidence
        if _binom_sf(n, q, k) >= confidence:
            lower = xs[k - 1]
            break
    for k in range(1, n + 1):  # smallest k with P(X_(k) >= xi_q) = P(B <= k-1) >= confidence
        if 1.0 - _binom_sf(n, q, k) >= confidence:
            upper = xs[k - 1]
            break
    return lower, upper


def mean_bounds(values: Sequence[float], confidence: float = CONFIDENCE,
                resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0
                ) -> tuple[float | None, float | None]:
    """One-sided percentile-bootstrap bounds of the mean."""
    n = len(values)
    if n < 2:
        return None, None
    rng = random.Random(seed)
    means = sorted(sum(rng.choices(values, k=n)) / n for _ in range(resamples))
    idx = min(int(confidence * resamples), resamples - 1)
    return means[resamples - 1 - idx], means[idx]


def stat_bounds(values: Sequence[float], stat: str, confidence: float = CONFIDENCE
                ) -> tuple[float | None, float | None]:
    """(lower, upper) confidence bounds of a statistic of the population of requests."""
    if not values:
        return None, None
    if stat == "max":
        return max(values), None
    if stat == "min":
        return None, min(values)
    if stat == "mean":
        return mean_bounds(values, confidence)
    if stat in _QUANTILES:
        return quantile_bounds(values, _QUANTILES[stat], confidence)
    return None, None


def slo_lost(slo: Slo, values: Sequence[float], confidence: float = CONFIDENCE) -> bool:
    """True when the SLO is violated beyond the noise of these per-request values."""
    stat = slo.metric.rsplit(".", 1)[-1]
    lower, upper = stat_bounds(values, stat, confidence)
    if slo.max is not None and lower is not None and lower > slo.max:
        return True
    return slo.min is not None and upper is not None and upper < slo.min


def lost_slos(slos: Iterable[Slo], run: Mapping[str, Any],
              confidence: float = CONFIDENCE) -> list[Slo]:
    """The latency SLOs a run has lost beyond the noise (others cannot stop a trial)."""
    out = []
    for slo in slos:
        base, _, stat = slo.metric.rpartition(".")
        if base in REQUEST_METRICS and stat in STATS \
                and slo_lost(slo, request_values(run, base), confidence):
            out.append(slo)
    return out


def not_run_reason(level: int) -> str:
    return f"not run: SLO lost at {level}"


PRUNED = "not run: pruned at"


def pruned_reason(level: int) -> str:
    return f"{PRUNED} {level} (objective far below earlier trials)"


def is_pruned(note: str) -> bool:
    """Whether a trial's not-run note says the search pruned it."""
    return PRUNED in note


# ------------------------------------------------------------------ between levels

DRAIN_MAX_S = 1.0  # genai-bench's own pause after each run, "to clear aborted requests"
DRAIN_MIN_S = 0.1


def drain_s(ttft_p99_s: float | None, tpot_p99_s: float | None) -> float:
    """How long to let the engine clear the requests a finished level left in flight.

    Stopping a level closes its in-flight connections; the engine notices a closed stream
    when it next writes to it: after the prefill of a request still waiting for its first
    token (at most the level's TTFT), or after its next token (TPOT). So the slowest of
    those, taken at p99 with one more token of margin, bounds the drain; never more than
    genai-bench's fixed second, never less than 0.1 s. Seconds in, seconds out."""
    known = [v for v in (ttft_p99_s, tpot_p99_s) if isinstance(v, (int, float))
             and math.isfinite(v) and v >= 0]
    if not known:
        return DRAIN_MAX_S
    need = (ttft_p99_s or 0.0) + 2.0 * (tpot_p99_s or 0.0)
    return min(DRAIN_MAX_S, max(DRAIN_MIN_S, need))


# ------------------------------------------------------------------ goodput bisection


def bisect_next(low: int, high: int, held: Mapping[int, bool]) -> int | None:
    """The next level to measure (None when the answer is known), given whether each
    measured level held every SLO."""
    if low not in held:
        return low
    if not held[low]:
        return None
    if high not in held:
        return high
    lo, hi = _bracket(low, high, held)
    if hi is None or hi - lo <= 1:
        return None
    return (lo + hi) // 2


def max_holding(low: int, high: int, held: Mapping[int, bool]) -> int:
    """The highest level known to hold every SLO below the lowest that failed; 0 when even
    `low` failed."""
    if not held.get(low, False):
        return 0
    return _bracket(low, high, held)[0]


def _bracket(low: int, high: int, held: Mapping[int, bool]) -> tuple[int, int | None]:
    failed = [c for c, ok in held.items() if not ok and low <= c <= high]
    hi = min(failed) if failed else None
    lo = max(c for c, ok in held.items() if ok and low <= c and (hi is None or c < hi))
    return lo, hi
