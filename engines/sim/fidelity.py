"""How close the performance model comes to published real measurements.

Replays each row of ``data/published_measurements.yaml`` (a setup and one published number)
in virtual time with the simulator's own scheduler and performance model, and compares the
prediction with the number: per row the ratio, over all rows the median absolute error and
Spearman's rank correlation (does the model order the setups as the measurements do?).
Pure: no clock, no I/O beyond reading the fixture; the same seed gives the same table.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from tuneops.engines.sim import profiles
from tuneops.engines.sim.perfmodel import Efficiency, PerfModel, Settings
from tuneops.engines.sim.scheduler import Request, closed_loop, drive

FIXTURE = Path(__file__).resolve().parent / "data" / "published_measurements.yaml"
KINDS = {"batch", "poisson", "offline"}
METRICS = {"e2e_latency_ms", "median_ttft_ms", "median_tpot_ms", "output_throughput"}
SETTINGS = {"enable_torch_compile", "mem_fraction_static", "chunked_prefill_size"}

Constants = Callable[[str], Efficiency]  # GPU name -> the constants to predict with


@dataclass(frozen=True)
class Row:
    id: str
    url: str
    engine: str
    gpu: str
    model: str
    tp: int
    flags: dict[str, Any]
    kind: str
    workload: dict[str, Any]
    input_len: int
    output_len: int
    metric: str
    value: float


def load(path: Path = FIXTURE) -> list[Row]:
    """The fixture's rows, each checked; a bad row is a ValueError naming it and its field."""
    doc = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    lengths = doc.get("workloads") or {}
    rows, seen = [], set()
    for i, raw in enumerate(doc.get("rows") or []):
        rid = raw.get("id") or f"rows[{i}]"

        def bad(field: str, why: str, rid: str = rid) -> ValueError:
            return ValueError(f"{path}: row {rid}: {field}: {why}")

        if rid in seen:
            raise bad("id", "duplicate")
        seen.add(rid)
        source = raw.get("source") or {}
        if not str(source.get("url", "")).startswith("https://"):
            raise bad("source.url", "every row cites an https:// address")
        if raw.get("gpu") not in profiles.gpu_names():
            raise bad("gpu", f"one of {profiles.gpu_names()}")
        if raw.get("model") not in profiles.model_names():
            raise bad("model", f"one of {profiles.model_names()}")
        tp = raw.get("tp")
        if not isinstance(tp, int) or isinstance(tp, bool) or tp < 1:
            raise bad("tp", "a positive integer")
        flags = raw.get("flags") or {}
        if set(flags) - SETTINGS:
            raise bad("flags", f"only {sorted(SETTINGS)}")
        work = dict(raw.get("workload") or {})
        if work.get("kind") not in KINDS:
            raise bad("workload.kind", f"one of {sorted(KINDS)}")
        if "lengths" in work:
            named = lengths.get(work["lengths"])
            if not named:
                raise bad("workload.lengths", f"one of {sorted(lengths)}")
            work.setdefault("input_len", named["input_len"])
            work.setdefault("output_len", named["output_len"])
        for key in ("input_len", "output_len", *{"batch": ("batch",), "poisson": (
                "rate", "num_prompts"), "offline": ("num_prompts",)}[work["kind"]]):
            v = work.get(key)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or v <= 0:
                raise bad(f"workload.{key}", "a positive number")
        if raw.get("metric") not in METRICS:
            raise bad("metric", f"one of {sorted(METRICS)}")
        value = raw.get("value")
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
            raise bad("value", "the published number, positive")
        rows.append(Row(rid, source["url"], str(source.get("engine", "")), raw["gpu"],
                        raw["model"], tp, dict(flags), work["kind"], work,
                        int(work["input_len"]), int(work["output_len"]), raw["metric"],
                        float(value)))
    if not rows:
        raise ValueError(f"{path}: no rows")
    return rows


def calibrated(gpu: str) -> Efficiency:
    return Efficiency.for_gpu(gpu)


