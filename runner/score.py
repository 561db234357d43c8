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
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import replace

from tuneops.runner.results import (
    CANCELLED,
    COMPLETED,
    FAILED_BENCHMARK,
    FAILED_CONFIG,
    FAILED_INFRA,
    Metrics,
    Score,
    SloCheck,
    TrialResult,
)

from tuneops.metrics import METRICS
from tuneops.spec import Experiment, Objective, Slo

# Among failures: the ones that got furthest come first (the engine served, then it started).
FAILED_ORDER = {FAILED_BENCHMARK: 0, FAILED_INFRA: 1, FAILED_CONFIG: 2, CANCELLED: 3}
DEFAULT_PARETO = ("output_throughput_per_gpu", "ttft.p99")


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


def check_slo(slo: Slo, value: float | None) -> SloCheck:
    """Relative violation: how far past the limit, as a fraction of it (absolute if limit 0).
    An unmeasured value is an infinite violation: unknown is never feasible."""
    bound, limit = ("max", slo.max) if slo.max is not None else ("min", slo.min)
    limit = float(limit)
    if value is None:
        return SloCheck(slo.metric, limit, bound, None, math.inf)
    excess = value - limit if bound == "max" else limit - value
    violation = max(excess, 0.0) / (abs(limit) if limit else 1.0)
    return SloCheck(slo.metric, limit, bound, value, violation)


def checks_at(
    metrics: Metrics, slos: Sequence[Slo], level: int, scenario: str | None
) -> list[SloCheck]:
    return [check_slo(s, slo_value(metrics, s, level, scenario)) for s in slos]


def _total(checks: Iterable[SloCheck]) -> float:
    return sum(c.violation for c in checks)


def _better(a: float, b: float, dirn: str) -> bool:
    return a > b if dirn == "maximize" else a < b


# ---------------------------------------------------------------------------- scoring


def score_metrics(metrics: Metrics, objective: Objective, slos: Sequence[Slo]) -> Score:
    """Score one trial's metrics[scenario][concurrency]."""
    dirn = objective.direction or direction(objective.metric)
    sc = objective.scenario
    lv = levels(metrics, sc)
    per_level = {c: checks_at(metrics, slos, c, sc) for c in lv}
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
        return Score(value, ok, 0.0 if ok else _total(checks), level, max_feasible, checks)

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
        return Score(value, ok, 0.0 if ok else _total(checks), None, max_feasible, checks)
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


def score_trial(exp: Experiment, metrics: Metrics) -> Score:
    return score_metrics(metrics, exp.objective, exp.slos)


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
            r = replace(r, score=score_trial(exp, r.metrics))
        scored.append(r)
    return sorted(scored, key=lambda r: rank_key(r, dirn))


def is_feasible(result: TrialResult) -> bool:
    return (result.status == COMPLETED and result.score is not None and result.score.feasible
            and _finite(result.score.objective) is not None)


def best(results: Sequence[TrialResult]) -> TrialResult | None:
    """The first feasible trial of an already ranked list (see `rank`), or None."""
    return next((r for r in results if is_feasible(r)), None)


# ---------------------------------------------------------------------------- Pareto


def point_value(result: TrialResult, metric: str, scenario: str | None = None) -> float | None:
    """A trial's metric at its objective's point (its scored level; the mean over levels when
    the objective is a mean or the trial has no score)."""
    if not result.metrics:
        return None
    level = result.score.concurrency if result.score is not None else None
    if level is not None:
        return objective_value(result.metrics, metric, level, scenario)
    vals = [objective_value(result.metrics, metric, c, scenario)
            for c in levels(result.metrics, scenario)]
    vals = [v for v in vals if v is not None]
    return sum(vals) / len(vals) if vals else None


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
