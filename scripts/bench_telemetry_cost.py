#!/usr/bin/env python3
"""What scraping the engine's /metrics costs the engine it measures (llama.cpp on this CPU).

Runs one point of the quickstart (experiments/examples/quickstart.yaml: a real llama.cpp
server pinned to its core, genai-bench on the other) as a one-trial experiment, in arms
interleaved round by round so every arm sees the same machine noise:
- off: no scraping at all (the trial's measuring context is replaced by one that scrapes
  nothing);
- unpinned: scraping with the scraping thread left wherever the kernel puts it (as before
  it ran on the load generator's cores);
- on: scraping as the runner does it (runner/telemetry/measure.py: from the load
  generator's cores).
- baseline (with --baseline-site DIR): the same point measured by another tuneops, e.g. an
  earlier commit (`git archive C | tar -x -C /tmp/c && pip install --no-deps --target DIR
  /tmp/c`, plus a sitecustomize.py there that drops the editable install's finder): did
  the code change the number, on this machine, now?
Each sample is a fresh process and a fresh run (every repeat on a fresh engine). Prints, per
arm, the objective (output_throughput at the objective's concurrency) of every sample as
mean ± sd, min-max, and the load average before each sample (`uptime`'s figures); asserts
nothing. The machine is shared: read the spread, not one number.

Then (--cpu-scrapes N, default 400) the cost of one scrape in CPU time, which a loaded
machine does not blur the way it blurs throughput: the quickstart's engine (pinned to one
core, idle) is scraped N times by the runner's own fetch and parser, against N equal waits
without a scrape, and the engine's CPU time (/proc/<pid>/stat, all its threads) and the
scraping thread's (time.thread_time) are compared.

Usage: python scripts/bench_telemetry_cost.py [--rounds 3] [--arms off,unpinned,on]
       [--point P=V ...] [--cpu-scrapes N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "experiments" / "examples" / "quickstart.yaml"
ARMS = ("off", "unpinned", "on", "baseline")


def load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def one_point(text: str, point: dict[str, str]) -> str:
    """The quickstart narrowed to one grid point, without the confirmation round."""
    out = []
    for line in text.splitlines():
        key = line.strip().split(":", 1)[0]
        if line.startswith("  ") and key in point and line.strip().startswith(f"{key}: ["):
            line = f"  {key}: [{point[key]}]"
        if line.startswith("  id: .cache/"):  # absolute: a baseline sample runs elsewhere
            line = f"  id: {ROOT / line.split()[1]}"
        if line.startswith("  tokenizer: assets/"):
            line = f"  tokenizer: {ROOT / line.split()[1]}"
        if line.strip().startswith("confirm:"):
            continue
        out.append(line)
    return "\n".join(out) + "\n"


@contextmanager
def _no_scrape(*_a, **_k):
    class _Nothing:
        def summary(self, _outcome):
            return {"not_scraped": "scraping switched off (bench_telemetry_cost off arm)"}
    yield _Nothing()


def sample(arm: str, exp_path: Path, work: Path) -> dict:
    """One run of `exp_path` in this process, with the arm's scraping."""
    if arm != "baseline":  # the baseline's tuneops comes from its PYTHONPATH
        sys.path.insert(0, str(ROOT))
    from tuneops.runner import trial
    from tuneops.runner.run import RunOptions, run_experiment

    from tuneops.validate import load_experiment

    if arm == "off":
        trial.measuring = _no_scrape
    elif arm == "unpinned":
        scraping = trial.measuring
        trial.measuring = lambda *a, cpus=(), **k: scraping(*a, **k)
    exp = load_experiment(exp_path)
    summary = run_experiment(exp, RunOptions(runs_root=work / "runs",
                                             reports_root=work / "reports",
                                             quiet=True, fresh=True))
    c = exp.objective.concurrency
    values, scrapes = [], []
    for r in summary.results:
        for by_c in (r.samples or {}).values():
            for v in by_c.get(c, by_c.get(str(c), [])):
                values.append(v["output_throughput"])
        scrapes += [t.get("scrapes", 0) for t in (getattr(r, "telemetry", None) or [])]
    return {"values": values, "scrapes": scrapes}