def predict(row: Row, constants: Constants = calibrated, max_requests: int | None = None,
            seed: int = 0) -> float:
    """The model's number for ``row``'s setup and metric (``max_requests`` caps a replay's
    request count, for a quicker approximate fit)."""
    c = constants(row.gpu)
    if row.kind == "batch":  # the offline LLM API: no HTTP server in front of the engine
        c = replace(c, request_overhead_s=0.0)
    model = PerfModel(profiles.gpu(row.gpu), profiles.model(row.model),
                      Settings(tp=row.tp, **row.flags), c)
    w = row.workload
    n = int(w.get("num_prompts") or w.get("batch"))
    n = min(n, max_requests) if max_requests else n
    if row.kind in ("batch", "offline"):
        result = closed_loop(model, n, row.input_len, row.output_len, n, seed, ignore_eos=True)
        return result.duration * 1000 if row.metric == "e2e_latency_ms" \
            else result.output_throughput
    rng = random.Random(seed)
    t, arrivals = 0.0, []
    for _ in range(n):  # sglang.bench_serving: exponential gaps at the request rate
        t += rng.expovariate(float(w["rate"]))
        arrivals.append(Request(row.input_len, row.output_len, row.output_len, t,
                                ignore_eos=True))
    _, done, _ = drive(model, arrivals, seed)
    if row.metric == "median_ttft_ms":
        return 1000 * statistics.median(r.first_token - r.arrival for r in done)
    tpot = [(r.finished - r.first_token) / (r.generated - 1) for r in done if r.generated > 1]
    return 1000 * statistics.median(tpot)


@dataclass(frozen=True)
class Fidelity:
    rows: list[tuple[Row, float]]  # (row, predicted)
    median_abs_error: float  # median over rows of |predicted / published - 1|
    spearman: float  # rank correlation of predicted with published, over all rows
    by_metric: dict[str, float]  # the same within each metric's rows
    worst_ratio: float  # the predicted / published furthest from 1

    def ratios(self) -> list[float]:
        return [p / r.value for r, p in self.rows]


def fidelity(rows: list[Row], constants: Constants = calibrated,
             max_requests: int | None = None) -> Fidelity:
    predicted = [(r, predict(r, constants, max_requests)) for r in rows]
    ratios = [p / r.value for r, p in predicted]
    by_metric: dict[str, list[tuple[float, float]]] = {}
    for r, p in predicted:
        by_metric.setdefault(r.metric, []).append((p, r.value))
    # over all rows (as issue 23 measured it), and within each metric: a latency and a
    # throughput are not one scale, and a metric with two rows is a single comparison
    rho = spearman([p for _, p in predicted], [r.value for r, _ in predicted])
    within = {m: spearman([p for p, _ in pairs], [v for _, v in pairs])
              for m, pairs in sorted(by_metric.items()) if len(pairs) > 1}
    return Fidelity(predicted, statistics.median(abs(x - 1) for x in ratios), rho, within,
                    max(ratios, key=lambda x: abs(math.log(x))))


def spearman(xs: list[float], ys: list[float]) -> float:
    """Spearman's rank correlation: Pearson's of the ranks, ties at their average rank."""
    rx, ry = _ranks(xs), _ranks(ys)
    mx, my = statistics.fmean(rx), statistics.fmean(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    var = math.sqrt(sum((a - mx) ** 2 for a in rx) * sum((b - my) ** 2 for b in ry))
    return cov / var if var else 0.0


def _ranks(xs: list[float]) -> list[float]:
    order = sorted(range(len(xs)), key=xs.__getitem__)
    ranks = [0.0] * len(xs)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def table(result: Fidelity) -> str:
    """The fidelity table as Markdown: per row predicted vs published, then the summary."""
    lines = ["| row | GPU | model | tp | metric | published | predicted | ratio | source |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r, p in result.rows:
        lines.append(f"| {r.id} | {r.gpu} | {r.model} | {r.tp} | {r.metric} | {r.value:g} | "
                     f"{p:.4g} | {p / r.value:.3f} | {r.url} |")
    within = ", ".join(f"{m} {v:.2f}" for m, v in result.by_metric.items())
    lines.append(f"\nmedian absolute error {result.median_abs_error:.1%}; Spearman rank "
                 f"correlation {result.spearman:.3f} over all rows (within each metric: "
                 f"{within}); worst ratio {result.worst_ratio:.3f}")
    return "\n".join(lines)
