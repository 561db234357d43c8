"""What each metric and SLO means, as typed values: the one place that knows.

A `Metric` is one row of the table: its name, unit, which way is better, the statistic it
takes over a run's requests, and where genai-bench's run JSON holds it. An `Slo` is one
bound on one metric and judges a value with the metric's own statistic. Everything else —
the schema's allowed names, the validator, the searcher's constraint, early stop,
bisection, ranking, reports, plots and the PR comparison — asks these values instead of
taking "ttft.p99" apart or deciding max-vs-min again (tests/tuneops/test_one_home.py greps
for that). A new metric is one `_add(...)` line in table.py.

Latencies are milliseconds, throughputs tokens/s, error_rate a fraction.
"""

from tuneops.metrics.goodput import (
    GOOD_FRACTION,
    GOODPUT_METRICS,
    GOODPUT_OUTPUT_TOKENS,
    GOODPUT_REQUESTS,
    REQUEST_SLO_FIELDS,
    RequestSlo,
    goodput,
    is_good,
)
from tuneops.metrics.kinds import (
    Bound,
    Direction,
    Statistic,
    StrEnum,
    TrialVerdict,
    Verdict,
    min_requests,
)
from tuneops.metrics.slo import Judgement, Slo
from tuneops.metrics.table import (
    ACHIEVED_RATE,
    COST_METRICS,
    ERROR_RATE,
    LATENCIES,
    MAX_SLO_CONCURRENCY,
    MAX_SLO_RATE,
    METRICS,
    MS,
    OFFERED_RATE,
    REQUEST_FIELDS,
    SPEED,
    STATS,
    UNITS,
    Metric,
    UnknownMetric,
    did_you_mean,
    metric,
    unknown,
)
from tuneops.metrics.telemetry import GPU_TELEMETRY, TELEMETRY

__all__ = [
    "GOOD_FRACTION", "GOODPUT_METRICS", "GOODPUT_OUTPUT_TOKENS", "GOODPUT_REQUESTS",
    "REQUEST_SLO_FIELDS", "RequestSlo", "goodput", "is_good",
    "ACHIEVED_RATE", "COST_METRICS", "GPU_TELEMETRY", "MAX_SLO_RATE", "OFFERED_RATE", "TELEMETRY",
    "ERROR_RATE", "LATENCIES", "MAX_SLO_CONCURRENCY", "METRICS", "MS", "REQUEST_FIELDS",
    "SPEED", "STATS", "UNITS", "Bound", "Direction", "Judgement", "Metric", "Slo",
    "Statistic", "StrEnum", "TrialVerdict", "UnknownMetric", "Verdict", "did_you_mean",
    "metric", "min_requests", "unknown",
]