def _engine_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def scrape_cpu(n: int, rounds: int = 3) -> None:
    """CPU ms per scrape of an idle quickstart engine: the engine's and the scraper's."""
    import socket
    import time
    import urllib.request

    sys.path.insert(0, str(ROOT))
    from tuneops.runner.telemetry.scrape import fetch
    from tuneops.runner.telemetry.series import mapping, read

    from tuneops.registry import engines

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    model = ROOT / ".cache" / "models" / "tuneops-llama-small-q8_0-s0.gguf"
    cores = sorted(os.sched_getaffinity(0))
    engine = subprocess.Popen(
        ["taskset", "-c", str(cores[0]), sys.executable, "-m", "tuneops.engines.llamacpp",
         "--model", str(model), "--host", "127.0.0.1", "--port", str(port), "--ctx-size",
         "2048", "--threads", "1", "--no-warmup"], cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(base + "/health", timeout=1).read()  # noqa: S310
                break
            except OSError:
                time.sleep(0.1)
        m = mapping(engines()["llamacpp"].metrics, "llamacpp")
        per: dict[str, list[tuple[float, float]]] = {"wait": [], "scrape": []}
        for _ in range(rounds):
            for arm in per:
                e0, t0 = _engine_cpu_s(engine.pid), time.thread_time()
                for _ in range(n):
                    if arm == "scrape":
                        read(fetch(base + m.path), m)
                    time.sleep(0.01)
                per[arm].append(((_engine_cpu_s(engine.pid) - e0) / n * 1e3,
                                 (time.thread_time() - t0) / n * 1e3))
    finally:
        engine.terminate()
        engine.wait(10)
    print(f"\nCPU per scrape ({n} scrapes x {rounds} rounds; load {load()}):")
    for arm, xs in per.items():
        print(f"  {arm:>6}: engine {statistics.mean(x[0] for x in xs):.3f} ms, scraping thread "
              f"{statistics.mean(x[1] for x in xs):.3f} ms per iteration "
              f"(rounds: {', '.join(f'{a:.3f}/{b:.3f}' for a, b in xs)})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--arms", default=",".join(ARMS))
    ap.add_argument("--point", nargs="*", default=["parallel=1", "batch-size=512"])
    ap.add_argument("--cpu-scrapes", type=int, default=400)
    ap.add_argument("--baseline-site", type=Path,
                    help="another tuneops install (pip --target): adds the baseline arm")
    ap.add_argument("--sample", choices=ARMS, help=argparse.SUPPRESS)
    ap.add_argument("--exp", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.sample:  # a child: one sample, its figures as one JSON line
        print(json.dumps(sample(args.sample, args.exp, args.work)))
        return 0
    arms = [a for a in args.arms.split(",") if a and (a != "baseline" or args.baseline_site)]
    work = Path(tempfile.mkdtemp(prefix="tuneops-bench-telemetry-"))
    exp = work / "point.yaml"
    exp.write_text(one_point(QUICKSTART.read_text(),
                             dict(p.split("=", 1) for p in args.point)))
    env = {**os.environ, "TUNEOPS_RUNTIME_DIR": str(work / "runtime")}
    print(f"machine: {os.cpu_count()} CPU(s), load {load()}; point {args.point}; work {work}")
    got: dict[str, list[tuple[float, str]]] = {a: [] for a in arms}
    for rnd in range(args.rounds):
        for arm in (arms if rnd % 2 == 0 else arms[::-1]):  # ABBA: no arm always goes first
            before = load()
            base = arm == "baseline"
            proc = subprocess.run([sys.executable, __file__, "--sample", arm, "--exp", str(exp),
                                   "--work", str(work / f"{arm}-{rnd}")],
                                  env={**env, "PYTHONPATH": str(args.baseline_site)} if base
                                  else env, cwd=work if base else ROOT,
                                  capture_output=True, text=True, timeout=900)
            if proc.returncode:
                print(f"round {rnd} {arm}: failed\n{proc.stderr[-2000:]}")
                continue
            res = json.loads(proc.stdout.strip().splitlines()[-1])
            mean = statistics.mean(res["values"]) if res["values"] else float("nan")
            got[arm].append((mean, before))
            print(f"round {rnd} {arm:>8}: {mean:7.1f} tok/s  (repeats "
                  f"{', '.join(f'{v:.1f}' for v in res['values'])}; scrapes {res['scrapes']})"
                  f"  load before {before}", flush=True)
    print()
    for arm, xs in got.items():
        vals = [m for m, _ in xs]
        if not vals:
            continue
        sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
        print(f"{arm:>8}: {statistics.mean(vals):7.1f} ± {sd:5.1f} tok/s (sd, n={len(vals)}), "
              f"min {min(vals):.1f} max {max(vals):.1f}; load before: "
              f"{'; '.join(b for _, b in xs)}")
    if args.cpu_scrapes > 0:
        scrape_cpu(args.cpu_scrapes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
