#!/usr/bin/env python3
"""How many measured trials each search method needs to get near the best configuration.

    python scripts/bench_search.py [--seeds 30] [--cap 100] [--parallel 4] [--truth steady]

Spaces (tests/helpers/search_spaces.py, where each one's trap is described): easy, plateau
(a tensor-parallel plateau at ~80 % of the best), narrow (a tight TPOT bound with OOM
regions and a long-prompt KV pool), built from the simulator's
performance model and measured in virtual time: no HTTP, no noise. Each seed moves the
model's efficiency constants by up to ±15 % (the hardware the search does not know) and
seeds the searcher; `search.method: model` predicts with the unmoved constants.

Each run follows tuneops' own code: `make_searcher` (ask/tell), the walk over levels with
early stop and the pruner (`levels.walk`), the scorer (`score.score_trial`); only the
measurement is the model (`runner/search/virtual.py`).

Methods: random, the four `search.sampler`s of bayesian search (tpe, gp, qmc, cmaes) and
model. Prints per space × method: median and worst trials (and rounds with --parallel) to
97 % and 99 % of the optimum ("N+" = not reached within --cap trials; gp within --gp-cap,
since each of its asks fits a Gaussian process), the ratio of the median to random's, the
CPU time one search took (the searcher's own cost: measuring is virtual), and for `model`
the objective's prediction error before each measurement and after calibration. Figures,
no asserts.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tuneops.runner.search import make_searcher  # noqa: E402
from tuneops.runner.search.samplers import SAMPLERS  # noqa: E402
from tuneops.runner.search.virtual import Measured, run_search  # noqa: E402

from tests.helpers.search_spaces import SPACES, experiment, near_share, optimum, truth, world  # noqa: E402
from tuneops.plan import make_plan  # noqa: E402

METHODS = ("random", "tpe", "gp", "qmc", "cmaes", "model")  # tpe..cmaes: search.sampler
TARGETS = (0.97, 0.99)


def reached(out: list[Measured], target: float) -> tuple[int, int] | None:
    """(trials, rounds) when the best feasible objective first reached `target`."""
    for k, m in enumerate(out, 1):
        s = m.result.score
        if s is not None and s.feasible and s.objective is not None and s.objective >= target:
            return k, m.round
    return None


def one(space: str, method: str, seed: int, tr, opt: float, cap: int, parallel: int):
    if method in SAMPLERS:
        exp = experiment(space, "bayesian", seed, maxTrials=cap, sampler=method)
    else:
        exp = experiment(space, method, seed, maxTrials=cap)
    top = TARGETS[-1] * opt

    def stop(out: list[Measured]) -> bool:
        return reached(out, top) is not None

    searcher = make_searcher(exp, make_plan(exp))
    out = run_search(exp, tr.measure, parallel=parallel, stop=stop, searcher=searcher)
    errors = getattr(searcher, "errors", [])  # the model's, per measured trial
    return {t: reached(out, t * opt) for t in TARGETS}, errors


def fmt(xs: list[int | None], cap: int) -> tuple[str, str, float]:
    vals = [x if x is not None else cap + 1 for x in xs]
    med = statistics.median(vals)
    worst = max(vals)
    return (f"{med:g}" + ("+" if med > cap else ""), f"{worst}" + ("+" if worst > cap else ""),
            med)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=30)
    ap.add_argument("--cap", type=int, default=100)
    ap.add_argument("--gp-cap", type=int, default=60,
                    help="trials for gp at most: each ask fits a Gaussian process (seconds)")
    ap.add_argument("--parallel", type=int, default=1)
    ap.add_argument("--truth", choices=("steady", "scheduler"), default="steady")
    ap.add_argument("--spaces", nargs="*", default=list(SPACES))
    ap.add_argument("--methods", nargs="*", default=list(METHODS))
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    print(f"{args.seeds} seeds, at most {args.cap} trials, {args.parallel} per round, "
          f"truth: {args.truth}")
    print("| space | within 3 %: median (range) | method | trials to 97 % (median / worst) "
          "| to 99 % | rounds to 97 % | median vs random | CPU per search (median) |")
    print("|---|---|---|---|---|---|---|---|")
    for space in args.spaces:
        runs: dict[str, dict] = {m: {"97": [], "99": [], "r97": [], "cpu": []}
                                 for m in args.methods}
        errors_before: list[float] = []
        errors_after: list[float] = []
        shares: list[float] = []
        for seed in range(args.seeds):
            tr = truth(space, seed, engine=args.truth)
            opt = optimum(tr)
            shares.append(near_share(tr, opt))
            for method in args.methods:
                cap = min(args.cap, args.gp_cap) if method == "gp" else args.cap
                t = time.process_time()
                got, errors = one(space, method, seed, tr, opt, cap, args.parallel)
                runs[method]["cpu"].append(time.process_time() - t)
                r97, r99 = got[0.97], got[0.99]
                runs[method]["97"].append(r97[0] if r97 else None)
                runs[method]["99"].append(r99[0] if r99 else None)
                runs[method]["r97"].append(r97[1] if r97 else None)
                if method == "model":
                    errors_before += [abs(e.before) for e in errors if e.before is not None]
                    errors_after += [abs(e.after) for e in errors if e.after is not None]
        base = fmt(runs.get("random", {}).get("97", []) or [None], args.cap)[2] \
            if "random" in runs else None
        points = len(make_plan(experiment(space, "grid", 0)).trials)
        near = (f"{statistics.median(shares):.1%} ({min(shares):.1%}-{max(shares):.1%}) "
                f"of {points:,}")  # median (range) over the seeds' truths
        for method in args.methods:
            cap = min(args.cap, args.gp_cap) if method == "gp" else args.cap
            m97, w97, med = fmt(runs[method]["97"], cap)
            m99, w99, _ = fmt(runs[method]["99"], cap)
            r, rw, _ = fmt(runs[method]["r97"], cap)
            ratio = f"{med / base:.2f}×" if base else "-"
            cpu = statistics.median(runs[method]["cpu"])
            print(f"| {space} | {near} | {method} | {m97} / {w97} | {m99} / {w99} | {r} / {rw} "
                  f"| {ratio} | {cpu:.1f} s |", flush=True)
        if errors_before:
            print(f"|   |   | model's objective error | before measuring: median "
                  f"{statistics.median(errors_before):.1%}, worst {max(errors_before):.1%} "
                  f"| after calibration: median {statistics.median(errors_after):.1%}, "
                  f"worst {max(errors_after):.1%} | | | |", flush=True)
    print(f"wall {time.monotonic() - t0:.0f} s; load average {os.getloadavg()[0]:.2f} on "
          f"{os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    with world():  # the model the spaces were built against (search_spaces.world)
        raise SystemExit(main())
