"""NVIDIA AIPerf as the open-loop load generator: its argv for one rate, and its result files
converted, once, into tuneops' metric names (latencies ms, throughputs tokens/s).

One `aiperf profile` run is one measurement point: one scenario at one offered rate, with
constant, Poisson or gamma arrivals (AIPerf's --arrival-pattern; gamma's shape is its
--arrival-smoothness, the same parameter as vLLM's --burstiness). Its two result files are
the source of every number:

- profile_export_aiperf.json: the run's aggregates (avg/min/max/p25..p99 per metric), read
  for every statistic an objective or SLO names;
- profile_export.jsonl: one record per request (send time, TTFT, inter-token latency,
  end-to-end latency, output tokens, errors; aiperf/common/models/record_models.py
  MetricRecordInfo, each metric a MetricValue in its display unit), read for the
  per-request records the intervals are bootstrapped from, for goodput (each request judged
  by the experiment's per-request SLOs, tuneops/metrics/goodput.py), and for the achieved
  rate and the lateness of the sends.

The generator fell behind when it sent slower than offered beyond what the arrival
process's own randomness explains, or when its sends were late (AIPerf's
credit_to_start_latency: from the moment the schedule released a request to the moment a
worker sent it, see `lateness_ms`). Such a point is flagged (`behind`) and never scored as
the server's.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuneops.checks_benchmark import rate_scenario_lengths
from tuneops.metrics import (
    ACHIEVED_RATE,
    ERROR_RATE,
    LATENCIES,
    OFFERED_RATE,
    REQUEST_SLO_FIELDS,
    SPEED,
    RequestSlo,
    Statistic,
    goodput,
)
from tuneops.metrics.goodput import FAILED, OUTPUT_TOKENS
from tuneops.spec import Arrival, Experiment, Load
from tuneops.workloads import TraceRow

SUMMARY = "profile_export_aiperf.json"
RECORDS = "profile_export.jsonl"
LOG_FILE = "aiperf.log"

# tuneops request field -> AIPerf metric tag (aiperf/metrics/types/*.py): TTFT, time per
# output token ((latency - TTFT) / (tokens - 1), genai-bench's tpot), end-to-end latency,
# and the per-request output speed.
FIELDS = {
    "ttft": "time_to_first_token",
    "tpot": "inter_token_latency",
    "e2e_latency": "request_latency",
    SPEED: "output_token_throughput_per_user",
}
# tuneops statistic -> AIPerf's key in its aggregate
STATS = {Statistic.MEAN: "avg", **{s: s.value for s in Statistic if s is not Statistic.MEAN}}
# whole-run throughputs: tuneops name -> AIPerf metric tag
THROUGHPUTS = {
    "output_throughput": "output_token_throughput",
    "input_throughput": "input_token_throughput",
    "total_throughput": "total_token_throughput",
    "requests_per_s": "request_throughput",
}
# a record's output tokens: AIPerf's output_sequence_length (the tokens the server returned,
# aiperf/metrics/types/output_sequence_length_metric.py)
OUTPUT_LENGTH = "output_sequence_length"
# a record's latencies in ms from the unit AIPerf wrote beside each value (MetricValue.unit;
# 0.13.0 writes latencies in their display unit, ms: aiperf/metrics/types/ttft_metric.py)
TO_MS = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "sec": 1e3, "s": 1e3}
PER_GPU = {"output_throughput_per_gpu": "output_throughput",
           "total_throughput_per_gpu": "total_throughput"}

# Each request may take this long (AIPerf's --request-timeout-seconds) before it is recorded
# as an error: an overloaded server's backlog ends the run as errors, not as a hang.
REQUEST_TIMEOUT_S = 120.0
LATE_SEND_MS = 50.0  # a send this late behind its schedule is the generator's, not noise
LATE_GAP_SHARE = 0.1  # ... or a tenth of the mean gap, when that is longer (slow rates)
LATE_SHARE = 0.05  # ... for more than this share of requests: fell behind
RATE_SIGMAS = 3.0  # achieved below offered by more than this many sampling sds: fell behind
RATE_FLOOR = 0.05  # never flag a shortfall smaller than 5 %


def arrival_flags(load: Load) -> list[str]:
    if load.arrival is Arrival.GAMMA:
        return ["--arrival-pattern", "gamma", "--arrival-smoothness", f"{load.burstiness:g}"]
    return ["--arrival-pattern", str(load.arrival)]


def _common_flags(exp: Experiment, base_url: str, out_dir: str | os.PathLike, *,
                  aiperf: str, tokenizer: str, seed: int) -> list[str]:
    """What every `aiperf profile` run of a trial shares: the server, the endpoint, the
    tokenizer, the request parameters and where the result files go."""
    cmd = [
        aiperf, "profile",
        "--model", exp.model.served_name,
        "--url", base_url.rstrip("/"),
        "--endpoint-type", "completions",
        "--streaming",
        "--api-key", "tuneops",
        "--tokenizer", tokenizer,
        # every request produces its full output, as genai-bench's D/N scenarios do
        "--extra-inputs", "ignore_eos:true",
        "--random-seed", str(seed),
        "--request-timeout-seconds", f"{REQUEST_TIMEOUT_S:g}",
        "--ui-type", "none", "--no-server-metrics", "--no-gpu-telemetry", "--no-auto-plot",
        "--artifact-dir", str(Path(out_dir).resolve()),
    ]
    for key, value in sorted(exp.benchmark.additional_request_params.items()):
        cmd += ["--extra-inputs", f"{key}:{json.dumps(value)}"]
    return cmd


def build_command(exp: Experiment, base_url: str, out_dir: str | os.PathLike, *,
                  scenario: str, rate: float, aiperf: str, tokenizer: str,
                  seed: int = 0) -> list[str]:
    """The `aiperf profile` argv measuring `scenario` at `rate` req/s against base_url."""
    load = exp.benchmark.load
    assert load is not None
    lengths = rate_scenario_lengths(scenario)
    assert lengths is not None, f"validate refuses {scenario!r} under benchmark.load"
    isl, isl_sd, osl, osl_sd = lengths
    cmd = [
        *_common_flags(exp, base_url, out_dir, aiperf=aiperf, tokenizer=tokenizer, seed=seed),
        "--request-rate", f"{rate:g}",
        *arrival_flags(load),
        "--isl", str(isl), "--isl-stddev", str(isl_sd),
        "--osl", str(osl), "--osl-stddev", str(osl_sd),
    ]
    if load.requests is not None:
        cmd += ["--request-count", str(load.requests)]
    else:
        cmd += ["--benchmark-duration", f"{load.duration_s:g}", "--benchmark-grace-period", "30"]
    return cmd


def write_schedule(rows: Sequence[TraceRow], path: str | os.PathLike) -> Path:
    """The trace as AIPerf's mooncake_trace JSONL (aiperf/dataset/loader/models.py,
    MooncakeTrace: `timestamp` in ms, `input_length` tokens of a synthetic prompt,
    `output_length` its max_tokens, aiperf/dataset/loader/mooncake_trace.py _build_turn).
    tuneops' traces count seconds; AIPerf's, milliseconds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(
        json.dumps({"timestamp": round(r.timestamp * 1000.0, 3), "input_length": r.input_tokens,
                    "output_length": r.output_tokens}) + "\n" for r in rows))
    return path


