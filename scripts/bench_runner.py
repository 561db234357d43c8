#!/usr/bin/env python3
"""How much time the runner itself adds, and how much parallel trials save.

Runs a sim grid for real (simulator + genai-bench, local backend) twice: serially and with
``parallelTrials: 2`` on two simulated GPUs. Prints figures, asserts nothing.

(a) Runner overhead per trial = total_s − startup_s − benchmark_s − warm-up, read from the
    TrialResults (the same durations results.json carries); warm-up (a few requests the
    runner sends itself) is timed separately by wrapping ``runner.bench.warmup``. Also the
    time spent between trials (journal, search, scheduling) and writing the report.
(b) Wall time serial vs parallel, their ratio, and the CPU the run's child processes
    (engines + genai-bench) used, which is what limits the speed-up on a small machine.

Usage: ``python scripts/bench_runner.py [--trials 8] [--requests 6] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tuneops.runner import bench  # noqa: E402
from tuneops.runner import run as run_module  # noqa: E402
from tuneops.runner.results import COMPLETED  # noqa: E402
from tuneops.runner.run import RunOptions, run_experiment  # noqa: E402

from tuneops.validate import load_experiment  # noqa: E402

GRID = {  # 8 points; the first `--trials` are kept
    "max-running-requests": [8, 16, 32, 64],
    "mem-fraction-static": [0.6, 0.8],
}


def experiment(folder: Path, name: str, trials: int, requests: int, parallel: int) -> Path:
    values = GRID["max-running-requests"]
    per = max(1, min(len(values), trials))
    params = {"max-running-requests": values[:per]}
    if trials > per:
        params["mem-fraction-static"] = GRID["mem-fraction-static"][: -(-trials // per)]
    doc = {
        "apiVersion": "tuneops/v1", "kind": "Experiment", "metadata": {"name": name},
        "model": {"id": "meta-llama/Llama-3.2-1B", "servedName": "llama-3.2-1b",
                  "tokenizer": "assets/tokenizer",
                  "architecture": {"layers": 16, "attentionHeads": 32, "kvHeads": 8,
                                   "hiddenSize": 2048, "parameters": 1.24e9}},
        "engine": {"name": "sim", "version": "0.5.23",
                   "args": {"gpu-type": "H100", "time-scale": 0.01}},
        "deployment": {"mode": "local", "gpus": {"count": 1, "type": "H100"},
                       "startupTimeout": 60},
        "parameters": params,
        "benchmark": {"task": "text-to-text", "trafficScenarios": ["D(32,32)"],
                      "concurrency": [2], "maxTimePerRun": 1, "maxRequestsPerRun": requests,
                      "warmupRequests": 1},
        "objective": {"metric": "output_throughput_per_gpu", "direction": "maximize"},
        "search": {"method": "grid", "seed": 1, "maxTrials": trials, "parallelTrials": parallel},
    }
    path = folder / f"{name}.yaml"
    path.write_text(json.dumps(doc, indent=2))
    return path


class Timed:
    """Wraps a function and keeps how long each call took (by trial thread, unordered)."""

    def __init__(self, fn):
        self.fn, self.calls = fn, []

    def __call__(self, *args, **kwargs):
        t0 = time.monotonic()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.calls.append(time.monotonic() - t0)


def children_cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def measure(work: Path, name: str, trials: int, requests: int, parallel: int) -> dict:
    exp = load_experiment(experiment(work, name, trials, requests, parallel))
    warmup, report = Timed(bench.warmup), Timed(run_module.write_report)
    bench.warmup, run_module.write_report = warmup, report  # instrumentation only
    cpu0, self0 = children_cpu_s(), time.process_time()
    try:
        summary = run_experiment(exp, RunOptions(
            runs_root=work / "runs", reports_root=work / "reports", quiet=True, fresh=True))
    finally:
        bench.warmup, run_module.write_report = warmup.fn, report.fn
    results = sorted(summary.results, key=lambda r: r.index)  # run order, when serial
    in_trial = [r.total_s - r.startup_s - r.benchmark_s for r in results]
    # Serial trials warm up in run order, so each warm-up pairs with its trial; in parallel
    # only the totals pair.
    paired = parallel == 1 and len(warmup.calls) == len(results)
    overhead = [t - w for t, w in zip(in_trial, warmup.calls, strict=True)] if paired else []
    return {
        "name": name, "parallel": parallel, "wall_s": summary.wall_s, "results": results,
        "completed": sum(r.status == COMPLETED for r in results),
        "startup": [r.startup_s for r in results], "bench": [r.benchmark_s for r in results],
        "total": [r.total_s for r in results], "warmup": warmup.calls, "in_trial": in_trial,
        "overhead": overhead,
        "report_s": sum(report.calls),
        "children_cpu_s": children_cpu_s() - cpu0, "runner_cpu_s": time.process_time() - self0,
    }


def _stats(xs: list[float]) -> str:
    if not xs:
        return "n/a"
    return (f"mean {statistics.mean(xs):7.3f}  median {statistics.median(xs):7.3f}  "
            f"max {max(xs):7.3f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=8, help="grid size (1-8)")
    ap.add_argument("--requests", type=int, default=6, help="genai-bench maxRequestsPerRun")
    ap.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = ap.parse_args(argv)
    trials = max(1, min(args.trials, 8))
    work = args.keep or Path(tempfile.mkdtemp(prefix="tuneops-bench-runner-"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TUNEOPS_RUNTIME_DIR", str(work / "runtime"))
    print(f"machine: {os.cpu_count()} CPU(s); grid of {trials} sim trial(s), D(32,32) at "
          f"concurrency 2, {args.requests} requests, time-scale 0.01; work dir {work}")

    runs = []
    for parallel in (1, 2):
        t0 = time.monotonic()
        m = measure(work, f"bench-runner-p{parallel}", trials, args.requests, parallel)
        runs.append(m)
        print(f"  parallelTrials={parallel}: {m['completed']}/{len(m['results'])} completed "
              f"in {time.monotonic() - t0:.1f}s", flush=True)

    serial, par = runs
    print("\n(a) per-trial durations, serial run (seconds)")
    print(f"  engine start-up (startup_s)      {_stats(serial['startup'])}")
    print(f"  genai-bench (benchmark_s)        {_stats(serial['bench'])}")
    print(f"  warm-up requests                 {_stats(serial['warmup'])}")
    print(f"  trial wall (total_s)             {_stats(serial['total'])}")
    print(f"  runner overhead in a trial       {_stats(serial['overhead'])}   (target < 1 s)")
    print("    = total_s - startup_s - benchmark_s - warm-up: launch building, stopping the "
          "engine, scoring")
    print(f"  same, warm-up included           {_stats(serial['in_trial'])}")
    between = serial["wall_s"] - sum(serial["total"]) - serial["report_s"]
    n = len(serial["results"])
    print(f"  between trials (journal, search, scheduling): {between:.3f}s in all, "
          f"{between / max(n, 1):.3f}s per trial")
    print(f"  report (results.json, report.md, plots): {serial['report_s']:.2f}s once per run")
    print(f"  runner process CPU: {serial['runner_cpu_s']:.1f}s for {n} trial(s)")

    print("\n(b) serial vs parallelTrials: 2 on 2 simulated GPUs")
    for m in runs:
        cpu = m["children_cpu_s"]
        print(f"  parallel={m['parallel']}: wall {m['wall_s']:7.1f}s; child processes "
              f"(engines + genai-bench) used {cpu:6.1f} CPU-s = {cpu / m['wall_s']:.2f} "
              f"of {os.cpu_count()} cores on average; "
              f"mean trial {statistics.mean(m['total']):.1f}s")
    ratio = par["wall_s"] / serial["wall_s"]
    print(f"  ratio parallel/serial: {ratio:.2f}  (ideal 0.50)")
    print(f"  mean genai-bench time per trial: serial {statistics.mean(serial['bench']):.1f}s, "
          f"parallel {statistics.mean(par['bench']):.1f}s (slower when two share the CPUs)")
    if not args.keep:
        print(f"\n(work dir {work} left for inspection; delete it when done)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
