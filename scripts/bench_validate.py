"""Time validate + plan (+ render, when the renderer is installed) on a 5,000-point grid.

A pull request with a big grid must still validate in CI within seconds (target: under
3 s in total). The experiment is written to a temporary folder from the commented example,
with its search space replaced by 10 x 10 x 5 x 5 x 2 = 5,000 points and one constraint
evaluated on every point. Prints one line per stage; nothing is asserted here.

    python scripts/bench_validate.py [--repeat 3] [--no-render]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tuneops import plan, space  # noqa: E402
from tuneops.validate import load_experiment  # noqa: E402

EXAMPLE = ROOT / "experiments" / "examples" / "sglang-docker.yaml"
SPACE = """parameters:
  mem-fraction-static: {type: float, low: 0.70, high: 0.925, step: 0.025}
  max-running-requests: {type: int, low: 32, high: 320, step: 32}
  chunked-prefill-size: [2048, 4096, 8192, 16384, 32768]
  schedule-policy: {values: [lpm, fcfs, random, dfs-weight, lof]}
  disable-radix-cache: {type: bool}

constraints:
  - "max-running-requests <= 10000 or mem-fraction-static >= 0.5"
"""


def write_experiment(folder: Path) -> Path:
    text = EXAMPLE.read_text()
    text = re.sub(r"(?ms)^parameters:.*?(?=^benchmark:)", SPACE + "\n", text)
    text = text.replace("name: llama8b-h100-batching", "name: bench-5000")
    text = text.replace("  maxTrials: 48\n", "")
    path = folder / "bench-5000.yaml"
    path.write_text(text)
    return path


def timed(label: str, fn, repeat: int):
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    print(f"{label:<28} {best * 1000:9.1f} ms  (best of {repeat})")
    return result, best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-render", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = write_experiment(folder)
        start = time.perf_counter()
        exp = load_experiment(path)  # first call: imports, schema compile, catalog load
        cold = time.perf_counter() - start
        print(f"{'validate (cold, 1st call)':<28} {cold * 1000:9.1f} ms")
        print(f"grid points: {space.grid_size(exp.parameters):,}")
        exp, t_validate = timed("validate (warm)", lambda: load_experiment(path), args.repeat)
        p, t_plan = timed("plan", lambda: plan.make_plan(exp), args.repeat)
        print(f"trials after constraints: {len(p.trials):,}")
        total = t_validate + t_plan
        render = None
        if not args.no_render:
            try:
                from tuneops.renderers.render import render_experiment as render
            except ImportError as exc:
                print(f"render: skipped ({exc})")
        if render is not None:
            out = folder / "manifests"
            _, t_render = timed("render", lambda: render(exp, out), 1)
            files = sum(1 for f in out.rglob("*") if f.is_file())
            print(f"rendered files: {files:,}")
            total += t_render
        print(
            f"{'total (warm validate+plan+render)':<28} {total * 1000:9.1f} ms  "
            f"(target < 3000 ms; cold start adds {(cold - t_validate) * 1000:.0f} ms)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
