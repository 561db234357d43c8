"""One ranking of a run's trials: order, best, tie set, Pareto axes and front.

Ranking puts feasible trials first (by objective, in its direction), then infeasible ones
(least violation first), then failed ones — so a failure can never outrank a measurement,
whichever way the objective points. Trials are ordered by their point values, but the
best is grouped with every feasible trial whose objective interval overlaps its own: the
tie set, which reports name instead of one winner.

Within the tie set, `objective.tieBreak: cost` puts the cheaper trial first (`by_cost`):
the objective cannot tell them apart, the bill can. The best is then the cheapest tied
trial; nothing outside the tie set (an infeasible trial, a trial beyond the noise) moves.

`ranking` is the one place trials are ordered; every report writer formats its answer
and ranks nothing. Scores come from runner.score; directions from tuneops.metrics.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from tuneops.runner.results import (
    CANCELLED,
    COMPLETED,
    FAILED_BENCHMARK,
    FAILED_CONFIG,
    FAILED_INFRA,
    Score,
    TrialResult,
)
from tuneops.runner.score import (
    UNKNOWN,
    Bounds,
    _finite,
    direction,
    levels,
    objective_bounds,
    objective_value,
    score_result,
)

from tuneops.metrics import COST_METRICS, Direction, metric
from tuneops.spec import Experiment

# Among failures: the ones that got furthest come first (the engine served, then it started).
FAILED_ORDER = {FAILED_BENCHMARK: 0, FAILED_INFRA: 1, FAILED_CONFIG: 2, CANCELLED: 3}
DEFAULT_PARETO = ("output_throughput_per_gpu", "ttft.p99")


def _violation(score: Score) -> float:
    v = _finite(score.violation)
    return math.inf if v is None else v


def rank_key(result: TrialResult, dirn: Direction | str) -> tuple:
    """Sort key: (group, primary, secondary, index). Lower sorts first."""
    s = result.score
    tail = (result.index, result.trial_id)
    if result.status != COMPLETED:
        return (3, FAILED_ORDER.get(result.status, 9), 0.0) + tail
    if s is None:
        return (2, math.inf, 0.0) + tail
    obj = _finite(s.objective)
    signed = math.inf if obj is None else Direction(dirn).sort_key(obj)
    if s.feasible and obj is not None:
        return (0, signed, 0.0) + tail
    return (1, _violation(s), signed) + tail


def rank(results: Iterable[TrialResult], exp: Experiment) -> list[TrialResult]:
    """Best first. Completed trials without a score are scored here (results are copied,
    never mutated)."""
    dirn = exp.objective.direction
    scored = []
    for r in results:
        if r.status == COMPLETED and r.score is None and r.metrics:
            r = replace(r, score=score_result(exp, r))
        scored.append(r)
    return sorted(scored, key=lambda r: rank_key(r, dirn))


def is_feasible(result: TrialResult) -> bool:
    return (result.status == COMPLETED and result.score is not None and result.score.feasible
            and _finite(result.score.objective) is not None)


def best(results: Sequence[TrialResult]) -> TrialResult | None:
    """The first feasible trial of an already ranked list (see `rank`), or None."""
    return next((r for r in results if is_feasible(r)), None)


# ---------------------------------------------------------------------------- Pareto


def _at_point(result: TrialResult, scenario: str | None, at: Any, combine: Any,
              empty: Any) -> Any:
    """`at(level)` at the trial's scored level, else `combine` over every level measured."""
    if not result.metrics:
        return empty
    level = result.score.concurrency if result.score is not None else None
    if level is not None:
        return at(level)
    return combine([at(c) for c in levels(result.metrics, scenario)])


def _mean_known(vals: list[float | None]) -> float | None:
    known = [v for v in vals if v is not None]
    return sum(known) / len(known) if known else None


def _mean_bounds(found: list[Bounds]) -> Bounds:
    if not found or UNKNOWN in found:
        return UNKNOWN
    return (sum(b[0] for b in found) / len(found), sum(b[1] for b in found) / len(found))


def point_value(result: TrialResult, metric: str, scenario: str | None = None) -> float | None:
    """A trial's metric at its objective's point (its scored level; the mean over levels when
    the objective is a mean or the trial has no score)."""
    return _at_point(result, scenario,
                     lambda c: objective_value(result.metrics, metric, c, scenario),
                     _mean_known, None)


def point_bounds(result: TrialResult, metric: str, scenario: str | None = None) -> Bounds:
    """The 95 % interval of `point_value` (unknown when any part of it is)."""
    return _at_point(result, scenario,
                     lambda c: objective_bounds(result.spread, metric, c, scenario),
                     _mean_bounds, UNKNOWN)


def pareto_indices(points: Sequence[tuple[float, float]],
                   directions: tuple[Direction | str, Direction | str]) -> list[int]:
    """Indices of the non-dominated points (duplicates all stay on the front)."""
    sign = [Direction(d).sign for d in directions]
    keyed = [(p[0] * sign[0], p[1] * sign[1]) for p in points]  # bigger is better on both
    front = []
    for i, (a, b) in enumerate(keyed):
        dominated = any(
            (c >= a and d >= b) and (c > a or d > b) for j, (c, d) in enumerate(keyed) if j != i
        )
        if not dominated:
            front.append(i)
    return front


