"""Score one trial against the objective and SLOs (ranking is runner/rankings.py).

Pure functions over measured metrics. SLOs are constraints, never penalties: a trial is
feasible or not, and an infeasible one carries how far (relative to each limit) it missed.

How the objective's point is chosen (`objective.concurrency`):
- a level: the value at that level; feasibility at that level.
- best_feasible: the best value among levels where every SLO holds; when none holds, the
  level with the least violation (the trial is infeasible).
- mean: the mean over levels; feasible only if every level meets every SLO.
- max: the highest concurrency level measured (the heaviest load).

Scenarios: with `objective.scenario` set, only that scenario counts. Otherwise the objective
is averaged over scenarios, and an SLO must hold in every scenario (its worst value counts).

Noise (runner.stats): every value may carry a 95 % interval. An SLO's verdict comes from it
(`Slo.judge`): met (the whole interval inside the limit), violated (wholly past it) or
uncertain (straddling it, or a statistic judged from fewer requests than it needs: p99
needs 100). `feasible` stays the point estimate's answer; `verdict` says how sure it is.

Ranking, the tie set and the Pareto front live in runner/rankings.py. What an SLO or metric
means (its bound, statistic, direction) is asked of tuneops.metrics.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from tuneops.runner.results import Metrics, Score, SloCheck, TrialResult

from tuneops.metrics import Direction, Slo, TrialVerdict, Verdict, metric
from tuneops.spec import Experiment, LevelChoice, Objective

# spread[scenario][concurrency][metric] -> {"mean", "low", "high", "n", "method"} (stats.Spread)
SpreadMap = dict[str, dict[int, dict[str, dict[str, Any]]]]
Bounds = tuple[float | None, float | None]
UNKNOWN: Bounds = (None, None)


def _finite(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def direction(name: str) -> Direction:
    """Which way a metric is better (tuneops.metrics); an unknown name is refused."""
    return metric(name).direction


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
    return slo.worst(vals)


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
    return (slo.worst(b[0] for b in found), slo.worst(b[1] for b in found))


def slo_requests(metrics: Metrics, spread: SpreadMap | None, slo: Slo, level: int,
                 scenario: str | None) -> int | None:
    """How many requests an SLO's statistic is judged from (fewest over scenarios): the
    pooled requests it was bootstrapped from, else completed requests x repeats. None for
    a whole-run value (a throughput)."""
    if slo.statistic is None:
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
    """One SLO at one point, judged by `Slo.judge`: relative violation (unmeasured is
    infinitely violated: unknown is never feasible) and the verdict from the interval."""
    j = slo.judge(value, *bounds, requests=requests)
    lo, hi = bounds
    return SloCheck(slo.metric, float(slo.limit), slo.bound, value, j.violation,
                    lo if value is not None else None, hi if value is not None else None,
                    j.verdict, requests, j.min_requests)


def checks_at(
    metrics: Metrics, slos: Sequence[Slo], level: int, scenario: str | None,
    spread: SpreadMap | None = None,
) -> list[SloCheck]:
    return [check_slo(s, slo_value(metrics, s, level, scenario),
                      slo_bounds(spread, s, level, scenario),
                      slo_requests(metrics, spread, s, level, scenario)) for s in slos]


def trial_verdict(objective: float | None, checks: Sequence[SloCheck]) -> TrialVerdict:
    """feasible | uncertain | infeasible from the checks' verdicts (no value: infeasible)."""
    if objective is None or any(c.verdict is Verdict.VIOLATED for c in checks):
        return TrialVerdict.INFEASIBLE
    if any(c.verdict is Verdict.UNCERTAIN for c in checks):
        return TrialVerdict.UNCERTAIN
    return TrialVerdict.FEASIBLE


def _total(checks: Iterable[SloCheck]) -> float:
    return sum(c.violation for c in checks)


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
    dirn = objective.direction
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
    if mode == LevelChoice.HIGHEST:
        return single(lv[-1] if lv else None)
    if mode == LevelChoice.MEAN:
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
        if best is None or dirn.better(v, objective_value(metrics, obj, best, sc)):
            best = c
    if best is not None:
        return single(best)
    if not lv:
        return single(None)

    # None feasible: report the level closest to feasibility (ties: the better objective).
    def closeness(c: int) -> tuple[float, float]:
        v = objective_value(metrics, obj, c, sc)
        tie = math.inf if v is None else dirn.sort_key(v)
        return (_total(per_level[c]), tie)

    return single(min(lv, key=closeness))


def score_trial(exp: Experiment, metrics: Metrics, spread: SpreadMap | None = None) -> Score:
    return score_metrics(metrics, exp.objective, exp.slos, spread)


def score_result(exp: Experiment, result: TrialResult) -> Score:
    """A measured trial's score, from its metrics and their spread."""
    return score_trial(exp, result.metrics, result.spread)


def constraint(score: Score | None) -> float:
    """The one constraint the Bayesian searcher tells Optuna (<= 0: feasible): 0 when every
    SLO holds at the objective's point, else the relative violation (`Score.violation`,
    infinite when an SLO went unmeasured), 1 when nothing says how far. Optuna's
    constrained TPE only uses feasibility and the summed positive excess, so per-SLO slack
    would tell it nothing more."""
    if score is None:
        return 1.0
    if score.feasible and score.objective is not None:
        return 0.0
    return score.violation or 1.0

