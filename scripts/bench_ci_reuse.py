#!/usr/bin/env python3
"""Wall time of the CI pass on the bot's own commit, where every trial is reused.

Writes a tiny sim experiment into a throwaway git repository, measures it once for real
(`tuneops ci run`: simulator + genai-bench) and commits the report as the bot's publish
commit (only those are reused: runner/report_trust.py), then runs `tuneops ci run` again
--repeat times as CI would (a fresh process each time, the provenance check from git
history included, nothing measured) and prints each wall time with the median, min and
max and the machine's load. Asserts nothing.

Usage: ``python scripts/bench_ci_reuse.py [--trials 2] [--repeat 5]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests import e2e_helpers as h  # noqa: E402 - the tests' tiny experiment
from tests.ci_helpers import publish_commit  # noqa: E402 - what `tuneops ci publish` commits


def ci_run(folder: Path) -> tuple[float, dict]:
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-m", "tuneops.cli", "ci", "run", "experiments/b.yaml",
                    "--out", "ci-out"], cwd=folder, check=True, capture_output=True,
                   env={**os.environ, "CI": "true"})
    wall = time.monotonic() - t0
    return wall, json.loads((folder / "ci-out" / "b" / "status.json").read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        h.write_experiment(folder / "experiments", "b",
                           parameters={"max-running-requests": [8 * (i + 1)
                                                                for i in range(args.trials)]})
        subprocess.run(["git", "init", "-q", "."], cwd=folder, check=True)
        wall, status = ci_run(folder)
        print(f"measured pass: {status['measured']} trial(s) measured in {wall:.1f}s")
        publish_commit(folder, "b", status["report"].split("/")[-1])
        walls = []
        for _ in range(args.repeat):
            wall, status = ci_run(folder)
            assert status["measured"] == 0, status
            walls.append(wall)
        print("all-reused passes (s): " + ", ".join(f"{w:.2f}" for w in walls))
        print(f"median {statistics.median(walls):.2f}s, min {min(walls):.2f}s, "
              f"max {max(walls):.2f}s over {len(walls)} runs")
        print(f"load: {os.getloadavg()}")


if __name__ == "__main__":
    main()
