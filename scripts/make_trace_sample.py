"""Generate the small request trace shipped as assets/datasets/trace-sample.jsonl.

Every row is drawn here from a seed: no production log is copied, so the file is ours to
give away (CC0 1.0, see assets/datasets/README.md). It has the shape traces are replayed
for: a quiet stretch, a burst at five times the rate, then quiet again, with prompt and
answer lengths that vary request by request (log-uniform), one JSON object a line in
tuneops' trace format ({timestamp: s, input_tokens, output_tokens}, benchmark.trace).

    python scripts/make_trace_sample.py [--seed 22] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import math
import random
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "assets" / "datasets" / "trace-sample.jsonl"
# (seconds, requests per second): quiet, a burst, quiet
PHASES = ((10.0, 3.0), (4.0, 15.0), (10.0, 3.0))
INPUT_TOKENS = (32, 512)
OUTPUT_TOKENS = (16, 128)


def log_uniform(rng: random.Random, low: int, high: int) -> int:
    return round(math.exp(rng.uniform(math.log(low), math.log(high))))


def rows(seed: int) -> list[dict]:
    """Poisson arrivals at each phase's rate, each request with its own lengths."""
    rng = random.Random(seed)
    out, start = [], 0.0
    for span, rate in PHASES:
        t = start + rng.expovariate(rate)
        while t < start + span:
            out.append({"timestamp": round(t, 3),
                        "input_tokens": log_uniform(rng, *INPUT_TOKENS),
                        "output_tokens": log_uniform(rng, *OUTPUT_TOKENS)})
            t += rng.expovariate(rate)
        start += span
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=22)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("".join(json.dumps(r) + "\n" for r in rows(args.seed)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