def build_trace_command(exp: Experiment, base_url: str, out_dir: str | os.PathLike, *,
                        schedule: str | os.PathLike, aiperf: str, tokenizer: str,
                        seed: int = 0) -> list[str]:
    """The `aiperf profile` argv replaying `schedule` (write_schedule's file) at its own
    timestamps: AIPerf's fixed schedule (--fixed-schedule, aiperf/config/flags/cli_config.py;
    the phase type FIXED_SCHEDULE, aiperf/config/flags/_converter_profiling.py
    _profiling_phase_type), each request at its timestamp from the first one
    (--fixed-schedule-auto-offset), whatever the server does."""
    return [
        *_common_flags(exp, base_url, out_dir, aiperf=aiperf, tokenizer=tokenizer, seed=seed),
        "--input-file", str(Path(schedule).resolve()),
        "--custom-dataset-type", "mooncake_trace",
        "--fixed-schedule", "--fixed-schedule-auto-offset",
    ]


def env(base: dict[str, str] | None = None) -> dict[str, str]:
    """AIPerf's environment. HF_HUB_OFFLINE is left unset: AIPerf 0.13.0 loads a tokenizer
    *folder* only outside offline mode (aiperf/common/tokenizer.py, _load_from_hub: offline,
    it asks the hub cache for the path as a repo id and fails), and a local path never
    touches the network (resolve_alias returns local paths as they are)."""
    out = dict(os.environ if base is None else base)
    for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        out.pop(key, None)
    out.update(HF_HUB_DISABLE_TELEMETRY="1", PYTHONUNBUFFERED="1",
               AIPERF_UI_REALTIME_METRICS_INTERVAL="0")
    return out


