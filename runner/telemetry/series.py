"""One scrape of a Prometheus text exposition → tuneops' telemetry series (raw values).

The exposition is parsed by ``prometheus_client.parser.text_string_to_metric_families``
(the client library's own parser, not a hand-written one). Which engine sample feeds which
tuneops series is ``metrics.series`` in ``schemas/engines.yaml``: a gauge is kept as its
value; a counter, rate or ratio keeps the counters' raw values, turned into increases and
per-second rates by ``summary`` (two scrapes are needed for a change). A sample name the
endpoint does not serve leaves the series out of that scrape: it is reported as "not
exposed", never as zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tuneops.metrics import TELEMETRY

KINDS = ("gauge", "counter", "rate", "ratio")
# How the samples of one name with several label sets become one value (`combine:`).
COMBINE = {"sum": sum, "max": max}
MAX_EXPOSITION_BYTES = 4 * 1024 * 1024  # an engine's /metrics is tens of KiB


@dataclass(frozen=True)
class SeriesSpec:
    """How one tuneops series is read from an engine's exposition."""

    name: str  # tuneops' name (tuneops.metrics.TELEMETRY)
    sample: str  # the sample name in the exposition (counters with their `_total`)
    kind: str  # gauge | counter | rate | ratio
    per: tuple[str, ...] = ()  # ratio: the samples whose increases sum to the denominator
    combine: str = "sum"  # several label sets: sum (requests) or max (a usage fraction)

    def samples(self) -> tuple[str, ...]:
        return (self.sample, *self.per)


@dataclass(frozen=True)
class Mapping:
    """An engine's endpoint path, its name in reports and its series."""

    path: str
    shown_as: str
    series: tuple[SeriesSpec, ...]

    def not_exposed(self) -> dict[str, str]:
        """tuneops series this engine has no sample for, each with the sentence to report."""
        have = {s.name for s in self.series}
        return {n: f"not exposed by {self.shown_as}" for n in TELEMETRY if n not in have}


def mapping(engine_metrics: dict[str, Any], engine_name: str) -> Mapping | None:
    """The engine's ``metrics`` block (registry.Engine.metrics) as a Mapping; None when the
    engine declares no endpoint. A malformed block is a bug in schemas/engines.yaml."""
    if not engine_metrics:
        return None
    specs = []
    for name, raw in (engine_metrics.get("series") or {}).items():
        if name not in TELEMETRY:
            raise ValueError(f"schemas/engines.yaml: {engine_name}.metrics.series.{name}: "
                             f"not a telemetry series (allowed: {', '.join(TELEMETRY)})")
        kind = raw.get("kind", "gauge")
        if kind not in KINDS:
            raise ValueError(f"schemas/engines.yaml: {engine_name}.metrics.series.{name}.kind:"
                             f" {kind!r} (allowed: {', '.join(KINDS)})")
        specs.append(SeriesSpec(name, str(raw["sample"]), kind, tuple(raw.get("per") or ()),
                                raw.get("combine", "sum")))
    return Mapping(str(engine_metrics.get("path") or "/metrics"),
                   str(engine_metrics.get("shown_as") or engine_name), tuple(specs))


def read(text: str, m: Mapping) -> dict[str, float]:
    """Raw values of every mapped sample found in ``text``: {sample name: value} (label sets
    combined as the series asks). Raises ValueError on an exposition the parser refuses."""
    wanted: dict[str, str] = {}
    for spec in m.series:
        for sample in spec.samples():
            wanted.setdefault(sample, spec.combine if sample == spec.sample else "sum")
    found: dict[str, list[float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name in wanted and isinstance(s.value, (int, float)) and math.isfinite(s.value):
                found.setdefault(s.name, []).append(float(s.value))
    return {name: COMBINE[wanted[name]](vals) for name, vals in found.items()}
