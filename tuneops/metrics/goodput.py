"""Goodput: requests, and their output tokens, per second that met every per-request SLO.

A request is good when it succeeded and its own latencies — those the experiment bounds
with `slos[].perRequest: true` (TTFT, TPOT, end-to-end) — are each within their limit: the
definition of DistServe and of vLLM's `bench serve --goodput`. A percentile SLO says how
the slowest requests fared; goodput says how much of the throughput was worth having.

Pure: it counts over per-request records in tuneops units (latencies in ms), whichever
load generator wrote them. runner/bench/parse.py turns genai-bench's
`individual_request_metrics` into these records; an open-loop generator hands in its own.
The rate's denominator is the run's duration as the load generator measured it (for
genai-bench the `run_duration` its own `requests_per_second` divides by).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# Per-request latencies a per-request SLO may bound (genai-bench's field names, in ms).
REQUEST_SLO_FIELDS = ("ttft", "tpot", "e2e_latency")
GOODPUT_REQUESTS = "goodput_requests_per_s"
GOODPUT_OUTPUT_TOKENS = "goodput_output_tokens_per_s"
GOOD_FRACTION = "good_request_fraction"
GOODPUT_METRICS = (GOODPUT_REQUESTS, GOODPUT_OUTPUT_TOKENS, GOOD_FRACTION)
OUTPUT_TOKENS = "num_output_tokens"  # a record's output tokens
FAILED = "error"  # a record's flag: the request failed (no latency judged)


@dataclass(frozen=True)
class RequestSlo:
    """One per-request bound: every good request's own `field` is at most `limit` ms."""

    field: str
    limit: float  # ms, as written in the experiment

    def __post_init__(self) -> None:
        if self.field not in REQUEST_SLO_FIELDS:
            raise ValueError(f"a per-request SLO bounds one of {', '.join(REQUEST_SLO_FIELDS)}"
                             f", not {self.field!r}")
        if isinstance(self.limit, bool) or not isinstance(self.limit, (int, float)) \
                or not math.isfinite(self.limit) or self.limit <= 0:
            raise ValueError(f"a per-request limit on {self.field} must be a positive "
                             f"number of ms, not {self.limit!r}")

    @classmethod
    def from_entry(cls, entry: Mapping[str, Any]) -> RequestSlo:
        """The bound of one schema-valid `slos:` entry with perRequest: true."""
        return cls(entry["metric"], entry["max"])

    def holds(self, record: Mapping[str, Any]) -> bool:
        """Met by this request: its value is measured and within the limit. An unmeasured
        value (genai-bench leaves TPOT out when it cannot time the output) is not good:
        goodput never counts what it could not check."""
        value = record.get(self.field)
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value):
            return False
        return value <= self.limit

    def as_dict(self) -> dict[str, Any]:
        """As experiments and results.json write it."""
        return {"metric": self.field, "max": self.limit, "perRequest": True}

    def text(self) -> str:
        return f"{self.field} ≤ {self.limit:g} ms"


def is_good(record: Mapping[str, Any], slos: Sequence[RequestSlo]) -> bool:
    """A request that succeeded and met every per-request SLO."""
    return not record.get(FAILED) and all(s.holds(record) for s in slos)


def goodput(records: Iterable[Mapping[str, Any]], slos: Sequence[RequestSlo],
            duration_s: float | None) -> dict[str, float]:
    """{goodput_requests_per_s, goodput_output_tokens_per_s, good_request_fraction} of one
    run; {} when there is nothing to judge (no per-request SLO, no duration, no request)."""
    if not slos or duration_s is None or not math.isfinite(duration_s) or duration_s <= 0:
        return {}
    total = good = tokens = 0
    for record in records:
        total += 1
        if is_good(record, slos):
            good += 1
            n = record.get(OUTPUT_TOKENS)
            tokens += n if isinstance(n, (int, float)) and not isinstance(n, bool) \
                and math.isfinite(n) and n > 0 else 0
    if total == 0:
        return {}
    return {GOODPUT_REQUESTS: good / duration_s, GOODPUT_OUTPUT_TOKENS: tokens / duration_s,
            GOOD_FRACTION: good / total}
