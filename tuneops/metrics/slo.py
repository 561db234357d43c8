"""One SLO: a bound on one metric, and the one rule that judges a value against it."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tuneops.metrics.kinds import Bound, Statistic, Verdict
from tuneops.metrics.table import METRICS, Metric, metric, unknown


@dataclass(frozen=True)
class Judgement:
    """How one value stands against one SLO."""

    violation: float  # 0 when met; else how far past, relative to the limit (0.2 = 20 %)
    verdict: Verdict
    min_requests: int | None  # what the statistic needs (p99: 100); None: a whole-run value


@dataclass(frozen=True, init=False)
class Slo:
    """One bound on one metric, judged by that metric's statistic.

    The statistic that judges it is the one its name gives (ttft.p99: the 99th percentile
    of the requests), and the same interval of it decides everywhere: the verdict and
    early stop (violated when the whole 95 % interval runner.stats gives is past the
    limit) and bisection and feasibility (the point value)."""

    metric: str
    bound: Bound
    limit: float | int

    def __init__(self, metric: str, max: float | None = None, min: float | None = None, *,
                 bound: Bound | str | None = None, limit: float | None = None) -> None:
        given = [(Bound.MAX, max), (Bound.MIN, min)]
        given = [(b, v) for b, v in given if v is not None]
        if bound is not None:
            given.append((Bound(bound), limit))
        if len(given) != 1 or given[0][1] is None:
            raise ValueError(f"an SLO on {metric} needs exactly one bound (max or min); "
                             "a metric bounded on both sides is two SLOs (Slo.both)")
        object.__setattr__(self, "metric", metric)
        object.__setattr__(self, "bound", given[0][0])
        limit_ = given[0][1]
        # what is bounded before by how much (as RequestSlo): an entry wrong twice over is
        # refused for its metric first, with a did-you-mean
        if metric not in METRICS:
            raise unknown(metric)
        if isinstance(limit_, bool) or not isinstance(limit_, (int, float)) \
                or not math.isfinite(limit_):
            raise ValueError(f"an SLO limit on {metric} must be a finite number, not {limit_!r}")
        object.__setattr__(self, "limit", given[0][1])  # as written: 500 stays 500 in reports

    @classmethod
    def both(cls, metric: str, max: float | None = None, min: float | None = None
             ) -> tuple[Slo, ...]:
        """The SLOs of one experiment entry: one per bound given."""
        return tuple(cls(metric, bound=b, limit=v)
                     for b, v in ((Bound.MAX, max), (Bound.MIN, min)) if v is not None)

    @classmethod
    def from_entry(cls, entry: Mapping[str, Any]) -> tuple[Slo, ...]:
        """The SLOs of one `slos:` entry ({metric, max, min}, as experiments and
        results.json write it); a bad entry raises ValueError/KeyError/TypeError."""
        slos = cls.both(entry["metric"], entry.get(Bound.MAX.value), entry.get(Bound.MIN.value))
        if not slos:
            raise ValueError(f"the SLO on {entry['metric']} has no bound: give max, min or both")
        return slos

    @property
    def max(self) -> float | None:
        return self.limit if self.bound is Bound.MAX else None

    @property
    def min(self) -> float | None:
        return self.limit if self.bound is Bound.MIN else None

    @property
    def definition(self) -> Metric:
        return metric(self.metric)

    @property
    def statistic(self) -> Statistic | None:
        """The one statistic that judges it (None: a whole-run value such as a throughput)."""
        return self.definition.statistic

    def as_dict(self) -> dict[str, Any]:
        """As results.json writes it: {metric, max, min}, the other bound null."""
        return {"metric": self.metric, Bound.MAX.value: self.max, Bound.MIN.value: self.min}

    def limit_text(self) -> str:
        """`≤ 500 ms` (no unit for fractions)."""
        unit = self.definition.unit
        unit = "" if unit == "fraction" else f" {unit}"
        return f"{self.bound.symbol} {self.limit:g}{unit}"

    def holds(self, value: float) -> bool:
        return self.bound.holds(value, self.limit)

    def slack(self, value: float) -> float:
        """Relative excess past the limit: <= 0 when met (what is left), > 0 when not."""
        return self.bound.excess(value, self.limit) / (abs(self.limit) if self.limit else 1.0)

    def worst(self, values: Iterable[float]) -> float:
        """The value over scenarios that tests this SLO hardest."""
        return self.bound.worst(values)

    def judge(self, value: float | None, low: float | None = None, high: float | None = None,
              requests: int | None = None) -> Judgement:
        """The violation (relative to the limit; unmeasured is infinitely violated) and the
        verdict: from the interval when there is one, else the point; uncertain when the
        statistic was judged from fewer requests than it needs."""
        need = self.definition.min_requests
        if value is None:
            return Judgement(math.inf, Verdict.VIOLATED, need)
        violation = max(self.slack(value), 0.0)
        if low is None or high is None:
            verdict = Verdict.MET if violation == 0.0 else Verdict.VIOLATED
        elif self.holds(low) and self.holds(high):
            verdict = Verdict.MET
        elif not self.holds(low) and not self.holds(high):
            verdict = Verdict.VIOLATED
        else:
            verdict = Verdict.UNCERTAIN
        if need is not None and requests is not None and requests < need \
                and verdict is not Verdict.VIOLATED:
            verdict = Verdict.UNCERTAIN
        return Judgement(violation, verdict, need)

    @property
    def can_stop_early(self) -> bool:
        """Whether losing it at one level says the higher levels lose it too: a statistic
        over requests, which load only makes worse (latencies up, per-request speed down)."""
        return self.statistic is not None
