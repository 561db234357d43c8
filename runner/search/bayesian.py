"""Bayesian search: an Optuna sampler (`search.sampler`, runner/search/samplers.py)
through its ask/tell API.

How outcomes reach the sampler (Optuna's constraint contract: a value <= 0 means
satisfied, set with `Trial.set_constraint` before `tell`):
- completed and scored: COMPLETE with the objective; constraint = `score.constraint`
  (0 if every SLO is met, else the scorer's relative SLO violation, at most UNRUNNABLE).
- failed_config (OOM, rejected flag) or measured without an objective value: COMPLETE,
  violated (UNRUNNABLE for a point that cannot run), with the worst objective told so far
  as its value. Constraint-aware samplers (TPE, GP) learn the infeasible region from the
  constraint: a PRUNED trial is ignored by GP and CMA-ES altogether, so OOM used to teach
  them nothing. Until some trial has a value, such a trial waits (RUNNING) for one.
- samplers that ignore constraints (CMA-ES, QMC): no constraint; an infeasible trial is
  told the worst value so far, so CMA-ES moves away from it rather than towards its
  throughput.
- failed_infra / failed_benchmark / no score: FAIL — not the configuration's fault;
  samplers ignore FAIL trials.
- a point breaking a constraint between parameters: told like a failed_config, then the
  sampler is asked again (it learns the infeasible region without running it).
- a point seen already (finished or pending): FAIL and asked again; with constant_liar
  TPE also steers pending points apart. After a few tries, an unseen feasible point is
  drawn at random and handed to Optuna with enqueue_trial.
Results from an earlier run are fed the same way (enqueue_trial + ask + tell).

Warm start (`warm_start`, before the first ask): completed trials of related experiments'
reports (same engine, model id and GPU type, read through the store: runner/search/warm.py)
are told the same way, each judged under THIS experiment's objective and SLOs from its
measured levels, and marked with the user attributes `seeded_from` (its report) and
`seeded_trial`. A trial this experiment cannot judge (a scenario, level or metric it did
not measure, a forged value), whose params are not a point of this space, or that breaks
a constraint is not told, and a note names it with the reason. A seeded value is no
measurement of this run, so it never enters the ranking: results.json `search.seeded_from`
and report.md say where the sampler's history came from. The best seeded point that meets
this experiment's SLOs is measured first (otherwise a run could end recommending a point
worse than one it was told about); every other seeded point is not proposed again (the
sampler holds its measurement).

Notation never changes the search: a finite set of numbers is one ordinal dimension, the
index into its sorted values, whether written as a list or as a range with a step, so
`[8, 16, 24]` and `{type: int, low: 8, high: 24, step: 8}` give the same suggestions for
the same seed. Lists of strings or booleans are categorical; a float range without a step
is continuous; an int log range without a step keeps its log scale (a list has no scale).

Noise: the value told is the objective's mean over repeats; its 95 % interval, the number
of measurements and the SLO verdict are kept on the Optuna trial as user attributes
(`objective_low`, `objective_high`, `measurements`, `verdict`).

Pruning (`search.pruning`, runner/search/prune.py): after each measured level of the
objective's scenario, a bound on what the trial's objective can still reach is compared
with the best feasible trial so far; out of reach beyond the noise, the trial skips its
other levels. It is told as the COMPLETE trial it is: its objective over the levels it ran.
"""

from __future__ import annotations

import math
import random
import warnings
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState
from tuneops.runner.results import FAILED_CONFIG, TrialResult
from tuneops.runner.score import constraint, score_metrics
from tuneops.runner.search import warm
from tuneops.runner.search.base import SamplingSearcher, is_failure
from tuneops.runner.search.domain import finite_values, sample_point, snap, space_size
from tuneops.runner.search.memory import known_gpu
from tuneops.runner.search.prune import judged_scenario, objective_bound, out_of_reach
from tuneops.runner.search.samplers import CONSTRAINT_AWARE, make_sampler, startup_trials

from tuneops.metrics import Direction
from tuneops.plan import Trial, make_trial
from tuneops.spec import Param

UNRUNNABLE = 10.0  # constraint of a point that cannot run; SLO violations are capped below
TPE_TRIES = 20  # per proposal, before falling back to an unseen random point
RANDOM_DRAWS = 1000
ORDINAL_LIMIT = 100_000  # a numeric list or stepped range this long is still one index
_PRIMITIVE = (type(None), bool, int, float, str)

__all__ = ["BayesianSearcher", "startup_trials"]