@dataclass
class Point:
    """One AIPerf run read back: tuneops metrics, per-request records, and whether the load
    generator kept up."""

    ok: bool
    metrics: dict[str, float] = field(default_factory=dict)
    records: dict[str, list[float]] = field(default_factory=dict)
    behind: str = ""  # why the generator fell behind ("" when it kept up)
    reason: str = ""  # why there are no metrics


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _agg(summary: dict[str, Any], tag: str, key: str = "avg") -> float | None:
    node = summary.get(tag)
    return _num(node.get(key)) if isinstance(node, dict) else None


def _metric(record: dict[str, Any], tag: str) -> float | None:
    node = (record.get("metrics") or {}).get(tag)
    return _num(node.get("value")) if isinstance(node, dict) else None


def _ms(record: dict[str, Any], tag: str) -> float | None:
    """A record's latency in ms, None when absent or in a unit not known to be time."""
    node = (record.get("metrics") or {}).get(tag)
    if not isinstance(node, dict) or node.get("unit") not in TO_MS:
        return None
    value = _num(node.get("value"))
    return None if value is None else value * TO_MS[node["unit"]]


def summary_metrics(summary: dict[str, Any], gpu_count: int = 1) -> dict[str, float]:
    """tuneops metrics from AIPerf's aggregate JSON (the statistics and throughputs)."""
    out: dict[str, float] = {}
    for name, tag in FIELDS.items():
        for stat, key in STATS.items():
            v = _agg(summary, tag, key)
            if v is not None:
                out[f"{name}.{stat}"] = v  # AIPerf's latencies are ms already
    for name, tag in THROUGHPUTS.items():
        v = _agg(summary, tag)
        if v is not None:
            out[name] = v
    for name, of in PER_GPU.items():
        if of in out:
            out[name] = out[of] / max(int(gpu_count), 1)
    duration = _agg(summary, "benchmark_duration")
    if duration is not None:
        out["run_duration_s"] = duration
    return out


def request_records(records: list[dict[str, Any]]) -> dict[str, list[float]]:
    """Every successful request's latencies (ms) and output speed, in tuneops' field names
    (output_latency is end-to-end minus TTFT, as genai-bench defines it)."""
    out: dict[str, list[float]] = {name: [] for name in (*LATENCIES, SPEED)}
    for rec in records:
        if rec.get("error"):
            continue
        for name, tag in FIELDS.items():
            v = _metric(rec, tag)
            if v is not None:
                out[name].append(v)
        e2e, ttft = _metric(rec, "request_latency"), _metric(rec, "time_to_first_token")
        if e2e is not None and ttft is not None:
            out["output_latency"].append(e2e - ttft)
    return {k: v for k, v in out.items() if v}


