"""A search run whose measurement is a function: the search benchmark's and tests' driver.

Everything but the measurement is tuneops' own: the searcher (`make_searcher`, ask/tell),
the walk over load levels with early stop and the searcher's pruner (`levels.walk`), the
scorer (`score.score_trial`) and the failure kinds the searchers learn from. Only
genai-bench against an engine is replaced, by `measure(args, scenario, level)`: the
metrics one level would measure, or the start-up failure (a string) the engine would hit.
Trials of one round (`parallel` of them) are asked before any is told, as the runner does
with `parallelTrials`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tuneops.runner import score
from tuneops.runner.bench import levels as lv
from tuneops.runner.results import COMPLETED, FAILED_CONFIG, TrialResult
from tuneops.runner.search import Searcher, make_searcher

from tuneops.metrics import Verdict
from tuneops.plan import Trial, make_plan
from tuneops.spec import Experiment

# (trial args, scenario, level) -> metrics, or why the engine did not start
Measure = Callable[[dict[str, Any], str, int], "Mapping[str, float] | str"]


@dataclass(frozen=True)
class Measured:
    """One finished trial and the round (1-based) it ran in."""

    result: TrialResult
    round: int


def measure_trial(exp: Experiment, trial: Trial, measure: Measure,
                  prune: lv.Prune | None = None) -> TrialResult:
    """One trial as the runner would record it, with `measure` standing in for genai-bench."""
    failed: list[str] = []

    def level(scenario: str, c: int) -> Mapping[str, float] | None:
        got = measure(trial.args, scenario, c)
        if isinstance(got, str):
            failed.append(got)
            return None
        metrics.setdefault(scenario, {})[c] = dict(got)
        return got

    def lost(scenario: str, c: int) -> list:
        here = {scenario: {c: metrics[scenario][c]}}
        checks = score.checks_at(here, [s for s in exp.slos if s.can_stop_early], c, scenario)
        stoppable = [s for s in exp.slos if s.can_stop_early]
        return [s for s, ch in zip(stoppable, checks, strict=True)
                if ch.value is not None and ch.verdict is Verdict.VIOLATED]

    metrics: dict[str, dict[int, dict[str, float]]] = {}
    scenarios = exp.benchmark.traffic_scenarios
    first = measure(trial.args, scenarios[0], lv.ascending(exp.benchmark.concurrency)[0])
    if isinstance(first, str):  # the engine did not start: nothing was measured
        return TrialResult(trial.id, trial.index, trial.params, trial.args, FAILED_CONFIG,
                           reason=first)
    _, not_run, _ = lv.walk(exp, level, lost,
                            (lambda s, c, v: prune(trial.id, s, c, v)) if prune else None)
    result = TrialResult(trial.id, trial.index, trial.params, trial.args, COMPLETED,
                         metrics=metrics, simulated=True)
    result.not_run = list(not_run)
    result.score = score.score_trial(exp, metrics)
    return result


def run_search(exp: Experiment, measure: Measure, *, parallel: int = 1,
               stop: Callable[[list[Measured]], bool] | None = None,
               searcher: Searcher | None = None) -> list[Measured]:
    """Trials in the order they finished, until the searcher (the experiment's, unless
    one is given) is done or `stop` says so."""
    searcher = searcher or make_searcher(exp, make_plan(exp))
    out: list[Measured] = []
    rounds = 0
    while not searcher.done:
        batch = []
        while len(batch) < max(parallel, 1) and (trial := searcher.ask()) is not None:
            batch.append(trial)
        if not batch:
            break
        rounds += 1
        for trial in batch:
            result = measure_trial(exp, trial, measure, searcher.should_prune)
            searcher.tell(result)
            out.append(Measured(result, rounds))
        if stop is not None and stop(out):
            break
    return out
