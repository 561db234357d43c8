"""Pruning that cannot lose the winner: stop a trial only when its objective is out of reach.

A trial is stopped between levels for three reasons, and only these:
- it lost an SLO over requests beyond the noise: early stop (`levels.walk`) already skips
  its higher levels, where load only makes latency worse;
- it did not start (OOM, a rejected flag): nothing is measured, the trial fails as a
  config failure;
- a bound says the objective can no longer beat the best feasible trial so far beyond the
  noise. This module decides that one.

The bound is what the objective could still be, level by level, in the objective's favour:
- a served rate (`Metric.served_rate`: throughputs, requests/s, goodput) at a higher level
  c' is at most value * c'/c, since each request in flight only gets slower with load;
- a latency (minimised) at a higher level is at least what it is now, for the same reason;
- any other metric (cost, speed per request, ...) has no bound: never pruned.
How the levels combine follows `objective.concurrency`: a fixed level is judged at that
level (before it, its bound); best_feasible takes the best of every measured level and
every bound still open; max takes the highest level's bound; mean averages both. So a
low-load level never decides a best-over-levels or high-level objective by its own value:
only with every higher level's possible gain added (Optuna's percentile pruner compared
first levels, where the configuration that wins at high load looks worst).

Closed-loop concurrency levels with one scenario in the objective only (open-loop rates and
objectives averaged over several scenarios are never pruned). Pure: the searcher keeps the
levels seen and the best so far.
"""

from __future__ import annotations

from collections.abc import Mapping

from tuneops.runner.bench.levels import ascending

from tuneops.metrics import METRICS, Direction
from tuneops.spec import Experiment, LevelChoice


def judged_scenario(exp: Experiment) -> str | None:
    """The one scenario the objective is judged in (None: averaged over scenarios, open-loop
    rates, or a concurrency bisection)."""
    b = exp.benchmark
    if b.load is not None or b.concurrency_search:
        return None
    if exp.objective.scenario:
        return exp.objective.scenario
    return b.traffic_scenarios[0] if len(b.traffic_scenarios) == 1 else None


def reach(exp: Experiment, value: float, level: int, higher: int) -> float | None:
    """The best the objective's metric could be at level `higher` given `value` at `level`
    (None: no bound for this metric and direction)."""
    metric = METRICS.get(exp.objective.metric)
    if metric is None or value < 0:
        return None
    maximize = exp.objective.direction == Direction.MAXIMIZE
    if metric.served_rate and maximize:
        return value * higher / level
    if metric.is_latency and not maximize:
        return value
    return None


def objective_bound(exp: Experiment, seen: Mapping[int, float]) -> float | None:
    """The best objective a trial could still reach, from its measured levels `seen` (level
    -> the objective metric there) and bounds on the levels not yet run (None: no bound)."""
    if not seen:
        return None
    levels = ascending(exp.benchmark.concurrency)
    last = max(seen)
    rest = [c for c in levels if c > last]
    ahead = [reach(exp, seen[last], last, c) for c in rest]
    if any(a is None for a in ahead):
        return None
    best = exp.objective.direction.sort_key  # the lowest key is the best value
    choice = exp.objective.concurrency
    if isinstance(choice, int):
        if choice in seen:
            return seen[choice]
        return reach(exp, seen[last], last, choice) if choice > last else None
    if choice == LevelChoice.HIGHEST:
        return ahead[-1] if ahead else seen[last]
    if choice == LevelChoice.MEAN:
        values = [*seen.values(), *ahead]
        return sum(values) / len(values)
    return min([*seen.values(), *ahead], key=best)  # best_feasible: optimistic about
    # feasibility (a level that lost an SLO still counts)


def out_of_reach(exp: Experiment, bound: float | None, best: float | None,
                 margin: float) -> bool:
    """Whether a trial whose objective can reach at most `bound` cannot beat `best` (the
    best feasible trial's value at the unfavourable end of its interval) by more than
    `margin` of it."""
    if bound is None or best is None:
        return False
    d = exp.objective.direction
    return d.better(best - d.sign * margin * abs(best), bound)
