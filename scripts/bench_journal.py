#!/usr/bin/env python3
"""How fast does the run journal acknowledge a record? Each append is one write + fsync.

Appends `--records` trial results (4 KB of reason each, as tests/runner/test_journal.py's kill -9
test writes) to a fresh run, `--repeats` times, and prints acknowledged records per second
with their spread and the machine's load. The kill -9 test waits for 150 acknowledgements
without a clock; this is where the speed is reported. Prints figures, asserts nothing.

Usage: python scripts/bench_journal.py [--records 150] [--repeats 5] [--dir DIR]
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

from tuneops.runner import journal  # noqa: E402
from tuneops.runner.results import COMPLETED, TrialResult  # noqa: E402

from tuneops.spec import from_document  # noqa: E402

DOC = {
    "metadata": {"name": "bench-journal"},
    "model": {"id": "org/model"},
    "engine": {"name": "sim", "args": {}},
    "deployment": {"mode": "local", "gpus": {"count": 1}},
    "benchmark": {"trafficScenarios": ["D(100,100)"], "concurrency": [4]},
    "objective": {"metric": "output_throughput", "direction": "maximize"},
    "parameters": {"a": [1, 2, 3]},
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=150)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--dir", help="where to write (default: a temporary directory; the disk "
                    "under it decides the fsync cost)")
    args = ap.parse_args(argv)
    exp = from_document(DOC)
    rates = []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
            with journal.open_run(tmp, exp) as run:
                t0 = time.perf_counter()
                for i in range(args.records):
                    run.trial_finished(TrialResult(f"t{i}", i, {"a": i}, {}, COMPLETED,
                                                   reason="x" * 4000))
                rates.append(args.records / (time.perf_counter() - t0))
    print(f"journal appends (write + fsync, 4 KB records) in {args.dir or tempfile.gettempdir()}:"
          f" median {statistics.median(rates):.0f}/s, range {min(rates):.0f}..{max(rates):.0f}/s"
          f" over {len(rates)} runs of {args.records}; load average {os.getloadavg()[0]:.2f}"
          f" on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