def _profiling(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The profiling phase's records (a warm-up request is no measurement)."""
    return [r for r in records
            if (r.get("metadata") or {}).get("benchmark_phase", "profiling") == "profiling"]


def goodput_records(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every request as tuneops/metrics/goodput.py judges it: failed or not, its own TTFT,
    TPOT and end-to-end latency in ms, and its output tokens. A failed request stays in
    (it is sent load that was not good); a latency AIPerf did not record stays out, and
    goodput counts such a request as not good."""
    out = []
    for rec in _profiling(records):
        row: dict[str, Any] = {FAILED: bool(rec.get("error"))}
        for name in REQUEST_SLO_FIELDS:
            v = _ms(rec, FIELDS[name])
            if v is not None:
                row[name] = v
        n = _metric(rec, OUTPUT_LENGTH)
        if n is not None:
            row[OUTPUT_TOKENS] = n
        out.append(row)
    return out


def sends(records: list[dict[str, Any]]) -> list[float]:
    """Send times (s, sorted) of the profiling phase's requests."""
    out = []
    for rec in records:
        meta = rec.get("metadata") or {}
        if meta.get("benchmark_phase", "profiling") != "profiling":
            continue
        start = _num(meta.get("request_start_ns"))
        if start is not None:
            out.append(start / 1e9)
    return sorted(out)


def lateness_ms(records: list[dict[str, Any]]) -> list[float]:
    """Per request, how long after the schedule released it a worker sent it (ms): AIPerf's
    credit_to_start_latency, request_start_ns - credit_issued_ns
    (aiperf/metrics/derived_latency.py), from each record's metadata."""
    out = []
    for rec in records:
        meta = rec.get("metadata") or {}
        start, issued = _num(meta.get("request_start_ns")), _num(meta.get("credit_issued_ns"))
        if start is not None and issued is not None:
            out.append((start - issued) / 1e6)
    return out


def achieved_rate(send_times: list[float]) -> float | None:
    """Requests per second the generator really sent: (n - 1) gaps over their span."""
    if len(send_times) < 2 or send_times[-1] <= send_times[0]:
        return None
    return (len(send_times) - 1) / (send_times[-1] - send_times[0])


def shortfall_tolerance(load: Load, sent: int) -> float:
    """How far below the offered rate the achieved rate may fall by the arrival process's
    own randomness: RATE_SIGMAS standard errors of a rate estimated from `sent` gaps (gamma
    gaps of shape k have a coefficient of variation 1/sqrt(k); Poisson 1; constant 0)."""
    cv = {Arrival.CONSTANT: 0.0, Arrival.POISSON: 1.0}.get(
        load.arrival, 1.0 / math.sqrt(load.burstiness or 1.0))
    return max(RATE_FLOOR, RATE_SIGMAS * cv / math.sqrt(max(sent - 1, 1)))


def fell_behind(load: Load, offered: float, send_times: list[float],
                late_ms: list[float]) -> str:
    """Why the load generator did not offer the rate asked for ("" when it did)."""
    got = achieved_rate(send_times)
    if got is not None:
        tol = shortfall_tolerance(load, len(send_times))
        if got < offered * (1.0 - tol):
            return (f"the load generator sent {got:.3g} req/s of the {offered:g} offered "
                    f"(more than {tol:.0%} short)")
    if late_ms:
        limit = max(LATE_SEND_MS, LATE_GAP_SHARE * 1000.0 / offered)
        late = sum(v > limit for v in late_ms) / len(late_ms)
        if late > LATE_SHARE:
            return (f"{late:.0%} of the sends were more than {limit:g} ms behind their "
                    "schedule")
    return ""


def read_point(folder: str | os.PathLike, load: Load, offered: float, *,
               gpu_count: int = 1, request_slos: Sequence[RequestSlo] = ()) -> Point:
    """AIPerf's result files in `folder` → one Point; never raises on bad files. With
    per-request SLOs, its goodput too, over AIPerf's own benchmark_duration (the
    denominator of AIPerf's goodput, aiperf/metrics/types/goodput_metric.py)."""
    folder = Path(folder)
    try:
        summary = json.loads((folder / SUMMARY).read_text())
        lines = (folder / RECORDS).read_text().splitlines()
        records = [json.loads(line) for line in lines if line.strip()]
    except (OSError, ValueError) as e:
        return Point(ok=False, reason=f"no readable AIPerf results in {folder} "
                                      f"({type(e).__name__}: {e})")
    if not isinstance(summary, dict) or not all(isinstance(r, dict) for r in records):
        return Point(ok=False, reason=f"AIPerf results in {folder} are not what 0.13.0 writes")
    metrics = summary_metrics(summary, gpu_count)
    errors = sum(1 for r in records if r.get("error"))
    done = len(records) - errors
    metrics.update(num_requests=float(len(records)), num_completed_requests=float(done),
                   num_error_requests=float(errors))
    metrics[ERROR_RATE] = errors / len(records) if records else 1.0
    metrics.update(goodput(goodput_records(records), request_slos,
                           metrics.get("run_duration_s")))
    send_times = sends(records)
    metrics[OFFERED_RATE] = offered
    got = achieved_rate(send_times)
    if got is not None:
        metrics[ACHIEVED_RATE] = got
    late = lateness_ms(records)
    point = Point(ok=done > 0, metrics=metrics, records=request_records(records),
                  behind=fell_behind(load, offered, send_times, late))
    if not point.ok:
        point.reason = "every request errored" if records else "AIPerf recorded no request"
    return point
