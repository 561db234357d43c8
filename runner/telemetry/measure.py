"""The telemetry of one measurement, as the trial's benchmark step uses it.

``with measuring(engine, base_url, gpus) as t: outcome = bench.run(...)``, then
``t.summary(outcome)``: the scraper runs exactly while genai-bench does. An engine that
declares no endpoint in schemas/engines.yaml gives a summary that says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tuneops.runner.bench.parse import BenchOutcome
from tuneops.runner.telemetry import nvml, summary
from tuneops.runner.telemetry.scrape import DEFAULT_INTERVAL_S, Scraper
from tuneops.runner.telemetry.series import mapping

from tuneops.registry import engines


class Measurement:
    def __init__(self, engine: str, base_url: str, gpus: tuple[str, ...],
                 interval_s: float = DEFAULT_INTERVAL_S, cpus: tuple[int, ...] = ()) -> None:
        self.mapping = mapping(engines()[engine].metrics, engine)
        gpu_reader, self.gpu_why_not = nvml.reader(gpus)
        self.scraper = (Scraper(base_url.rstrip("/") + self.mapping.path, self.mapping,
                                interval_s, gpu_reader=gpu_reader, cpus=cpus)
                        if self.mapping is not None else None)

    def summary(self, outcome: BenchOutcome) -> dict[str, Any]:
        if self.scraper is None:
            return {"not_scraped": "the engine declares no metrics endpoint"}
        windows = summary.level_windows(outcome.folder, outcome.files) if outcome.folder else {}
        tokens = sum(v.get("output_throughput", 0.0) * v.get("run_duration_s", 0.0)
                     for by_c in outcome.metrics.values() for v in by_c.values())
        gpu = nvml.summarize(self.scraper.result.gpu, self.gpu_why_not, tokens or None)
        return summary.summarize(self.scraper.result, self.mapping, windows, gpu)


@contextmanager
def measuring(engine: str, base_url: str, gpus: tuple[str, ...] = (),
              interval_s: float = DEFAULT_INTERVAL_S, cpus: tuple[int, ...] = ()
              ) -> Iterator[Measurement]:
    """`cpus`: the load generator's cores, where the scraping runs (none: anywhere)."""
    m = Measurement(engine, base_url, gpus, interval_s, cpus)
    if m.scraper is None:
        yield m
        return
    with m.scraper:
        yield m
