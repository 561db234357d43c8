#!/usr/bin/env python3
"""How close is the simulator's model to published real measurements?

Replays every row of engines/sim/data/published_measurements.yaml (vLLM's performance
benchmark on H100/H200/A100, SGLang 0.3.0's own tables for Llama-3.1 8B/70B at tp 1/4) in
virtual time and prints per row the published number, the prediction and their ratio, then
the median absolute error and Spearman's rank correlation: first with the uncalibrated
constants (Efficiency's defaults), then with the fitted ones (engines/sim/data/
calibration.json, from scripts/fit_sim_constants.py). Deterministic (virtual time, fixed
seed); prints figures, asserts nothing (tests/engines/sim/test_sim_fidelity.py checks them).

Usage: python scripts/bench_sim_fidelity.py
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tuneops.engines.sim import fidelity  # noqa: E402
from tuneops.engines.sim.perfmodel import Efficiency  # noqa: E402


def main() -> int:
    rows = fidelity.load()
    for title, constants in (("uncalibrated constants", lambda gpu: Efficiency()),
                             ("calibrated constants", fidelity.calibrated)):
        start = time.process_time()
        result = fidelity.fidelity(rows, constants)
        print(f"\n## Simulator vs published measurements: {title}\n")
        print(fidelity.table(result))
        print(f"({len(rows)} rows, {time.process_time() - start:.1f} s CPU)")
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
