#!/usr/bin/env python3
"""Does genai-bench, on this machine, measure the timings the simulator models?

Runs the fidelity scenario of tests/engines/sim/test_sim_genai_bench.py (genai-bench, D(100,100),
concurrency 1 and 8, against the simulator) `--repeats` times and prints genai-bench's mean
TTFT and TPOT next to the simulator's modelled ones, with their ratio. The test checks what
does not depend on the clock; this prints the wall-clock agreement (it was asserted within
±10 %, which a loaded machine cannot promise). Prints figures, asserts nothing.

Usage: python scripts/bench_fidelity.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.engines.sim.fidelity_helpers import TOLERANCE, mean_of, measure  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    ratios: dict[tuple[int, str], list[float]] = {}
    for i in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            runs, modelled, _ = measure(Path(tmp))
        for c in sorted(runs):
            for metric in ("ttft", "tpot"):
                got = runs[c]["stats"][metric]["mean"]
                want = mean_of(r[f"modelled_{metric}_s"] for r in modelled[c])
                ratios.setdefault((c, metric), []).append(got / want)
                print(f"run {i + 1}: concurrency {c} {metric}: measured {got * 1000:8.2f} ms, "
                      f"modelled {want * 1000:8.2f} ms, ratio {got / want:.3f}", flush=True)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    for (c, metric), xs in sorted(ratios.items()):
        spread = f"{min(xs):.3f}..{max(xs):.3f}"
        inside = sum(abs(x - 1) <= TOLERANCE for x in xs)
        print(f"concurrency {c} {metric}: measured/modelled median {statistics.median(xs):.3f} "
              f"(range {spread}); {inside}/{len(xs)} runs within ±{TOLERANCE:.0%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
