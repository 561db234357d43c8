"""A request trace: JSONL, one request a line, {"timestamp": s, "input_tokens": n,
"output_tokens": n} (the shape of Azure's LLM inference traces and of the traces vLLM's
and AIPerf's replay modes read: arrival time, prompt and completion lengths).

Pure: returns the rows, or every bad row's line. Timestamps are seconds from any origin,
never decreasing. Replaying them needs an open-loop generator (arrivals whatever the
server does); a closed loop cannot honour them, so validate refuses a trace for it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from tuneops.workloads.problems import MAX_FILE_BYTES, MAX_PROBLEMS, Problem

FIELDS = ("timestamp", "input_tokens", "output_tokens")
MAX_TOKENS = 10_000_000
# a replay sends every row: AIPerf loads the whole trace into its dataset service before it
# starts (aiperf/dataset/loader/mooncake_trace.py), so a trace is capped like a run's requests
MAX_ROWS = 1_000_000


@dataclass(frozen=True)
class TraceRow:
    line: int
    timestamp: float  # s
    input_tokens: int
    output_tokens: int


def _row(line: int, text: str, last: float | None) -> tuple[TraceRow | None, str, str]:
    try:
        rec = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as e:
        return None, f"not JSON: {getattr(e, 'msg', e)}", "one JSON object a line"
    if not isinstance(rec, dict):
        return None, "a row is a JSON object", '{"timestamp": 0.5, "input_tokens": 512, ' \
                                                '"output_tokens": 128}'
    missing = [f for f in FIELDS if f not in rec]
    if missing:
        return None, f"missing {', '.join(missing)}", "every row has " + ", ".join(FIELDS)
    ts = rec["timestamp"]
    if isinstance(ts, bool) or not isinstance(ts, (int, float)) or not math.isfinite(ts) \
            or ts < 0:
        return None, f"timestamp {str(ts)[:40]!r} is not a number of seconds >= 0", ""
    if last is not None and ts < last:
        return None, f"timestamp {ts:g} is before the row above ({last:g})", \
            "rows in arrival order"
    sizes = []
    for f in ("input_tokens", "output_tokens"):
        v = rec[f]
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_TOKENS:
            return None, f"{f} {str(v)[:40]!r} is not a whole number of tokens from 1 to " \
                         f"{MAX_TOKENS:,}", ""
        sizes.append(v)
    return TraceRow(line, float(ts), sizes[0], sizes[1]), "", ""


def read_trace(path: str | Path) -> tuple[list[TraceRow], list[Problem]]:
    """Every row of the trace, or the problems at their lines (blank lines are skipped)."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return [], [Problem(1, f"larger than {MAX_FILE_BYTES >> 20} MiB")]
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        return [], [Problem(1, f"cannot read it: {e}")]
    rows: list[TraceRow] = []
    problems: list[Problem] = []
    for n, text in enumerate(lines, 1):
        if not text.strip():
            continue
        if len(rows) >= MAX_ROWS:
            problems.append(Problem(n, f"more than {MAX_ROWS:,} requests",
                                    "replay a window of the trace"))
            break
        row, why, hint = _row(n, text, rows[-1].timestamp if rows else None)
        if row is None:
            problems.append(Problem(n, why, hint))
            if len(problems) >= MAX_PROBLEMS:
                break
        else:
            rows.append(row)
    if not rows and not problems:
        problems.append(Problem(1, "no requests", "one JSON object a line"))
    return rows, problems


def mean_rate(rows: list[TraceRow]) -> float | None:
    """The rate a replay offers (req/s): the gaps between the rows over their span; None for
    fewer than two rows or a span of zero (every request at one instant has no rate)."""
    if len(rows) < 2 or rows[-1].timestamp <= rows[0].timestamp:
        return None
    return (len(rows) - 1) / (rows[-1].timestamp - rows[0].timestamp)


def span_s(rows: list[TraceRow]) -> float:
    """Seconds from the first request of the trace to its last."""
    return rows[-1].timestamp - rows[0].timestamp if rows else 0.0
