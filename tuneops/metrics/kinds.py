"""The kinds a metric, an SLO and a verdict take, as string-valued enums (JSON unchanged)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from enum import Enum


class StrEnum(str, Enum):
    """An enum whose members are their string values, in JSON, f-strings and comparisons
    (`Bound.MAX == "max"`), so results.json and journals stay the same text."""

    __str__ = str.__str__
    __format__ = str.__format__


class Direction(StrEnum):
    """Which way a metric (or an objective) is better."""

    MAXIMIZE = "maximize"
    MINIMIZE = "minimize"

    def better(self, a: float, b: float) -> bool:
        """Is `a` strictly better than `b`?"""
        return a > b if self is Direction.MAXIMIZE else a < b

    def sort_key(self, value: float) -> float:
        """Lower sorts first: the best value first."""
        return -value if self is Direction.MAXIMIZE else value

    @property
    def sign(self) -> float:
        """+1 when bigger is better, -1 when smaller is (bigger-is-better = value * sign)."""
        return 1.0 if self is Direction.MAXIMIZE else -1.0

    @property
    def word(self) -> str:
        return "higher" if self is Direction.MAXIMIZE else "lower"


class Bound(StrEnum):
    """Which side of its limit an SLO keeps a metric."""

    MAX = "max"  # value <= limit
    MIN = "min"  # value >= limit

    @property
    def symbol(self) -> str:
        return "≤" if self is Bound.MAX else "≥"

    def excess(self, value: float, limit: float) -> float:
        """How far past the limit (negative: slack left)."""
        return value - limit if self is Bound.MAX else limit - value

    def holds(self, value: float, limit: float) -> bool:
        return self.excess(value, limit) <= 0.0

    def worst(self, values: Iterable[float]) -> float:
        """The value that tests the bound hardest (the largest under a max)."""
        return max(values) if self is Bound.MAX else min(values)


class Verdict(StrEnum):
    """One SLO's verdict from its interval (runner.score)."""

    MET = "met"  # the whole interval inside the limit
    VIOLATED = "violated"  # wholly past it
    UNCERTAIN = "uncertain"  # straddling it, or a statistic judged from too few requests
    UNJUDGED = ""  # journals written before verdicts existed


class TrialVerdict(StrEnum):
    """A trial's verdict: every SLO met, one violated, or not sure."""

    FEASIBLE = "feasible"
    INFEASIBLE = "infeasible"
    UNCERTAIN = "uncertain"
    UNJUDGED = ""  # not completed, or written before verdicts existed


def min_requests(stat: str) -> int:
    """Requests a statistic needs before it says more than the sample's extreme: one beyond
    the percentile (p99: 100, p95: 20, p90: 10); a mean or p50 needs 2."""
    q = float(stat[1:]) if stat.startswith("p") and stat[1:].replace(".", "").isdigit() else 50.0
    return 2 if q <= 50 else math.ceil(100.0 / (100.0 - q) - 1e-9)


class Statistic(StrEnum):
    """A statistic over a run's requests, as genai-bench names it."""

    MEAN = "mean"
    MIN = "min"
    MAX = "max"
    P25 = "p25"
    P50 = "p50"
    P75 = "p75"
    P90 = "p90"
    P95 = "p95"
    P99 = "p99"

    @property
    def percentile(self) -> float | None:
        """25.0 for p25; None for mean, min and max."""
        return float(self.value[1:]) if self.value.startswith("p") else None

    @property
    def min_requests(self) -> int:
        return min_requests(self.value)
