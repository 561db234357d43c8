"""Compare search methods on a synthetic objective: best feasible value after N trials.

    python scripts/bench_search.py [--trials 30] [--seeds 8]

Objective (maximize): -(x-7)^2 - (y-3)^2 over x, y in [0, 10]; parameter constraint
x + y <= 12; SLO-style infeasibility when x > 8 (violation (x-8)/8). Optimum 0 at (7, 3).
Prints per-method mean/min/max of the best feasible value and the time per ask+tell.
"""

from __future__ import annotations

import argparse
import statistics
import time

from tuneops.runner.results import COMPLETED, Score, TrialResult
from tuneops.runner.search import make_searcher

from tuneops.plan import make_plan
from tuneops.spec import from_document


def experiment(method: str, trials: int, seed: int):
    return from_document(
        {
            "metadata": {"name": "bench"},
            "model": {"id": "m/x"},
            "engine": {"name": "sim", "args": {}},
            "deployment": {"mode": "local", "gpus": {"count": 1}},
            "benchmark": {"trafficScenarios": ["D(100,100)"], "concurrency": [4]},
            "objective": {"metric": "output_throughput", "direction": "maximize"},
            "parameters": {
                "x": {"type": "float", "low": 0.0, "high": 10.0},
                "y": {"type": "float", "low": 0.0, "high": 10.0},
            },
            "constraints": ["x + y <= 12"],
            "search": {"method": method, "maxTrials": trials, "seed": seed},
        }
    )


def evaluate(trial) -> TrialResult:
    x, y = trial.params["x"], trial.params["y"]
    value = -((x - 7) ** 2) - (y - 3) ** 2
    violation = max(0.0, (x - 8) / 8)
    score = Score(value, violation == 0, violation, 4, 4 if violation == 0 else None)
    return TrialResult(trial.id, trial.index, trial.params, trial.args, COMPLETED, score=score)


def run(method: str, trials: int, seed: int) -> tuple[float, float]:
    exp = experiment(method, trials, seed)
    searcher = make_searcher(exp, make_plan(exp))
    best, t0, n = float("-inf"), time.perf_counter(), 0
    while (trial := searcher.ask()) is not None:
        result = evaluate(trial)
        searcher.tell(result)
        n += 1
        if result.score.feasible:
            best = max(best, result.score.objective)
    return best, (time.perf_counter() - t0) / max(n, 1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=30)
    ap.add_argument("--seeds", type=int, default=8)
    args = ap.parse_args()
    print(f"{args.trials} trials, seeds 0..{args.seeds - 1}; best feasible value (optimum 0)")
    for method in ("random", "bayesian"):
        runs = [run(method, args.trials, s) for s in range(args.seeds)]
        bests = [b for b, _ in runs]
        per_trial_ms = 1000 * statistics.mean(t for _, t in runs)
        print(
            f"{method:9s} mean {statistics.mean(bests):8.4f}  min {min(bests):8.4f}  "
            f"max {max(bests):8.4f}  {per_trial_ms:6.1f} ms per ask+tell"
        )


if __name__ == "__main__":
    main()
