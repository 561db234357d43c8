"""Score trials against the objective and SLOs; rank them; find the Pareto front.

Pure functions over measured metrics. SLOs are constraints, never penalties: a trial is
feasible or not, and an infeasible one carries how far (relative to each limit) it missed.
Ranking puts feasible trials first (by objective, in its direction), then infeasible ones
(least violation first), then failed ones — so a failure can never outrank a measurement,
whichever way the objective points.

How the objective's point is chosen (`objective.concurrency`):
- a level: the value at that level; feasibility at that level.
- best_feasible: the best value among levels where every SLO holds; when none holds, the
  level with the least violation (the trial is infeasible).
- mean: the mean over levels; feasible only if every level meets every SLO.
- max: the highest concurrency level measured (the heaviest load).

Scenarios: with `objective.scenario` set, only that scenario counts. Otherwise the objective
is averaged over scenarios, and an SLO must hold in every scenario (its worst value counts).

Noise (runner.stats): every value may carry a 95 % interval. An SLO's verdict comes from it:
met (the whole interval inside the limit), violated (wholly past it) or uncertain
(straddling it, or a percentile judged from fewer requests than it needs: p99 needs 100).
`feasible` stays the point estimate's answer; `verdict` says how sure it is. Trials are
ordered by their point values, but `ranking` groups the best with every feasible trial whose
objective interval overlaps its own: the tie set, which reports name instead of one winner.

`ranking` is the one place trials are ordered: it returns the order, the best, its tie set,
the Pareto axes and front. Every report writer formats that value and ranks nothing.
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
    FEASIBLE,
    INFEASIBLE,
    MET,
    UNCERTAIN,
    VIOLATED,
    Metrics,
    Score,
    SloCheck,
    TrialResult,
)

from tuneops.metrics import LATENCIES, METRICS, min_requests
from tuneops.spec import Experiment, Objective, Slo

# Among failures: the ones that got furthest come first (the engine served, then it started).
FAILED_ORDER = {FAILED_BENCHMARK: 0, FAILED_INFRA: 1, FAILED_CONFIG: 2, CANCELLED: 3}
DEFAULT_PARETO = ("output_throughput_per_gpu", "ttft.p99")
# spread[scenario][concurrency][metric] -> {"mean", "low", "high", "n", "method"} (stats.Spread)
SpreadMap = dict[str, dict[int, dict[str, dict[str, Any]]]]
Bounds = tuple[float | None, float | None]
UNKNOWN: Bounds = (None, None)


def _finite(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def direction(metric: str) -> str:
    return METRICS.get(metric, "maximize")


# ---------------------------------------------------------------------------- views


def levels(metrics: Metrics, scenario: str | None = None) -> list[int]:
    """Concurrency levels measured (in the given scenario, or in any)."""
    if scenario is not None:
        return sorted(metrics.get(scenario, {}))
    return sorted({c for by_c in metrics.values() for c in by_c})


def objective_value(
    metrics: Metrics, metric: str, level: int, scenario: str | None
) -> float | None:
    """The metric at a level: that scenario's, or the mean over scenarios that measured it."""
    if scenario is not None:
        return _finite(metrics.get(scenario, {}).get(level, {}).get(metric))
    vals = [_finite(by_c.get(level, {}).get(metric)) for by_c in metrics.values()]
    vals = [v for v in vals if v is not None]
    return sum(vals) / len(vals) if vals else None


def slo_value(metrics: Metrics, slo: Slo, level: int, scenario: str | None) -> float | None:
    """The SLO metric at a level: that scenario's, or the worst over every scenario (a
    scenario that did not measure it makes the value unknown)."""
    scenarios = [scenario] if scenario is not None else sorted(metrics)
    vals = [_finite(metrics.get(s, {}).get(level, {}).get(slo.metric)) for s in scenarios]
    if not vals or any(v is None for v in vals):
        return None
    return max(vals) if slo.max is not None else min(vals)


def _bounds(spread: SpreadMap | None, scenario: str, level: int, metric: str) -> Bounds:
    sp = ((spread or {}).get(scenario) or {}).get(level, {}).get(metric)
    if not sp:
        return UNKNOWN
    lo, hi = _finite(sp.get("low")), _finite(sp.get("high"))
    return (lo, hi) if lo is not None and hi is not None else UNKNOWN


