"""Time `validate` on a ~1 MB experiment (the size limit of an experiment file).

The file is the commented example grown to just under 1 MB the ways a generated
experiment grows: a 2,000-value parameter list, a few thousand labels-like request
parameters nested two levels deep, and a long description. Prints the file size, then
one line per sample (cold process each, as CI runs it) with the median and spread, and
the machine load; nothing is asserted here.

    python scripts/bench_validate_large.py [--samples 3]
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
EXAMPLE = ROOT / "experiments" / "examples" / "sglang-docker.yaml"
TARGET_BYTES = 990_000


def write_experiment(folder: Path) -> Path:
    text = EXAMPLE.read_text()
    values = ", ".join(str(64 + i) for i in range(2000))
    space = (
        "parameters:\n"
        f"  max-running-requests: [{values}]\n"
        "  mem-fraction-static: [0.8, 0.85]\n\n"
    )
    text = re.sub(r"(?ms)^parameters:.*?(?=^benchmark:)", space, text)
    text = re.sub(r"(?m)^constraints:\n(  - .*\n)+", "", text)
    text = text.replace("name: llama8b-h100-batching", "name: bench-1mb")
    text = re.sub(r"(?m)^  additionalRequestParams:.*\n", "", text)
    params, i = ["  additionalRequestParams:\n"], 0
    size = len(text.encode())
    while size < TARGET_BYTES - 200:
        line = f"    group-{i:05d}: {{alpha: {i}, beta: \"value {i} of a generated field\", "
        line += f"gamma: [{i}, {i + 1}, {i + 2}]}}\n"
        params.append(line)
        size += len(line)
        i += 1
    text = text.replace("benchmark:\n", "benchmark:\n" + "".join(params), 1)
    path = folder / "bench-1mb.yaml"
    path.write_text(text)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = write_experiment(Path(tmp))
        print(f"experiment: {path.stat().st_size:,} bytes")
        times = []
        for n in range(args.samples):
            start = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-m", "tuneops.cli", "validate", str(path)],
                capture_output=True, text=True, check=False,
            )
            times.append(time.perf_counter() - start)
            print(f"sample {n + 1}: {times[-1]:.2f} s (exit {proc.returncode})")
            if proc.returncode:
                print(proc.stderr[-2000:])
        spread = max(times) - min(times)
        print(
            f"validate 1 MB: median {statistics.median(times):.2f} s, "
            f"min {min(times):.2f} s, max {max(times):.2f} s (spread {spread:.2f} s); "
            f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
