"""The metric table: one `Metric` row per name an objective or SLO may use.

A new metric is one `_add(...)` line in `_table()`: its unit, direction, statistic and where
genai-bench's run JSON holds it. The schema's allowed names, docs/experiment.md, parsing,
scoring and reports all read this table.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tuneops.metrics.goodput import GOOD_FRACTION, GOODPUT_OUTPUT_TOKENS, GOODPUT_REQUESTS
from tuneops.metrics.kinds import Direction, Statistic


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
    # A rate served by a closed loop (tokens or requests per second): at concurrency c it is
    # c times each request's own rate, so at a higher level c' it is at most value * c'/c,
    # since a request only gets slower with load (the assumption early stop makes too).
    # Search pruning bounds what a trial's higher levels can still reach with it.
    served_rate: bool = False

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
# Open-loop load (benchmark.load, type rate): the rate asked for, the rate the load
# generator really sent at (runner/loadgen), and the rate search's answer.
OFFERED_RATE = "offered_rate"
ACHIEVED_RATE = "achieved_rate"
MAX_SLO_RATE = "max_slo_rate"
ERROR_RATE = "error_rate"
COST_METRICS = ("cost_per_million_output_tokens", "cost_per_million_tokens")

METRICS: dict[str, Metric] = {}


def _add(m: Metric) -> None:
    METRICS[m.name] = m


def _table() -> None:
    up, down, agg = Direction.MAXIMIZE, Direction.MINIMIZE, "aggregated_metrics."
    _add(Metric("output_throughput", "tok/s", up, agg + "mean_output_throughput_tokens_per_s",
                served_rate=True))
    _add(Metric("input_throughput", "tok/s", up, agg + "mean_input_throughput_tokens_per_s",
                served_rate=True))
    _add(Metric("total_throughput", "tok/s", up,
                agg + "mean_total_tokens_throughput_tokens_per_s", served_rate=True))
    _add(Metric("output_throughput_per_gpu", "tok/s", up,
                agg + "mean_output_throughput_tokens_per_s", per_gpu=True, served_rate=True))
    _add(Metric("total_throughput_per_gpu", "tok/s", up,
                agg + "mean_total_tokens_throughput_tokens_per_s", per_gpu=True,
                served_rate=True))
    _add(Metric("requests_per_s", "req/s", up, agg + "requests_per_second", served_rate=True))
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
    # runner/loadgen: from AIPerf's per-request records (send times), one home: aiperf.py
    _add(Metric(OFFERED_RATE, "req/s", up, ""))
    _add(Metric(ACHIEVED_RATE, "req/s", up, ""))
    # runner/loadgen/capacity.py: the capacity search's answer, the same value at each rate
    _add(Metric(MAX_SLO_RATE, "req/s", up, ""))
    # runner/cost.py: the GPUs' hourly price (schemas/gpus.yaml, or the experiment's
    # deployment.gpus.pricePerHour) over the tokens served in an hour at that point, per
    # repeat, so they carry intervals like any measured metric.
    for name in COST_METRICS:
        _add(Metric(name, "USD/1M tok", down, ""))
    # tuneops/metrics/goodput.py, from genai-bench's individual_request_metrics and
    # run_duration (runner/bench/parse.py): the requests (their output tokens) per second
    # that met every `slos[].perRequest` bound, and their share of all requests sent.
    _add(Metric(GOODPUT_REQUESTS, "req/s", up, "", served_rate=True))
    _add(Metric(GOODPUT_OUTPUT_TOKENS, "tok/s", up, "", served_rate=True))
    _add(Metric(GOOD_FRACTION, "fraction", up, ""))


_table()
UNITS = {name: m.unit for name, m in METRICS.items()}


class UnknownMetric(KeyError):
    """A metric name not in the table; the message offers the nearest names."""

    def __str__(self) -> str:
        return str(self.args[0])


def did_you_mean(name: str) -> str:
    close = difflib.get_close_matches(name, list(METRICS), n=3, cutoff=0.6)
    return f"did you mean {' or '.join(close)}?" if close else "see docs/experiment.md"


def unknown(name: str) -> UnknownMetric:
    return UnknownMetric(f"unknown metric {name!r}: {did_you_mean(name)}")


def metric(name: str) -> Metric:
    """The metric called `name`; refused with the nearest names when there is none."""
    try:
        return METRICS[name]
    except KeyError:
        raise unknown(name) from None
