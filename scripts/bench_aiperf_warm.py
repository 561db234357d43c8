#!/usr/bin/env python3
"""What one offered rate costs beyond its own sending: the `aiperf` CLI per rate (before)
against a fork of the run's warm AIPerf parent (after, runner/loadgen/warm.py).

Starts the simulator, then measures one Poisson rate through the rate runner
(runner/loadgen/rate.py, exactly as a trial does) `--runs` times each way, interleaved so
both see the same machine, with the same seed per pair (the same arrivals). Per point:
  wall        the rate runner's own duration for the point
  profiling   AIPerf's own elapsed time of its profiling phase (its log's "Phase profiling
              ... complete | ... elapsed=" line): the sending and the last replies
  overhead    wall - profiling: start-up, imports, tokenizer, dataset, exports, teardown
and whether both ways wrote the same files and the same prompts (inputs.json, same seed);
and the phases from AIPerf's log timestamps (seconds after the point started): its first
log line, services configuring, tokenizers initialized, configured (dataset ready),
profiling done. Prints medians and spread, the warm parent's one-off import time, and the
host load (`uptime`); asserts nothing (the figures depend on the machine's load).

Usage: python scripts/bench_aiperf_warm.py [--runs N] [--rate R] [--requests N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tuneops.runner.loadgen import aiperf, rate, venv  # noqa: E402
from tuneops.runner.loadgen.warm import WarmPool  # noqa: E402

from tests.sim_helpers import SimServer, make_catalog, sim_env  # noqa: E402
from tuneops import spec  # noqa: E402

TOKENIZER = ROOT / "assets" / "tokenizer"
# (name, what AIPerf's log says when the phase is reached)
PHASES = [("first log", "Starting AIPerf System"),
          ("configuring", "AIPerf System is CONFIGURING"),
          ("tokenizers", "Initialized tokenizers"),
          ("configured", "AIPerf System is CONFIGURED"),
          ("profiled", "Phase profiling (profiling) complete")]
ELAPSED = re.compile(r"Phase profiling \(profiling\) complete .*elapsed=([0-9.]+)s")


def load() -> str:
    try:
        return "load average " + " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "load average n/a"


def experiment(offered: float, requests: int) -> spec.Experiment:
    return spec.from_document({
        "apiVersion": "tuneops/v1", "kind": "Experiment", "metadata": {"name": "warm-bench"},
        "model": {"id": "meta-llama/Llama-3.1-8B", "servedName": "llama-3.1-8b",
                  "tokenizer": str(TOKENIZER)},
        "engine": {"name": "sim", "version": "0.5.23"},
        "deployment": {"mode": "local", "gpus": {"count": 1, "type": "H100"}},
        "benchmark": {"trafficScenarios": ["D(50,50)"],
                      "load": {"type": "rate", "rates": [offered], "arrival": "poisson",
                               "requests": requests}},
        "objective": {"metric": "output_throughput"},
    })


def phases(folder: Path, t0: float) -> dict[str, float]:
    """Seconds from the point's start to each phase, from AIPerf's own log."""
    out: dict[str, float] = {}
    try:
        lines = (folder / "logs" / aiperf.LOG_FILE).read_text().splitlines()
    except OSError:
        return out
    for name, marker in PHASES:
        for line in lines:
            if marker in line:
                at = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S.%f").timestamp()
                out[name] = at - t0
                break
    for line in lines:
        m = ELAPSED.search(line)
        if m:
            out["profiling"] = float(m.group(1))
    return out


def same_run(cli: Path, warm: Path) -> bool:
    """The same seed gave the same AIPerf run both ways: the same result files, and the
    prompts it generated (its inputs.json) byte for byte."""
    a, b = next(cli.glob("aiperf-*")), next(warm.glob("aiperf-*"))
    files = {p.name for p in a.iterdir()} == {p.name for p in b.iterdir()}
    return files and (a / "inputs.json").read_bytes() == (b / "inputs.json").read_bytes()


def one(exp: spec.Experiment, base: str, out: Path, warm: WarmPool | None) -> dict[str, float]:
    t0 = time.time()
    outcome = rate.run(exp, base, out, gpu_count=1, warm=warm)
    if not outcome.ok:
        raise SystemExit(f"the point failed: {outcome.reason} {outcome.not_run}")
    row = phases(Path(outcome.files[0]).parent, t0)
    row["wall"] = outcome.duration_s
    row["overhead"] = row["wall"] - row.get("profiling", float("nan"))
    return row


def spread(xs: list[float]) -> str:
    xs = [x for x in xs if x == x]
    if not xs:
        return "n/a"
    sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
    return (f"median {statistics.median(xs):6.2f}  sd {sd:5.2f}  min {min(xs):6.2f}  "
            f"max {max(xs):6.2f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--rate", type=float, default=20.0)
    ap.add_argument("--requests", type=int, default=100)
    ap.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = ap.parse_args(argv)
    if not venv.ready():
        print(f"skipped: {venv.missing_message()}")
        return 0
    work = args.keep or Path(tempfile.mkdtemp(prefix="tuneops-bench-aiperf-warm-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {load()} at start; {args.runs} runs each way of {args.requests} Poisson "
          f"requests at {args.rate:g} req/s on the simulator; work dir {work}")
    rows: dict[str, list[dict[str, float]]] = {"cli": [], "warm": []}
    env = sim_env(make_catalog(work / "sglang.json"), TOKENIZER)
    with SimServer(["--model-path", "meta-llama/Llama-3.1-8B", "--served-model-name",
                    "llama-3.1-8b", "--gpu-type", "H100"], env, work / "sim.log") as srv, \
            WarmPool(1, work, python=venv.path() / "bin" / "python", env=aiperf.env()) as pool:
        srv.wait_healthy()
        t = time.monotonic()
        with pool.lease() as parent:
            ready = parent.wait_ready()
        print(f"warm parent: ready after {time.monotonic() - t:.1f}s "
              f"({ready['modules']} modules imported in {ready['import_s']:.1f}s), once per run")
        for i in range(args.runs):
            for mode in ("cli", "warm"):
                exp_i = experiment(args.rate, args.requests)
                row = one(exp_i, srv.base, work / f"{mode}-{i}",
                          pool if mode == "warm" else None)
                rows[mode].append(row)
                print(f"  {mode:<5} run {i + 1}: wall {row['wall']:6.2f}s  profiling "
                      f"{row.get('profiling', float('nan')):5.2f}s  overhead "
                      f"{row['overhead']:6.2f}s  ({load()})", flush=True)
    print(f"\n== per point, {args.runs} runs each ({load()} at end)")
    for mode, label in (("cli", "before: `aiperf` CLI per rate"),
                        ("warm", "after: forked by the warm parent")):
        print(f"-- {label}")
        for key in ("overhead", "wall", "profiling", *(n for n, _ in PHASES)):
            print(f"  {key:<12} {spread([r.get(key, float('nan')) for r in rows[mode]])}")
    same = sum(same_run(work / f"cli-{i}", work / f"warm-{i}") for i in range(args.runs))
    print(f"\nsame files and byte-identical prompts (inputs.json) both ways: {same} of "
          f"{args.runs} pairs")
    before = statistics.median(r["overhead"] for r in rows["cli"])
    after = statistics.median(r["overhead"] for r in rows["warm"])
    print(f"\nfixed cost per rate: {before:.2f}s -> {after:.2f}s (median), "
          f"{before - after:.2f}s saved per rate ({1 - after / before:.0%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