def pareto_front(
    results: Sequence[TrialResult],
    x: str = DEFAULT_PARETO[0],
    y: str = DEFAULT_PARETO[1],
    *,
    scenario: str | None = None,
) -> list[TrialResult]:
    """Completed trials that no other completed trial beats on both x and y."""
    pts, members = [], []
    for r in results:
        if r.status != COMPLETED:
            continue
        xv, yv = point_value(r, x, scenario), point_value(r, y, scenario)
        if xv is None or yv is None:
            continue
        pts.append((xv, yv))
        members.append(r)
    return [members[i] for i in pareto_indices(pts, (direction(x), direction(y)))]


# ---------------------------------------------------------------------------- one ranking


def pareto_axes(exp: Experiment) -> tuple[str, str]:
    """(throughput, latency): the one pair of axes every Pareto front and trade-off plot uses.
    Throughput: the objective unless it is a latency (then output throughput, per GPU when
    trials hold GPUs). Latency: the objective if it is one, else the first latency SLO,
    else ttft.p99."""
    obj = exp.objective.metric
    is_latency = metric(obj).is_latency
    per_gpu = exp.gpus_per_trial > 0
    tput = obj if not is_latency else (
        "output_throughput_per_gpu" if per_gpu else "output_throughput")
    lat = obj if is_latency else next(
        (s.metric for s in exp.slos if metric(s.metric).is_latency), "ttft.p99")
    return tput, lat


def objective_interval(result: TrialResult) -> Bounds:
    s = result.score
    if s is None:
        return UNKNOWN
    lo, hi = _finite(s.objective_low), _finite(s.objective_high)
    return (lo, hi) if lo is not None and hi is not None else UNKNOWN


def _ties_with(best_: TrialResult, other: TrialResult) -> bool:
    """Is `other` indistinguishable from the best? Intervals overlap; an unknown interval
    ties when its point lies inside the best's interval."""
    lo, hi = objective_interval(best_)
    if lo is None:
        return False
    olo, ohi = objective_interval(other)
    if olo is None:
        v = _finite(other.score.objective) if other.score else None
        return v is not None and lo <= v <= hi
    return olo <= hi and lo <= ohi


COST_TIE_METRIC = "cost_per_million_output_tokens"


def cost_key(result: TrialResult, exp: Experiment) -> float:
    """How cheap a trial is, for breaking a tie (lower first). The cost is the objective's
    own when it is a cost metric, else cost_per_million_output_tokens, at the trial's
    objective point. Cheaper means the lower upper bound of its 95 % interval: what the
    trial costs at worst, so a lucky single sample does not win; a trial measured once (no
    interval) counts its point value. A trial whose cost is unknown (no price, no
    throughput) is never taken as cheap: infinite, it sorts after every priced one (a known
    cost is finite: score's views keep finite numbers only)."""
    name = exp.objective.metric if exp.objective.metric in COST_METRICS else COST_TIE_METRIC
    sc = exp.objective.scenario
    lo, hi = point_bounds(result, name, sc)
    worst = hi if hi is not None else point_value(result, name, sc)
    return math.inf if worst is None else worst


def by_cost(ties: list[TrialResult], exp: Experiment) -> list[TrialResult]:
    """The tie set, cheaper first when the experiment breaks ties by cost; equal costs keep
    the objective's order (the sort is stable)."""
    if exp.objective.tie_break != "cost":
        return ties
    return sorted(ties, key=lambda r: cost_key(r, exp))


@dataclass
class Ranking:
    """The answer of a run, computed once (`ranking`) and only formatted by reports."""

    trials: list[TrialResult]  # best first (see rank_key)
    best: TrialResult | None  # the first feasible trial by point value
    ties: list[TrialResult] = field(default_factory=list)  # best + those within its noise
    spread_known: bool = False  # the best's objective has an interval (>= 2 repeats)
    pareto_axes: tuple[str, str] = DEFAULT_PARETO  # (throughput, latency)
    pareto: list[TrialResult] = field(default_factory=list)
    direction: Direction = Direction.MAXIMIZE
    tie_break: str = "none"  # how the tie set is ordered (objective.tieBreak)

    @property
    def separated(self) -> bool:
        """The best is ahead of every other feasible trial beyond the noise."""
        return self.best is not None and self.spread_known and len(self.ties) == 1

    def rank_of(self, trial_id: str) -> int:
        return next(i for i, r in enumerate(self.trials, 1) if r.trial_id == trial_id)

    @property
    def tie_ids(self) -> list[str]:
        return [r.trial_id for r in self.ties]


def ranking(results: Iterable[TrialResult], exp: Experiment) -> Ranking:
    """Order, best, tie set, feasibility and Pareto front of a run's trials."""
    ordered = rank(results, exp)
    best_ = best(ordered)
    ties: list[TrialResult] = []
    if best_ is not None:
        ties = by_cost([best_] + [r for r in ordered if r is not best_ and is_feasible(r)
                                  and _ties_with(best_, r)], exp)
        best_ = ties[0]
        # the tie set's own slots take its new order; every other trial keeps its place
        tied = {id(r) for r in ties}
        order = iter(ties)
        ordered = [next(order) if id(r) in tied else r for r in ordered]
    axes = pareto_axes(exp)
    front = pareto_front(ordered, axes[0], axes[1], scenario=exp.objective.scenario)
    return Ranking(
        trials=ordered, best=best_, ties=ties,
        spread_known=best_ is not None and objective_interval(best_) != UNKNOWN,
        pareto_axes=axes, pareto=front,
        direction=exp.objective.direction, tie_break=exp.objective.tie_break,
    )
