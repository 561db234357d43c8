"""A small background scraper: the engine's /metrics every ``interval_s`` while a
measurement runs.

Each scrape is stamped with wall-clock time (genai-bench stamps its result files with the
same clock, which is how `summary` cuts the samples per level). A scrape that fails (the
endpoint is missing, slow, or serves something the parser refuses) is counted with its
reason and skipped: telemetry never fails a trial. The body read is bounded.

The scraping thread runs on the load generator's cores when the trial has a CPU plan
(deployments/common/cpus.py), never on a CPU engine's: the runner is not pinned, and a
scrape's own work (the HTTP exchange and the parse, ~1 ms of CPU, scripts/
bench_telemetry_cost.py) then took turns with the engine it measures. What the engine
itself spends answering (~0.5 ms per scrape for llama.cpp, whose /metrics is a task on
its one server loop) stays on its core; at 4 scrapes a second that is ~0.2 % of it.
"""

from __future__ import annotations

import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tuneops.runner.telemetry.series import MAX_EXPOSITION_BYTES, Mapping, read

# A quarter second: a simulated level (time-scaled) lasts a few seconds and still gets
# enough scrapes for its counters; an engine's /metrics costs well under a millisecond.
DEFAULT_INTERVAL_S = 0.25
TIMEOUT_S = 2.0


@dataclass
class Scrapes:
    """What one measurement's scraping saw."""

    url: str
    interval_s: float
    samples: list[tuple[float, dict[str, float]]] = field(default_factory=list)  # (t, raw)
    gpu: list[tuple[float, dict[str, float]]] = field(default_factory=list)  # (t, NVML)
    errors: int = 0
    last_error: str = ""
    started: float = 0.0
    stopped: float = 0.0


def fetch(url: str, timeout: float = TIMEOUT_S) -> str:
    """The exposition at ``url`` (bounded); raises OSError/ValueError on any failure."""
    req = urllib.request.Request(url, headers={"Accept": "text/plain"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - engine URL
        body = resp.read(MAX_EXPOSITION_BYTES + 1)
    if len(body) > MAX_EXPOSITION_BYTES:
        raise ValueError(f"exposition larger than {MAX_EXPOSITION_BYTES} bytes")
    return body.decode("utf-8", errors="replace")


class Scraper:
    """``with Scraper(url, mapping) as s: ...`` scrapes until the block ends; ``s.result``."""

    def __init__(self, url: str, m: Mapping, interval_s: float = DEFAULT_INTERVAL_S, *,
                 gpu_reader: Callable[[], dict[str, float] | None] | None = None,
                 clock: Callable[[], float] = time.time, cpus: Sequence[int] = ()) -> None:
        self.mapping = m
        self.cpus = frozenset(int(c) for c in cpus)  # where the scraping thread runs
        self.gpu_reader = gpu_reader
        self.clock = clock
        self.result = Scrapes(url=url, interval_s=interval_s)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tuneops-telemetry",
                                        daemon=True)

    def scrape_once(self) -> None:
        now = self.clock()
        try:
            self.result.samples.append((now, read(fetch(self.result.url), self.mapping)))
        except (OSError, ValueError, urllib.error.URLError) as e:
            self.result.errors += 1
            self.result.last_error = f"{type(e).__name__}: {e}"[:300]
        if self.gpu_reader is not None:
            gpu = self.gpu_reader()
            if gpu:
                self.result.gpu.append((now, gpu))

    def _loop(self) -> None:
        if self.cpus:
            try:  # this thread only (Linux: pid 0 is the calling thread)
                os.sched_setaffinity(0, self.cpus)
            except (OSError, AttributeError):
                pass  # not Linux, or the set is gone: scrape wherever the runner runs
        while True:
            self.scrape_once()
            if self._stop.wait(self.result.interval_s):
                break

    def __enter__(self) -> Scraper:
        self.result.started = self.clock()
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(TIMEOUT_S * 2 + self.result.interval_s)
        self.scrape_once()  # the state as the run ended: counters' last increase
        self.result.stopped = self.clock()
