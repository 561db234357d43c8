"""Bayesian search: Optuna's TPE through its ask/tell API.

How outcomes reach the sampler (Optuna's constraint contract: a value <= 0 means
satisfied, set on the trial before `tell` — `Trial.set_constraint` from Optuna 5, a user
attribute read by the sampler's `constraints_func` before that):
- completed and scored: COMPLETE with the objective; constraint = `score.constraint`
  (0 if every SLO is met, else the scorer's relative SLO violation) — TPE ranks
  infeasible trials below feasible ones and among themselves by violation.
- measured but no objective value: PRUNED with its violation (no value to rank by).
- failed_config (OOM, rejected flag): PRUNED with a huge violation, so TPE learns to
  avoid the region instead of spending the failed-trial budget there.
- failed_infra / failed_benchmark / no score: FAIL — not the configuration's fault; TPE
  ignores FAIL trials.
- a point breaking a constraint between parameters: PRUNED with the huge violation, then
  TPE is asked again (the sampler learns the infeasible region without running it).
- a point seen already (finished or pending): FAIL and asked again; with constant_liar
  TPE also steers pending points apart. After a few tries, an unseen feasible point is
  drawn at random and handed to Optuna with enqueue_trial.
Results from an earlier run are fed the same way (enqueue_trial + ask + tell).

Noise: the value told is the objective's mean over repeats (TPE models a point per trial);
its 95 % interval, the number of measurements and the SLO verdict are kept on the Optuna
trial as user attributes (`objective_low`, `objective_high`, `measurements`, `verdict`), so
the study's records say how sure each value is.

Pruning (`search.pruning`): after a trial's first concurrency level, its objective there is
reported to Optuna as the intermediate value of step 0, and Optuna's PercentilePruner
decides whether it is far below the earlier trials' first levels; a pruned trial skips its
other levels and is told PRUNED (TPE ranks it by that intermediate value).
"""

from __future__ import annotations

import math
import random
import warnings
from decimal import Decimal
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState
from tuneops.runner.bench.levels import is_pruned
from tuneops.runner.results import FAILED_CONFIG, TrialResult
from tuneops.runner.score import constraint
from tuneops.runner.search.base import SamplingSearcher, is_failure
from tuneops.runner.search.domain import finite_values, sample_point, snap

from tuneops.plan import Trial, make_trial
from tuneops.spec import Param

CONSTRAINTS_ATTR = "constraints"
SET_CONSTRAINT = hasattr(optuna.trial.Trial, "set_constraint")  # Optuna >= 5
UNRUNNABLE = 1e6  # constraint value for points that cannot run at all
TPE_TRIES = 20  # per proposal, before falling back to an unseen random point
RANDOM_DRAWS = 1000
_PRIMITIVE = (type(None), bool, int, float, str)


def _constraints(trial: optuna.trial.FrozenTrial) -> list[float]:
    return list(trial.user_attrs.get(CONSTRAINTS_ATTR, [0.0]))