def objective_bounds(spread: SpreadMap | None, metric: str, level: int,
                     scenario: str | None) -> Bounds:
    """The objective's interval at a level: that scenario's, or the mean of the scenarios'
    bounds (unknown when any scenario's is)."""
    if scenario is not None:
        return _bounds(spread, scenario, level, metric)
    found = [_bounds(spread, sc, level, metric) for sc in sorted(spread or {})
             if level in (spread or {})[sc]]
    if not found or any(b == UNKNOWN for b in found):
        return UNKNOWN
    return (sum(b[0] for b in found) / len(found), sum(b[1] for b in found) / len(found))


def slo_bounds(spread: SpreadMap | None, slo: Slo, level: int, scenario: str | None) -> Bounds:
    """The SLO metric's interval, worst scenario's bounds (unknown when any is unknown)."""
    scenarios = [scenario] if scenario is not None else sorted(spread or {})
    found = [_bounds(spread, sc, level, slo.metric) for sc in scenarios]
    if not found or any(b == UNKNOWN for b in found):
        return UNKNOWN
    pick = max if slo.max is not None else min
    return (pick(b[0] for b in found), pick(b[1] for b in found))


def slo_requests(metrics: Metrics, spread: SpreadMap | None, slo: Slo, level: int,
                 scenario: str | None) -> int | None:
    """How many requests a percentile SLO is judged from (fewest over scenarios): the
    pooled requests it was bootstrapped from, else completed requests x repeats."""
    if slo.metric.split(".")[0] not in LATENCIES:
        return None
    scenarios = [scenario] if scenario is not None else sorted(metrics)
    counts = []
    for sc in scenarios:
        sp = ((spread or {}).get(sc) or {}).get(level, {})
        own = sp.get(slo.metric) or {}
        if str(own.get("method", "")).startswith("bootstrap"):
            counts.append(int(own["n"]))
            continue
        done = _finite(metrics.get(sc, {}).get(level, {}).get("num_completed_requests"))
        if done is None:
            return None
        reps = int((sp.get("num_completed_requests") or {}).get("n", 1))
        counts.append(int(round(done * reps)))
    return min(counts) if counts else None


def check_slo(slo: Slo, value: float | None, bounds: Bounds = UNKNOWN,
              requests: int | None = None) -> SloCheck:
    """Relative violation: how far past the limit, as a fraction of it (absolute if limit 0).
    An unmeasured value is an infinite violation: unknown is never feasible. The verdict
    uses the interval when there is one, and is uncertain for a percentile judged from
    fewer requests than it needs."""
    bound, limit = ("max", slo.max) if slo.max is not None else ("min", slo.min)
    limit = float(limit)
    stat = slo.metric.partition(".")[2]
    need = min_requests(stat) if slo.metric.split(".")[0] in LATENCIES else None
    if value is None:
        return SloCheck(slo.metric, limit, bound, None, math.inf, verdict=VIOLATED,
                        requests=requests, min_requests=need)
    excess = value - limit if bound == "max" else limit - value
    violation = max(excess, 0.0) / (abs(limit) if limit else 1.0)
    lo, hi = bounds
    inside = (lambda v: v <= limit) if bound == "max" else (lambda v: v >= limit)
    if lo is None or hi is None:
        verdict = MET if violation == 0.0 else VIOLATED
    elif inside(lo) and inside(hi):
        verdict = MET
    elif not inside(lo) and not inside(hi):
        verdict = VIOLATED
    else:
        verdict = UNCERTAIN
    if need is not None and requests is not None and requests < need and verdict != VIOLATED:
        verdict = UNCERTAIN
    return SloCheck(slo.metric, limit, bound, value, violation, lo, hi, verdict, requests, need)


def checks_at(
    metrics: Metrics, slos: Sequence[Slo], level: int, scenario: str | None,
    spread: SpreadMap | None = None,
) -> list[SloCheck]:
    return [check_slo(s, slo_value(metrics, s, level, scenario),
                      slo_bounds(spread, s, level, scenario),
                      slo_requests(metrics, spread, s, level, scenario)) for s in slos]