class _Dimension:
    """One parameter as an Optuna distribution, and the mapping both ways.

    Finite numbers (a list of them, or a range with a step) are an ordinal index into the
    sorted values: the same distribution whichever way they were written."""

    def __init__(self, param: Param) -> None:
        self.param = param
        self.choices: tuple[Any, ...] | None = None  # categorical: Optuna's own choices
        self.by_index = False
        self.ordinal: tuple[Any, ...] | None = None  # index -> value, ascending
        values = _ordinal_values(param)
        if values is not None:
            self.ordinal = values
            self.distribution: BaseDistribution = IntDistribution(0, len(values) - 1)
            return
        if param.kind in ("values", "bool") or (param.log and param.step):
            self.choices = tuple(param.values or ()) if param.kind in ("values", "bool") \
                else finite_values(param)
            self.by_index = not all(isinstance(c, _PRIMITIVE) for c in self.choices)
            options = range(len(self.choices)) if self.by_index else self.choices
            self.distribution = CategoricalDistribution(tuple(options))
            return
        low, high = param.low, param.high
        if param.kind == "int":
            self.distribution = IntDistribution(int(low), int(high), log=param.log)
        else:
            self.distribution = FloatDistribution(float(low), float(high), log=param.log)

    def value(self, raw: Any) -> Any:
        if self.ordinal is not None:
            return self.ordinal[int(raw)]
        if self.choices is not None:
            return self.choices[raw] if self.by_index else raw
        return snap(self.param, raw)

    def raw(self, value: Any) -> Any:
        if self.ordinal is not None:
            return self.ordinal.index(value)
        if self.by_index:
            return self.choices.index(value)
        return value

    def outside(self, value: Any) -> str | None:
        """Why `value` (from a report: untrusted) is not a value of this parameter."""
        name = self.param.name
        numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
        if self.ordinal is not None or self.choices is not None:
            values = self.ordinal if self.ordinal is not None else self.choices
            if not any(type(v) is type(value) and v == value for v in values) and not (
                    numeric and any(isinstance(v, (int, float)) and not isinstance(v, bool)
                                    and v == value for v in values)):
                return f"{name}={value!r} is not one of its values"
            return None
        if not numeric or not math.isfinite(value) \
                or not self.param.low <= value <= self.param.high:
            return f"{name}={value!r} is outside [{self.param.low}, {self.param.high}]"
        if snap(self.param, value) != value:
            return f"{name}={value!r} is not on its lattice"
        return None


def _ordinal_values(param: Param) -> tuple[Any, ...] | None:
    """The sorted distinct values of a finite numeric parameter (None: not one)."""
    if param.kind == "bool":
        return None
    if param.kind == "values":
        values = tuple(param.values or ())
        if not values or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                 and math.isfinite(v) for v in values):
            return None
        return tuple(sorted(set(values)))
    if param.kind == "int" and param.log and not param.step:
        return None  # every integer on a log scale: Optuna's own log IntDistribution
    if param.kind == "float" and not param.step:
        return None  # continuous
    step = param.step or 1
    if (param.high - param.low) / step + 1 > ORDINAL_LIMIT:
        return None
    return tuple(finite_values(param) or ())


