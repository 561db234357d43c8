"""What each metric and SLO means, as typed values: the one place that knows.

A `Metric` is one row of the table: its name, unit, which way is better, the statistic it
takes over a run's requests, and where genai-bench's run JSON holds it. An `Slo` is one
bound on one metric and judges a value with the metric's own statistic. Everything else —
the schema's allowed names, the validator, the searcher's constraint, early stop,
bisection, ranking, reports, plots and the PR comparison — asks these values instead of
taking "ttft.p99" apart or deciding max-vs-min again (tests/tuneops/test_one_home.py greps
for that). A new metric is one `_add(...)` line below.

Latencies are milliseconds, throughputs tokens/s, error_rate a fraction.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any


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


@dataclass(frozen=True)
class Metric:
    """One metric an objective or SLO may name."""

    name: str
    unit: str
    direction: Direction
    # Where one genai-bench run JSON holds it (a dotted path; latencies there are seconds
    # unless `_time_unit` says ms). "" when tuneops computes it (the note in _table says how).
    source: str
    statistic: Statistic | None = None  # over the run's requests; None: a whole-run value
    request_field: str | None = None  # genai-bench's per-request field the statistic is over
    per_gpu: bool = False  # divided by the trial's GPUs (CPU trials: per machine)

    @property
    def is_latency(self) -> bool:
        return self.unit == MS

    @property
    def min_requests(self) -> int | None:
        """Requests its statistic needs to mean more than the sample's extreme (None: a
        whole-run value)."""
        return self.statistic.min_requests if self.statistic is not None else None

    def read(self, run: Mapping[str, Any], gpu_count: int = 1) -> float | None:
        """This metric's value in one genai-bench run JSON, in tuneops units (None when
        absent or not a finite number)."""
        if not self.source:
            return None
        node: Any = run
        for key in self.source.split("."):
            node = node.get(key) if isinstance(node, Mapping) else None
        if isinstance(node, bool) or not isinstance(node, (int, float)) or \
                not math.isfinite(node):
            return None
        value = float(node)
        if self.is_latency and run.get("_time_unit", "s") == "s":
            value *= 1000.0
        return value / max(int(gpu_count), 1) if self.per_gpu else value


MS = "ms"
LATENCIES = ("ttft", "tpot", "e2e_latency", "output_latency")  # genai-bench request fields
SPEED = "output_inference_speed"  # tokens/s seen by one request
REQUEST_FIELDS = (*LATENCIES, SPEED)  # recorded per request (individual_request_metrics)
STATS = tuple(s.value for s in Statistic)
# Goodput over load (benchmark.concurrency: {search: bisect}): the highest concurrency that
# held every SLO in that trial's scenario, the same value at each level measured.
MAX_SLO_CONCURRENCY = "max_slo_concurrency"
ERROR_RATE = "error_rate"

METRICS: dict[str, Metric] = {}


def _add(m: Metric) -> None:
    METRICS[m.name] = m


def _table() -> None:
    up, down, agg = Direction.MAXIMIZE, Direction.MINIMIZE, "aggregated_metrics."
    _add(Metric("output_throughput", "tok/s", up, agg + "mean_output_throughput_tokens_per_s"))
    _add(Metric("input_throughput", "tok/s", up, agg + "mean_input_throughput_tokens_per_s"))
    _add(Metric("total_throughput", "tok/s", up,
                agg + "mean_total_tokens_throughput_tokens_per_s"))
    _add(Metric("output_throughput_per_gpu", "tok/s", up,
                agg + "mean_output_throughput_tokens_per_s", per_gpu=True))
    _add(Metric("total_throughput_per_gpu", "tok/s", up,
                agg + "mean_total_tokens_throughput_tokens_per_s", per_gpu=True))
    _add(Metric("requests_per_s", "req/s", up, agg + "requests_per_second"))
    for field in LATENCIES:
        for stat in Statistic:
            _add(Metric(f"{field}.{stat}", MS, down, f"{agg}stats.{field}.{stat}", stat, field))
    for stat in Statistic:
        _add(Metric(f"{SPEED}.{stat}", "tok/s", up, f"{agg}stats.{SPEED}.{stat}", stat, SPEED))
    # runner/bench/parse.py: from the completed and error counts (genai-bench 0.0.5's own
    # error_rate is always 0), falling back to `source`.
    _add(Metric(ERROR_RATE, "fraction", down, agg + "error_rate"))
    # runner/bench/worker.py: the goodput bisection's answer.
    _add(Metric(MAX_SLO_CONCURRENCY, "requests in flight", up, ""))


_table()
UNITS = {name: m.unit for name, m in METRICS.items()}


class UnknownMetric(KeyError):
    """A metric name not in the table; the message offers the nearest names."""

    def __str__(self) -> str:
        return str(self.args[0])


def did_you_mean(name: str) -> str:
    close = difflib.get_close_matches(name, list(METRICS), n=3, cutoff=0.6)
    return f"did you mean {' or '.join(close)}?" if close else "see docs/experiment.md"


def metric(name: str) -> Metric:
    """The metric called `name`; refused with the nearest names when there is none."""
    try:
        return METRICS[name]
    except KeyError:
        raise UnknownMetric(f"unknown metric {name!r}: {did_you_mean(name)}") from None


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
        if isinstance(given[0][1], bool) or not isinstance(given[0][1], (int, float)):
            raise ValueError(f"an SLO limit on {metric} must be a number, not "
                             f"{given[0][1]!r}")
        object.__setattr__(self, "limit", given[0][1])  # as written: 500 stays 500 in reports

    @classmethod
    def both(cls, metric: str, max: float | None = None, min: float | None = None
             ) -> tuple[Slo, ...]:
        """The SLOs of one experiment entry: one per bound given."""
        return tuple(cls(metric, bound=b, limit=v)
                     for b, v in ((Bound.MAX, max), (Bound.MIN, min)) if v is not None)

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
        return {"metric": self.metric, "max": self.max, "min": self.min}

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

