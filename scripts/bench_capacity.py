#!/usr/bin/env python3
"""Capacity search against a plain rate sweep on the same experiment: how many rates each
measures, how long that takes, and what capacity each finds.

    python scripts/bench_capacity.py [--exp experiments/examples/sim-poisson.yaml]
                                     [--runs 5] [--fixed-s 30]

Both walk the experiment's trials (its max-running-requests values) with tuneops' own
code: the capacity search is `rate._search` (bracket, geometric split, sequential rule over
repeats), the sweep `rate._sweep` (ascending, early stop once an SLO is lost beyond the
noise), over the same bracket at the search's resolution (rates 5 % apart) and, for
contrast, over doublings (an answer only to within 2x). Only the measurement is the
simulator's performance model in virtual time (tests/helpers/sim_rates.py): Poisson
arrivals, the experiment's requests per rate, a new seed per rate, so runs differ as real
ones do.

Wall time is estimated as a real run would spend it: each rate is one `aiperf profile` run,
`--fixed-s` seconds of AIPerf start-up and teardown (10 s: the median per rate of a whole
sim-poisson run with the warm AIPerf parent at load 7-9, docs/architecture.md; 26 s with the
plain CLI) plus its requests' own time (the simulator serves in real time).

Beside the search, the model's own answer: each trial's saturation rate and its predicted
capacity under the experiment's p99 TTFT limit, arrivals and run length
(engines/sim/openloop.py predicted_capacity, the median p99 over 11 seeds). A capacity search
judges each rate by a one-sided bound over a run's requests, so it stops at or below the
model's median knee, by as much as a short run's p99 scatters. Prints mean, sd and range
over --runs; figures, no asserts.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tuneops.engines.sim.openloop import predicted_capacity, saturation_rate  # noqa: E402
from tuneops.runner.bench.parse import BenchOutcome  # noqa: E402
from tuneops.runner.loadgen import capacity, rate  # noqa: E402

from tests.helpers import sim_rates  # noqa: E402
from tuneops.checks_benchmark import rate_scenario_lengths  # noqa: E402
from tuneops.metrics import MAX_SLO_RATE, Verdict  # noqa: E402
from tuneops.validate import load_experiment  # noqa: E402


def grid(low: float, high: float, step: float) -> tuple[float, ...]:
    n = math.ceil(math.log(high / low) / math.log(step))
    return tuple(round(min(low * step ** i, high), 4) for i in range(n + 1))


def walk(exp, mode: str, mrr: int, seed: int) -> tuple[int, float, float]:
    """(rates measured, estimated seconds of sending, capacity found) for one trial."""
    (scenario,) = exp.benchmark.traffic_scenarios[:1]
    isl, _, osl, _ = rate_scenario_lengths(scenario)
    load = exp.benchmark.load
    perf = sim_rates.model(mrr)
    sent = [0, 0.0]

    def measure(scenario, offered):
        sent[0] += 1
        point, seconds = sim_rates.point(perf, offered, isl, osl, load.requests, 1.0,
                                         seed * 1000 + sent[0])
        sent[1] += seconds
        return point

    outcome = BenchOutcome(ok=True)
    low, high = load.rates
    if mode == "search":
        rate._search(exp, scenario, measure, outcome)
        found = next(iter(outcome.metrics[scenario].values()))[MAX_SLO_RATE]
    else:
        step = 1.0 + capacity.RESOLUTION if mode == "sweep 5 %" else 2.0
        sweep = dataclasses.replace(exp, benchmark=dataclasses.replace(
            exp.benchmark, load=dataclasses.replace(load, rates=grid(low, high, step),
                                                    search=None)))
        rate._sweep(sweep, scenario, measure, outcome)
        slos = [s for s in exp.slos if s.can_stop_early]
        held = [r for r, m in outcome.metrics.get(scenario, {}).items()
                if capacity.judge(slos, [m], outcome.records[scenario][r]) is Verdict.MET]
        found = max(held, default=0.0)
    return sent[0], sent[1], found


def spread(xs: list[float], fmt: str = "{:.1f}") -> str:
    sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
    return f"{fmt.format(statistics.fmean(xs))} ± {fmt.format(sd)} " \
           f"[{fmt.format(min(xs))}-{fmt.format(max(xs))}]"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--exp", default=str(ROOT / "experiments/examples/sim-poisson.yaml"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--fixed-s", type=float, default=10.0)
    args = ap.parse_args()
    exp = load_experiment(Path(args.exp))
    load = exp.benchmark.load
    if load is None or load.search != "capacity":
        print(f"{args.exp}: needs benchmark.load.rates: {{search: capacity, low, high}}")
        return 2
    param = next(p for p in exp.parameters if p.name == "max-running-requests")
    caps = [int(v) for v in param.values]
    print(f"# {exp.name}: {exp.benchmark.traffic_scenarios[0]}, {load.requests} requests per "
          f"rate, bracket {load.rates[0]:g}-{load.rates[1]:g} req/s, trials "
          f"max-running-requests {caps}, {args.runs} runs, {args.fixed_s:g} s per AIPerf run")
    print(f"# load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    # one pass over the trials: an experiment with repeats N measures N times this
    print("| mode | rates measured (all trials) | est. wall (min) | capacity found (req/s, "
          "by max-running-requests) |")
    print("|---|---|---|---|")
    for mode in ("search", "sweep 5 %", "sweep 2x"):
        points, minutes, found = [], [], {c: [] for c in caps}
        for run in range(args.runs):
            n = secs = 0.0
            for c in caps:
                k, s, f = walk(exp, mode, c, run)
                n, secs = n + k, secs + s
                found[c].append(f)
            points.append(n)
            minutes.append((n * args.fixed_s + secs) / 60.0)
        per_trial = "; ".join(f"{c}: {spread(v, '{:.2f}')}" for c, v in found.items())
        print(f"| {mode} | {spread(points)} | {spread(minutes)} | {per_trial} |")
    p99 = next((s.limit / 1000 for s in exp.slos if s.metric == "ttft.p99"), None)
    if p99 is not None:
        isl, _, osl, _ = rate_scenario_lengths(exp.benchmark.traffic_scenarios[0])
        cells = []
        for c in caps:
            perf = sim_rates.model(c)
            knee = predicted_capacity(perf, isl, osl, p99, load.requests, 1.0, tuple(range(1, 12)))
            cells.append(f"{c}: saturation {saturation_rate(perf, isl, osl):.2f}, "
                         f"predicted {knee:.2f}")
        model = "; ".join(cells)
        print(f"| the model (p99 TTFT <= {p99 * 1000:g} ms, Poisson) | | | {model} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