def trial_verdict(objective: float | None, checks: Sequence[SloCheck]) -> str:
    """feasible | uncertain | infeasible from the checks' verdicts (no value: infeasible)."""
    if objective is None or any(c.verdict == VIOLATED for c in checks):
        return INFEASIBLE
    if any(c.verdict == UNCERTAIN for c in checks):
        return UNCERTAIN
    return FEASIBLE


def _total(checks: Iterable[SloCheck]) -> float:
    return sum(c.violation for c in checks)


def _better(a: float, b: float, dirn: str) -> bool:
    return a > b if dirn == "maximize" else a < b


# ---------------------------------------------------------------------------- scoring


def score_metrics(metrics: Metrics, objective: Objective, slos: Sequence[Slo],
                  spread: SpreadMap | None = None) -> Score:
    """Score one trial's metrics[scenario][concurrency] (with their spread when known)."""
    s = _score_points(metrics, objective, slos, spread)
    return replace(s, verdict=trial_verdict(s.objective, s.slo_checks))


def _objective_n(spread: SpreadMap | None, metric: str, level: int | None,
                 scenario: str | None) -> int:
    scenarios = [scenario] if scenario is not None else sorted(spread or {})
    ns = [int(((spread or {}).get(sc) or {}).get(c, {}).get(metric, {}).get("n", 1))
          for sc in scenarios
          for c in ([level] if level is not None else sorted((spread or {}).get(sc) or {}))]
    return min(ns) if ns else 1


def _score_points(metrics: Metrics, objective: Objective, slos: Sequence[Slo],
                  spread: SpreadMap | None) -> Score:
    dirn = objective.direction or direction(objective.metric)
    sc = objective.scenario
    lv = levels(metrics, sc)
    per_level = {c: checks_at(metrics, slos, c, sc, spread) for c in lv}
    feasible_levels = [c for c in lv if all(ch.met for ch in per_level[c])]
    max_feasible = max(feasible_levels) if feasible_levels else None
    obj = objective.metric

    def single(level: int | None) -> Score:
        if level is None or level not in per_level:
            checks = [check_slo(s, None) for s in slos]
            return Score(None, False, _total(checks), level, max_feasible, checks)
        checks = per_level[level]
        value = objective_value(metrics, obj, level, sc)
        ok = value is not None and all(ch.met for ch in checks)
        lo, hi = objective_bounds(spread, obj, level, sc)
        return Score(value, ok, 0.0 if ok else _total(checks), level, max_feasible, checks,
                     lo, hi, _objective_n(spread, obj, level, sc))

    mode = objective.concurrency
    if isinstance(mode, int) or (isinstance(mode, str) and mode.isdigit()):
        return single(int(mode))
    if mode == "max":
        return single(lv[-1] if lv else None)
    if mode == "mean":
        vals = [objective_value(metrics, obj, c, sc) for c in lv]
        vals = [v for v in vals if v is not None]
        value = sum(vals) / len(vals) if vals else None
        if not lv:
            return single(None)
        worst = max(lv, key=lambda c: _total(per_level[c]))
        checks = per_level[worst]
        ok = value is not None and len(feasible_levels) == len(lv)
        bounds = [objective_bounds(spread, obj, c, sc) for c in lv]
        lo = hi = None
        if bounds and UNKNOWN not in bounds:
            lo = sum(b[0] for b in bounds) / len(bounds)
            hi = sum(b[1] for b in bounds) / len(bounds)
        return Score(value, ok, 0.0 if ok else _total(checks), None, max_feasible, checks,
                     lo, hi, _objective_n(spread, obj, None, sc))
    # best_feasible (the default)
    best: int | None = None
    for c in feasible_levels:
        v = objective_value(metrics, obj, c, sc)
        if v is None:
            continue
        if best is None or _better(v, objective_value(metrics, obj, best, sc), dirn):
            best = c
    if best is not None:
        return single(best)
    if not lv:
        return single(None)

    # None feasible: report the level closest to feasibility (ties: the better objective).
    def closeness(c: int) -> tuple[float, float]:
        v = objective_value(metrics, obj, c, sc)
        tie = math.inf if v is None else (-v if dirn == "maximize" else v)
        return (_total(per_level[c]), tie)

    return single(min(lv, key=closeness))


