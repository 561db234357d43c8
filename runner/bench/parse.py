"""genai-bench's result JSONs → tuneops metrics, converted once (latencies ms, tokens/s).

Every result file is read, whatever its scenario prefix; what went wrong comes back as a
BenchOutcome with ok=False and a reason, never as an exception.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuneops.runner.results import Metrics
from tuneops.runner.stats import RECORD_FIELDS, Records

from tuneops.metrics import ERROR_RATE, LATENCIES, METRICS, RequestSlo, goodput
from tuneops.metrics.goodput import FAILED, OUTPUT_TOKENS


@dataclass
class BenchOutcome:
    """What one genai-bench invocation produced: metrics, or why there are none."""

    ok: bool
    metrics: Metrics = field(default_factory=dict)
    reason: str = ""
    returncode: int | None = None
    folder: str = ""  # genai-bench's experiment folder
    log_path: str = ""
    duration_s: float = 0.0
    cancelled: bool = False
    timed_out: bool = False
    files: list[str] = field(default_factory=list)  # result JSONs read
    missing: list[str] = field(default_factory=list)  # "scenario@concurrency" never measured
    # every successful request's latencies (ms) and speed, per scenario x level (stats.Records)
    records: Records = field(default_factory=dict)
    engine_died: bool = False  # the engine went away while genai-bench ran
    not_run: list[str] = field(default_factory=list)  # levels skipped on purpose, and why
    infra: bool = False  # the load generator itself failed (worker hung or crashed)




def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def run_metrics(data: dict[str, Any], gpu_count: int = 1,
                request_slos: Sequence[RequestSlo] = ()) -> tuple[str, int, dict[str, float]]:
    """(scenario, concurrency, {tuneops metric: value}) from one genai-bench run JSON; with
    per-request SLOs, its goodput too (from the same file's individual_request_metrics)."""
    agg = data["aggregated_metrics"]
    level_key = "batch_size" if agg.get("iteration_type") == "batch_size" else "num_concurrency"
    out: dict[str, float] = {}

    def put(name: str, value: Any) -> None:
        v = _num(value)
        if v is not None:
            out[name] = v

    for m in METRICS.values():  # each metric from where its table entry says (per GPU: CPU
        put(m.name, m.read(data, gpu_count))  # trials count one machine)
    # genai-bench 0.0.5 divides by num_requests before it sets it, so its error_rate is 0
    # even when requests failed: recompute it from the counts it does get right.
    done, errors = _num(agg.get("num_completed_requests")), _num(agg.get("num_error_requests"))
    if done is not None and errors is not None and done + errors > 0:
        out[ERROR_RATE] = errors / (done + errors)
        out["num_requests"] = done + errors
    else:
        put("num_requests", agg.get("num_requests"))
    put("num_completed_requests", done)
    put("num_error_requests", errors)
    for code, count in sorted((agg.get("error_codes_frequency") or {}).items()):
        put(f"errors.{code}", count)
    put("run_duration_s", agg.get("run_duration"))
    # run_duration stays seconds whatever _time_unit says (genai_bench/time_units.py
    # converts only LATENCY_FIELDS): the denominator of genai-bench's own requests_per_second
    # Goodput only from a file that holds every request it counts: a trimmed or partial list
    # would pass off a sample as the rate.
    records = request_records(data)
    if request_slos and len(records) == out.get("num_requests"):
        out.update(goodput(records, request_slos, _num(agg.get("run_duration"))))
    return str(agg["scenario"]), int(agg[level_key]), out


def request_records(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Every request of one run JSON, as tuneops/metrics/goodput.py judges them: its
    latencies in ms, its output tokens, and whether it failed."""
    to_ms = 1000.0 if data.get("_time_unit", "s") == "s" else 1.0
    out = []
    for req in data.get("individual_request_metrics") or []:
        if not isinstance(req, dict):
            continue
        rec: dict[str, Any] = {FAILED: req.get("error_code") is not None,
                               OUTPUT_TOKENS: _num(req.get(OUTPUT_TOKENS))}
        for name in LATENCIES:
            v = _num(req.get(name))
            rec[name] = v * to_ms if v is not None else None
        out.append(rec)
    return out


def run_records(data: dict[str, Any]) -> dict[str, list[float]]:
    """Every successful request's latencies (ms) and output speed from one run JSON."""
    to_ms = 1000.0 if data.get("_time_unit", "s") == "s" else 1.0
    out: dict[str, list[float]] = {name: [] for name in RECORD_FIELDS}
    for req in data.get("individual_request_metrics") or []:
        if not isinstance(req, dict) or req.get("error_code") is not None:
            continue
        for name in RECORD_FIELDS:
            v = _num(req.get(name))
            if v is not None:
                out[name].append(v * (to_ms if name in LATENCIES else 1.0))
    return {k: v for k, v in out.items() if v}


def _is_result_file(path: Path) -> bool:
    return path.name != "experiment_metadata.json" and not path.name.startswith("debug_")


def parse_results(
    folder: str | os.PathLike,
    *,
    gpu_count: int = 1,
    expected: list[tuple[str, int]] | None = None,
    request_slos: Sequence[RequestSlo] = (),
) -> BenchOutcome:
    """Every run JSON in genai-bench's experiment folder → metrics[scenario][concurrency].

    ok is False when nothing usable was measured: no folder, no result files (debug files
    only: every request of a run failed), unreadable files, or every run all errors.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return BenchOutcome(ok=False, folder=str(folder),
                            reason=f"no genai-bench results folder at {folder}")
    debug = sorted(p.name for p in folder.glob("debug_*.json"))
    metrics: Metrics = {}
    records: Records = {}
    problems: list[str] = []
    files: list[str] = []
    for path in sorted(p for p in folder.glob("*.json") if _is_result_file(p)):
        try:
            data = json.loads(path.read_text())
            scenario, level, values = run_metrics(data, gpu_count, request_slos)
        except (OSError, ValueError, KeyError, TypeError) as e:
            problems.append(f"{path.name}: unreadable ({type(e).__name__}: {e})")
            continue
        files.append(path.name)
        metrics.setdefault(scenario, {})[level] = values
        records.setdefault(scenario, {})[level] = run_records(data)
    missing = [f"{s}@{c}" for s, c in (expected or []) if c not in metrics.get(s, {})]
    outcome = BenchOutcome(ok=True, metrics=metrics, folder=str(folder), files=files,
                           missing=missing, records=records)
    if not metrics:
        outcome.ok = False
        why = ["no result files"]
        if debug:
            why.append(f"debug files only ({', '.join(debug)}): no request of a run succeeded")
        outcome.reason = "; ".join(why + problems)
        return outcome
    served = [v for by_c in metrics.values() for v in by_c.values()
              if v.get("num_completed_requests", 1) > 0 and v.get("error_rate", 0.0) < 1.0]
    if not served:
        outcome.ok = False
        outcome.reason = "every request errored in every run"
    elif problems:
        outcome.reason = "; ".join(problems)
    return outcome


