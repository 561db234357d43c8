#!/usr/bin/env python3
"""Where a trial's time goes, and the quickstart's share of wall time spent measuring.

Runs the quickstart (experiments/examples/quickstart.yaml: a real llama.cpp server on this
CPU) twice, one run after the other, so both see the same machine:
- before: genai-bench's CLI, one `genai-bench benchmark` process per trial (every level,
  xlsx and plots written, start-up paid every trial);
- after: the long-lived genai-bench worker (start-up paid once per run, no xlsx/plots,
  levels above a lost SLO not run).
Each trial is broken down from the durations results.json carries:
  engine start-up   startup_s
  warm-up           warmup_s
  measurement       the sum of genai-bench's run_duration over the levels it measured
  load generator    benchmark_s - measurement (process start, imports, tokenizer, drains
                    between levels, writing files; the worker's start shows in the first
                    trial of a run only)
  runner            total_s - startup_s - warmup_s - benchmark_s (launch, stop, score)
Then checks the issue's targets and prints PASS/MISS; asserts nothing. Figures depend on
the machine's load, printed with them (`uptime`).

Usage: python scripts/bench_trial_cost.py [--exp EXP] [--only before|after] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tuneops.runner.run import RunOptions, run_experiment  # noqa: E402

from tuneops.validate import load_experiment  # noqa: E402

# The committed quickstart report this issue started from (genai-bench CLI, quiet machine).
BASELINE_WALL_S = 3 * 60 + 55
TARGET_LOADGEN_S = 2.0
TARGET_SHARE = 0.75


def load() -> str:
    try:
        return "load average " + " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "load average n/a"


def breakdown(result) -> dict:
    measured = requests = 0.0
    for by_level in result.metrics.values():
        for values in by_level.values():
            measured += values.get("run_duration_s", 0.0)
            requests += values.get("num_requests", 0.0)
    runner = result.total_s - result.startup_s - result.warmup_s - result.benchmark_s
    return {"trial": result.trial_id, "status": result.status, "start": result.startup_s,
            "warm": result.warmup_s, "measure": measured,
            "loadgen": result.benchmark_s - measured, "runner": runner,
            "total": result.total_s, "requests": requests, "not_run": len(result.not_run)}


def spread(xs: list[float]) -> str:
    if not xs:
        return "n/a"
    sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
    return (f"median {statistics.median(xs):6.2f}  mean {statistics.mean(xs):6.2f}  "
            f"sd {sd:5.2f}  min {min(xs):6.2f}  max {max(xs):6.2f}")


def measure(exp_path: Path, work: Path, mode: str) -> dict:
    exp = load_experiment(exp_path)
    before = load()
    t0 = time.monotonic()
    summary = run_experiment(exp, RunOptions(
        runs_root=work / mode / "runs", reports_root=work / mode / "reports", quiet=True,
        fresh=True, load_generator="worker" if mode == "after" else "cli"))
    wall = time.monotonic() - t0
    rows = [breakdown(r) for r in sorted(summary.results, key=lambda r: r.started_at)]
    return {"mode": mode, "wall": wall, "rows": rows, "load_before": before, "load_after": load(),
            "report": summary.report_dir}


def show(m: dict) -> None:
    rows = m["rows"]
    print(f"\n== {m['mode']} ({'genai-bench CLI per trial' if m['mode'] == 'before' else 'worker'})"
          f": wall {m['wall']:.1f}s for {len(rows)} trial(s); {m['load_before']} at start, "
          f"{m['load_after']} at end")
    print("  trial         status      start   warm  measure  loadgen  runner   total  "
          "requests  levels-not-run")
    for r in rows:
        print(f"  {r['trial']}  {r['status']:<10} {r['start']:6.2f} {r['warm']:6.2f} "
              f"{r['measure']:8.2f} {r['loadgen']:8.2f} {r['runner']:7.2f} {r['total']:7.2f} "
              f"{r['requests']:9.0f}  {r['not_run']}")
    for key, label in (("start", "engine start-up"), ("warm", "warm-up"),
                       ("measure", "measurement"), ("loadgen", "load generator"),
                       ("runner", "runner"), ("total", "trial wall")):
        print(f"  {label:<16} {spread([r[key] for r in rows])}")
    if len(rows) > 1:
        print(f"  load generator, trials after the first: "
              f"{spread([r['loadgen'] for r in rows[1:]])}")
    total = sum(r["total"] for r in rows)
    measuring = sum(r["measure"] for r in rows)
    print(f"  measuring: {measuring:.1f}s = {measuring / max(total, 1e-9):.0%} of trial wall "
          f"time, {measuring / m['wall']:.0%} of the run's wall time; "
          f"{sum(r['requests'] for r in rows):.0f} requests measured")


def targets(before: dict | None, after: dict) -> None:
    rows = after["rows"]
    per_trial = [r["loadgen"] for r in rows[1:]] or [r["loadgen"] for r in rows]
    once = rows[0]["loadgen"] - statistics.median(per_trial) if len(rows) > 1 else 0.0
    share = sum(r["measure"] for r in rows) / max(sum(r["total"] for r in rows), 1e-9)
    half = BASELINE_WALL_S / 2
    req_after = sum(r["requests"] for r in rows)

    def line(ok: bool, text: str) -> None:
        print(f"  {'PASS' if ok else 'MISS'}  {text}")

    print("\n== targets (quiet-machine targets; these figures are from this machine now: "
          f"{load()})")
    before_lg = spread([r["loadgen"] for r in before["rows"]]) if before else "not measured"
    line(statistics.median(per_trial) <= TARGET_LOADGEN_S,
         f"load-generator fixed overhead <= {TARGET_LOADGEN_S:.0f}s per trial: median "
         f"{statistics.median(per_trial):.2f}s (after); the worker's start, once per run, "
         f"added {once:.1f}s to the first trial; before: {before_lg}")
    if before:
        req_before = sum(r["requests"] for r in before["rows"])
        line(after["wall"] <= before["wall"] / 2 and req_after >= req_before,
             f"wall time <= half of before, same requests or more: {after['wall']:.0f}s vs "
             f"{before['wall']:.0f}s measured now (ratio {after['wall'] / before['wall']:.2f});"
             f" requests {req_after:.0f} vs {req_before:.0f}")
    line(after["wall"] <= half,
         f"wall time <= half of the committed report's {BASELINE_WALL_S}s ({half:.0f}s): "
         f"{after['wall']:.0f}s")
    line(share >= TARGET_SHARE,
         f">= {TARGET_SHARE:.0%} of trial wall time measuring: {share:.0%}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--exp", type=Path, default=ROOT / "experiments/examples/quickstart.yaml")
    ap.add_argument("--only", choices=("before", "after"))
    ap.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = ap.parse_args(argv)
    work = args.keep or Path(tempfile.mkdtemp(prefix="tuneops-bench-trial-cost-"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TUNEOPS_RUNTIME_DIR", str(work / "runtime"))
    print(f"machine: {os.cpu_count()} CPU(s), {load()}; experiment {args.exp}; work dir {work}")
    before = measure(args.exp, work, "before") if args.only != "after" else None
    if before:
        show(before)
    if args.only == "before":
        return 0
    after = measure(args.exp, work, "after")
    show(after)
    targets(before, after)
    return 0


if __name__ == "__main__":
    sys.exit(main())