def startup_trials(max_trials: int | None) -> int:
    """Random trials before TPE models: Optuna's 10, fewer for small budgets (a third)."""
    return 10 if max_trials is None else min(10, max(3, max_trials // 3))


class _Dimension:
    """One parameter as an Optuna distribution, and the mapping both ways."""

    def __init__(self, param: Param) -> None:
        self.param = param
        self.choices: tuple[Any, ...] | None = None
        self.by_index = False
        if param.kind in ("values", "bool"):
            self.choices = tuple(param.values or ())
        elif param.log and param.step and (param.kind == "float" or int(param.step) > 1):
            self.choices = finite_values(param)  # Optuna has no log scale with a step
        if self.choices is not None:
            self.by_index = not all(isinstance(c, _PRIMITIVE) for c in self.choices)
            options = range(len(self.choices)) if self.by_index else self.choices
            self.distribution: BaseDistribution = CategoricalDistribution(tuple(options))
            return
        low, high, step = param.low, param.high, param.step
        if step:  # Optuna wants high on the lattice, computed in decimal: in binary floats
            # 0.6 + 11 * 0.03 is 0.9299999999999999, off Optuna's own Decimal lattice (warns)
            d_low, d_step = Decimal(str(low)), Decimal(str(step))
            top = d_low + ((Decimal(str(high)) - d_low) // d_step) * d_step
            high = int(top) if param.kind == "int" else float(top)
        if param.kind == "int":
            self.distribution = IntDistribution(
                int(low), int(high), step=int(step or 1), log=param.log
            )
        else:
            self.distribution = FloatDistribution(float(low), float(high), step=step, log=param.log)

    def value(self, raw: Any) -> Any:
        if self.choices is not None:
            return self.choices[raw] if self.by_index else raw
        return snap(self.param, raw)

    def raw(self, value: Any) -> Any:
        if self.by_index:
            return self.choices.index(value)
        return value


def make_pruner(exp) -> optuna.pruners.BasePruner:
    """Optuna's PercentilePruner on the first level when asked for, else none."""
    s = exp.search
    if s.pruning_percentile is None:
        return optuna.pruners.NopPruner()
    return optuna.pruners.PercentilePruner(
        s.pruning_percentile, n_startup_trials=s.pruning_startup_trials, n_warmup_steps=0)


class BayesianSearcher(SamplingSearcher):
    method = "bayesian"

    def __init__(self, exp, plan, *, max_trials=None) -> None:
        super().__init__(exp, plan, max_trials=max_trials)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.dims = {p.name: _Dimension(p) for p in exp.parameters}
        self.distributions = {name: d.distribution for name, d in self.dims.items()}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            sampler = optuna.samplers.TPESampler(
                seed=self.seed,
                n_startup_trials=startup_trials(self.max_trials),
                multivariate=True,
                constant_liar=True,
                **({} if SET_CONSTRAINT else {"constraints_func": _constraints}),
            )
        self.study = optuna.create_study(direction=exp.objective.direction, sampler=sampler,
                                         pruner=make_pruner(exp))
        b = exp.benchmark
        # a trace replay has no rates listed (its one point is the trace's own rate): no level
        self._first_level = min(b.load.rates if b.load is not None else b.concurrency,
                                default=None)
        self._scenario = exp.objective.scenario or exp.benchmark.traffic_scenarios[0]
        self.rng = random.Random(self.seed)
        self._running: dict[str, optuna.trial.Trial] = {}  # trial id -> its Optuna trial

    # -- proposing ----------------------------------------------------------------------
    def _ask_optuna(self) -> tuple[optuna.trial.Trial, dict[str, Any]]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            ot = self.study.ask(self.distributions)
        return ot, {name: d.value(ot.params[name]) for name, d in self.dims.items()}

    def _propose(self) -> Trial | None:
        if self.space_exhausted():
            return None
        for _ in range(TPE_TRIES):
            ot, point = self._ask_optuna()
            if not self.accept(point):
                self._finish(ot, TrialState.PRUNED, constraint=UNRUNNABLE)
                continue
            trial = make_trial(self.exp, point, self._next_index)
            if self.seen(trial.id):
                self._finish(ot, TrialState.FAIL)
                continue
            self._running[trial.id] = ot
            return trial
        point = self._unseen_point()
        if point is None:
            return None
        trial = make_trial(self.exp, point, self._next_index)
        self._running[trial.id] = self._adopt(point)
        return trial

    def _unseen_point(self) -> dict[str, Any] | None:
        if self.feasible is not None:
            left = self.unseen_feasible()
            return self.rng.choice(left) if left else None
        for _ in range(RANDOM_DRAWS):
            point = sample_point(self.exp.parameters, self.rng)
            if self.accept(point) and not self.seen(make_trial(self.exp, point, 0).id):
                return point
        return None

    def _adopt(self, point: dict[str, Any]) -> optuna.trial.Trial:
        """An Optuna trial for a point chosen outside TPE (fallback, or an earlier run's)."""
        raw = {name: d.raw(point[name]) for name, d in self.dims.items()}
        self.study.enqueue_trial(raw, skip_if_exists=False)
        ot, _ = self._ask_optuna()
        return ot

    # -- pruning ------------------------------------------------------------------------
    def should_prune(self, trial_id: str, scenario: str, level: int,
                     values: dict[str, float]) -> bool:
        """Report the first level's objective as step 0 and ask Optuna's pruner."""
        if self.exp.search.pruning_percentile is None or scenario != self._scenario \
                or level != self._first_level:
            return False
        ot = self._running.get(trial_id)
        value = values.get(self.exp.objective.metric)
        if ot is None or value is None or not math.isfinite(value):
            return False
        ot.report(float(value), step=0)
        return ot.should_prune()

    # -- learning -----------------------------------------------------------------------
    def _finish(
        self,
        ot: optuna.trial.Trial,
        state: TrialState,
        value: float | None = None,
        constraint: float | None = None,
    ) -> None:
        if constraint is not None and SET_CONSTRAINT:
            ot.set_constraint("violation", float(constraint))
        elif constraint is not None:
            ot.set_user_attr(CONSTRAINTS_ATTR, [float(constraint)])
        self.study.tell(ot, value if state == TrialState.COMPLETE else None, state=state)

    def _learn(self, result: TrialResult, trial: Trial | None) -> None:
        ot = self._running.pop(result.trial_id, None)
        if ot is None:  # finished by an earlier run: teach it to the study too
            try:
                ot = self._adopt(result.params)
            except (KeyError, ValueError):
                return  # params outside this space (the experiment changed): nothing to learn
        score = result.score
        if result.status == FAILED_CONFIG:
            self._finish(ot, TrialState.PRUNED, constraint=UNRUNNABLE)
        elif is_failure(result):
            self._finish(ot, TrialState.FAIL)
        elif any(is_pruned(note) for note in result.not_run):
            self._finish(ot, TrialState.PRUNED)
        elif score.objective is None or not math.isfinite(score.objective):
            self._finish(ot, TrialState.PRUNED, constraint=constraint(score))
        else:
            record_uncertainty(ot, result)
            self._finish(ot, TrialState.COMPLETE, score.objective, constraint(score))


def record_uncertainty(ot: optuna.trial.Trial, result: TrialResult) -> None:
    """Keep the told mean's interval with the Optuna trial (TPE itself uses the mean)."""
    s = result.score
    ot.set_user_attr("objective_low", s.objective_low)
    ot.set_user_attr("objective_high", s.objective_high)
    ot.set_user_attr("measurements", int(s.objective_n or 1))
    ot.set_user_attr("verdict", s.verdict or None)