def score_trial(exp: Experiment, metrics: Metrics, spread: SpreadMap | None = None) -> Score:
    return score_metrics(metrics, exp.objective, exp.slos, spread)


def score_result(exp: Experiment, result: TrialResult) -> Score:
    """A measured trial's score, from its metrics and their spread."""
    return score_trial(exp, result.metrics, result.spread)


def constraints_value(score: Score | None) -> list[float]:
    """Optuna-style constraints, one per SLO: ≤ 0 when met (how much slack is left, relative
    to the limit), > 0 by the relative violation. No score at all: one violated constraint."""
    if score is None:
        return [1.0]
    out = []
    for ch in score.slo_checks:
        if ch.value is None or ch.violation is None or not math.isfinite(ch.violation):
            out.append(1e9)
            continue
        excess = ch.value - ch.limit if ch.bound == "max" else ch.limit - ch.value
        out.append(excess / (abs(ch.limit) if ch.limit else 1.0))
    if score.objective is None:
        out.append(1e9)
    return out or [0.0 if score.feasible else 1.0]


# ---------------------------------------------------------------------------- ranking


def _violation(score: Score) -> float:
    v = _finite(score.violation)
    return math.inf if v is None else v


def rank_key(result: TrialResult, dirn: str) -> tuple:
    """Sort key: (group, primary, secondary, index). Lower sorts first."""
    s = result.score
    tail = (result.index, result.trial_id)
    if result.status != COMPLETED:
        return (3, FAILED_ORDER.get(result.status, 9), 0.0) + tail
    if s is None:
        return (2, math.inf, 0.0) + tail
    obj = _finite(s.objective)
    signed = math.inf if obj is None else (-obj if dirn == "maximize" else obj)
    if s.feasible and obj is not None:
        return (0, signed, 0.0) + tail
    return (1, _violation(s), signed) + tail


def rank(results: Iterable[TrialResult], exp: Experiment) -> list[TrialResult]:
    """Best first. Completed trials without a score are scored here (results are copied,
    never mutated)."""
    dirn = exp.objective.direction or direction(exp.objective.metric)
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


def pareto_indices(points: Sequence[tuple[float, float]], directions: tuple[str, str]) -> list[int]:
    """Indices of the non-dominated points (duplicates all stay on the front)."""
    sign = [1.0 if d == "maximize" else -1.0 for d in directions]
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
    is_latency = obj.split(".")[0] in LATENCIES
    per_gpu = exp.gpus_per_trial > 0
    tput = obj if not is_latency else (
        "output_throughput_per_gpu" if per_gpu else "output_throughput")
    lat = obj if is_latency else next(
        (s.metric for s in exp.slos if s.metric.split(".")[0] in LATENCIES), "ttft.p99")
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


@dataclass
class Ranking:
    """The answer of a run, computed once (`ranking`) and only formatted by reports."""

    trials: list[TrialResult]  # best first (see rank_key)
    best: TrialResult | None  # the first feasible trial by point value
    ties: list[TrialResult] = field(default_factory=list)  # best + those within its noise
    spread_known: bool = False  # the best's objective has an interval (>= 2 repeats)
    pareto_axes: tuple[str, str] = DEFAULT_PARETO  # (throughput, latency)
    pareto: list[TrialResult] = field(default_factory=list)
    direction: str = "maximize"

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
        ties = [best_] + [r for r in ordered if r is not best_ and is_feasible(r)
                          and _ties_with(best_, r)]
    axes = pareto_axes(exp)
    front = pareto_front(ordered, axes[0], axes[1], scenario=exp.objective.scenario)
    return Ranking(
        trials=ordered, best=best_, ties=ties,
        spread_known=best_ is not None and objective_interval(best_) != UNKNOWN,
        pareto_axes=axes, pareto=front,
        direction=exp.objective.direction or direction(exp.objective.metric),
    )