class BayesianSearcher(SamplingSearcher):
    method = "bayesian"

    def __init__(self, exp, plan, *, max_trials=None) -> None:
        super().__init__(exp, plan, max_trials=max_trials)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.dims = {p.name: _Dimension(p) for p in exp.parameters}
        self.distributions = {name: d.distribution for name, d in self.dims.items()}
        self.sampler_name = exp.search.sampler or "tpe"
        self.constraint_aware = self.sampler_name in CONSTRAINT_AWARE
        points = len(self.feasible) if self.feasible is not None \
            else space_size(exp.parameters)
        self.startup = startup_trials(self.max_trials, points)
        self.study = optuna.create_study(
            direction=exp.objective.direction,
            sampler=make_sampler(self.sampler_name, self.seed, self.startup))
        self._direction = exp.objective.direction
        self._maximize = self._direction == Direction.MAXIMIZE
        self.rng = random.Random(self.seed)
        self._running: dict[str, optuna.trial.Trial] = {}  # trial id -> its Optuna trial
        self._waiting: list[tuple[optuna.trial.Trial, float]] = []  # infeasible, no value yet
        self._worst: float | None = None  # the worst objective told so far
        # pruning: the judged scenario, each running trial's objective by level, the best
        self._judged = judged_scenario(exp) if exp.search.pruning_margin is not None else None
        self._levels: dict[str, dict[int, float]] = {}
        self._best_low: float | None = None  # the best feasible objective's unfavourable end
        self._n_feasible = 0
        self.seeded: dict[str, int] = {}  # report -> its trials told before the first ask
        self._seeded_ids: set[str] = set()  # this experiment's ids of the seeded points
        # the best seeded point feasible under this experiment: measured first, so the
        # answer stands on this run's measurements (a seeded value is another run's)
        self._verify: tuple[float, dict[str, Any]] | None = None

    # -- proposing ----------------------------------------------------------------------
    def _ask_optuna(self) -> tuple[optuna.trial.Trial, dict[str, Any]]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            ot = self.study.ask(self.distributions)
        return ot, {name: d.value(ot.params[name]) for name, d in self.dims.items()}

    def _propose(self) -> Trial | None:
        if self.space_exhausted():
            return None
        if self._verify is not None:
            point, self._verify = self._verify[1], None
            trial = make_trial(self.exp, point, self._next_index)
            if not self.seen(trial.id):
                self._running[trial.id] = self._adopt(point)
                return trial
        for _ in range(TPE_TRIES):
            ot, point = self._ask_optuna()
            if not self.accept(point):
                self._infeasible(ot, UNRUNNABLE)
                continue
            trial = make_trial(self.exp, point, self._next_index)
            if self._taken(trial.id):
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
            left = self.feasible.unseen(self._taken)
            return self.rng.choice(left) if left else None
        for _ in range(RANDOM_DRAWS):
            point = sample_point(self.exp.parameters, self.rng)
            if self.accept(point) and not self._taken(make_trial(self.exp, point, 0).id):
                return point
        return None

    def _taken(self, trial_id: str) -> bool:
        """Not to propose: seen in this run, or seeded from a related report."""
        return self.seen(trial_id) or trial_id in self._seeded_ids

    def _adopt(self, point: dict[str, Any]) -> optuna.trial.Trial:
        """An Optuna trial for a point chosen outside the sampler (fallback, or an earlier
        run's)."""
        raw = {name: d.raw(point[name]) for name, d in self.dims.items()}
        self.study.enqueue_trial(raw, skip_if_exists=False)
        ot, _ = self._ask_optuna()
        return ot

    # -- warm start ---------------------------------------------------------------------
    def warm_start(self, store) -> list[str]:
        """Tell the study the related reports' trials (runner/search/warm.py) before the
        first ask; one note per report used, and per report or trial passed over."""
        gpu = known_gpu(self.exp, {})
        if gpu is None:
            return ["search.method bayesian: not seeded from related reports: the "
                    "experiment names no GPU type (deployment.gpus.type)"] if store.reports else []
        found = warm.related_trials(self.exp, gpu, store)
        for m in found.trials:
            if why := self._seed(m, gpu):
                found.pass_over(m.source, m.trial_id, why)
        notes = [f"search.method bayesian: sampler seeded from {src} ({n} trial(s) of a "
                 "related experiment: same engine, model and GPU type; judged under this "
                 "experiment's objective and SLOs)" for src, n in self.seeded.items()]
        return notes + [f"search.method bayesian: not seeded from {why}"
                        for why in found.reasons()]

    def _seed(self, m: warm.Measured, gpu: str) -> str | None:
        """Tell one related trial as a completed one; or why it is not told."""
        if set(m.params) != set(self.dims):
            return (f"params {sorted(m.params)} are not this space's "
                    f"({sorted(self.dims)})")
        for name, d in self.dims.items():
            if why := d.outside(m.params[name]):
                return why
        point = dict(m.params)
        if not self.accept(point):
            return "breaks a constraint of this experiment"
        if known_gpu(self.exp, point) != gpu:
            return f"runs on GPU {known_gpu(self.exp, point)}, not {gpu}"
        tid = make_trial(self.exp, point, 0).id
        if tid == m.trial_id:
            return "this experiment's own trial: the store reuses it as it is"
        if tid in self._seeded_ids:
            return "its point is seeded already"
        score = score_metrics(m.metrics, self.exp.objective, self.exp.slos)
        if score.objective is None or not math.isfinite(score.objective):
            return "no objective value under this experiment's objective"
        ot = self._adopt(point)
        ot.set_user_attr("seeded_from", m.source)
        ot.set_user_attr("seeded_trial", m.trial_id)
        violation = self._tell_scored(ot, score)
        self._seeded_ids.add(tid)
        value = float(score.objective)
        if violation <= 0 and (self._verify is None
                               or self._direction.better(value, self._verify[0])):
            self._verify = (value, point)
        self.seeded[m.source] = self.seeded.get(m.source, 0) + 1
        return None

    def report_block(self) -> dict[str, Any] | None:
        """What results.json records of the search (`search`): the reports whose trials
        seeded the sampler; None when none did (nothing to say)."""
        if not self.seeded:
            return None
        return {"method": "bayesian",
                "seeded_from": [{"report": k, "trials": v} for k, v in self.seeded.items()]}

    # -- pruning ------------------------------------------------------------------------
    def should_prune(self, trial_id: str, scenario: str, level: int,
                     values: dict[str, float]) -> bool:
        """After a level of the judged scenario: is the trial's objective out of reach of
        the best feasible trial so far (runner/search/prune.py)?"""
        if self._judged is None or scenario != self._judged:
            return False
        value = values.get(self.exp.objective.metric)
        if value is None or not math.isfinite(value):
            return False
        seen = self._levels.setdefault(trial_id, {})
        seen[int(level)] = float(value)
        if self._n_feasible < self.exp.search.pruning_startup_trials:
            return False
        return out_of_reach(self.exp, objective_bound(self.exp, seen), self._best_low,
                            self.exp.search.pruning_margin)

    # -- learning -----------------------------------------------------------------------
    def _finish(
        self,
        ot: optuna.trial.Trial,
        state: TrialState,
        value: float | None = None,
        constraint: float | None = None,
    ) -> None:
        if constraint is not None and self.constraint_aware:
            ot.set_constraint("violation", min(float(constraint), UNRUNNABLE))
        self.study.tell(ot, value if state == TrialState.COMPLETE else None, state=state)

    def _infeasible(self, ot: optuna.trial.Trial, violation: float) -> None:
        """A trial with no objective value to tell: the worst so far, once there is one."""
        if self._worst is None:
            self._waiting.append((ot, violation))
            return
        self._finish(ot, TrialState.COMPLETE, self._worst, violation)

    def _tell_scored(self, ot: optuna.trial.Trial, score) -> float:
        """Tell a trial with a finite objective, measured here or seeded: its value, and its
        SLO violation as the constraint (a sampler that ignores constraints gets the worst
        value so far for a violating trial instead). Returns the violation."""
        violation = constraint(score)
        value = float(score.objective)
        if violation > 0 and not self.constraint_aware:
            value = self._worst if self._worst is not None else value
        self._finish(ot, TrialState.COMPLETE, value, violation)
        self._told(float(score.objective))
        return violation

    def _told(self, value: float) -> None:
        """A real objective value was told: track the worst, and release waiting trials."""
        if self._worst is None or self._direction.better(self._worst, value):
            self._worst = value
        waiting, self._waiting = self._waiting, []
        for ot, violation in waiting:
            self._finish(ot, TrialState.COMPLETE, self._worst, violation)

    def _learn(self, result: TrialResult, trial: Trial | None) -> None:
        self._levels.pop(result.trial_id, None)
        ot = self._running.pop(result.trial_id, None)
        if ot is None:  # finished by an earlier run: teach it to the study too
            try:
                ot = self._adopt(result.params)
            except (KeyError, ValueError):
                return  # params outside this space (the experiment changed): nothing to learn
        score = result.score
        if result.status == FAILED_CONFIG:
            self._infeasible(ot, UNRUNNABLE)
        elif is_failure(result):
            self._finish(ot, TrialState.FAIL)
        elif score.objective is None or not math.isfinite(score.objective):
            self._infeasible(ot, constraint(score))
        else:
            record_uncertainty(ot, result)
            if self._tell_scored(ot, score) <= 0:
                self._feasible_best(score)

    def _feasible_best(self, score) -> None:
        """Keep the best feasible objective at the unfavourable end of its interval."""
        self._n_feasible += 1
        end = score.objective_low if self._maximize else score.objective_high
        here = float(end) if end is not None and math.isfinite(end) else float(score.objective)
        if self._best_low is None or self._direction.better(here, self._best_low):
            self._best_low = here


def record_uncertainty(ot: optuna.trial.Trial, result: TrialResult) -> None:
    """Keep the told mean's interval with the Optuna trial (the sampler uses the mean)."""
    s = result.score
    ot.set_user_attr("objective_low", s.objective_low)
    ot.set_user_attr("objective_high", s.objective_high)
    ot.set_user_attr("measurements", int(s.objective_n or 1))
    ot.set_user_attr("verdict", s.verdict or None)
