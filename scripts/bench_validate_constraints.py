"""Time `validate` on the largest constraint work an experiment may ask for, and beyond.

Two experiments from the commented example: a 99,000-point grid with 300 constraints
(29.7 M evaluations: refused by the budget in tuneops.checks_space, so this times the
refusal), and a grid sized to just under the budget (MAX_CONSTRAINT_EVALUATIONS). Each is
run as a cold `tuneops validate` process; prints every sample, the median and spread, and
the machine load. Nothing is asserted.

    python scripts/bench_validate_constraints.py [--samples 3]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
EXAMPLE = ROOT / "experiments" / "examples" / "sglang-docker.yaml"

from tuneops.checks_space import MAX_CONSTRAINT_EVALUATIONS  # noqa: E402


def write(folder: Path, name: str, values: int, constraints: int) -> Path:
    """values x 3 x 3 x 2... : `max-running-requests` gets `values` values, three more
    parameters make the grid 18 x values points; `constraints` distinct constraints."""
    text = EXAMPLE.read_text()
    mrr = ", ".join(str(1 + i) for i in range(values))
    space = ("parameters:\n"
             f"  max-running-requests: [{mrr}]\n"
             "  mem-fraction-static: [0.8, 0.85, 0.9]\n"
             "  chunked-prefill-size: [2048, 4096, 8192]\n"
             "  schedule-policy: [lpm, fcfs]\n\n")
    space += "constraints:\n" + "".join(f'  - "max-running-requests != {100000 + i}"\n'
                                         for i in range(constraints)) + "\n"
    # the example's parameters and constraints both sit before `benchmark:`
    text = re.sub(r"(?ms)^parameters:.*?(?=^benchmark:)", space, text)
    path = folder / f"{name}.yaml"
    path.write_text(text)
    return path


def sample(path: Path) -> tuple[float, int]:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "tuneops.cli", "validate", str(path)],
                          capture_output=True, text=True, cwd=ROOT)
    return time.perf_counter() - t0, proc.returncode


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        under = MAX_CONSTRAINT_EVALUATIONS // (18 * 100)  # 100 constraints
        cases = [("99k-x-300", write(Path(tmp), "big", 5500, 300)),
                 (f"{under * 18:,}-x-100", write(Path(tmp), "under", under, 100))]
        for name, path in cases:
            times = []
            for i in range(args.samples):
                seconds, code = sample(path)
                times.append(seconds)
                print(f"{name}: sample {i + 1}: {seconds:.2f}s (exit {code})")
            spread = f"{min(times):.2f}-{max(times):.2f}s"
            print(f"{name}: median {statistics.median(times):.2f}s (range {spread}), "
                  f"load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
