"""Which Optuna sampler Bayesian search asks (`search.sampler`), and its start-up.

- tpe (default): Optuna's TPESampler, multivariate (one joint density over all flags, so it
  learns that tp and chunk size matter together), constant liar (parallel trials steer
  apart), constraint-aware.
- gp: Optuna's GPSampler, a Gaussian process with (log) expected improvement and
  constraint models. The strongest model per trial, and the costliest per ask (a GP fit
  and an acquisition optimisation each time, seconds on a CPU; needs torch and scipy).
- qmc: Optuna's QMCSampler alone, a scrambled Sobol sequence: space filling without a
  model, the robust choice when trials are cheap to reason about but nothing is known.
- cmaes: Optuna's CmaEsSampler with margin (integer steps do not collapse the search);
  it ignores constraints, so infeasible trials are told as the worst value seen.

Every model-based sampler starts with a space-filling phase (`QmcStartup`): the first
`startup` trials follow a Sobol sequence, not independent random draws, so the start-up
covers every flag's range evenly. How long the start-up is scales with the space
(`startup_trials`): 5 trials up to a few thousand points, 10 at 10,000, 30 from
90,000. The slope is the benchmark's (scripts/bench_search.py,
30 seeds): on spaces of 2,000-2,900 points a Sobol start-up of 5 reached 97 % in 5.1 and
6.3 trials on average (worst 13 and 27), one of 10 in 5.5 and 9.3 (worst 17 and 61), one
of 20-23 in 6.4 and 6.9 (worst 31 and 22): a short, even start-up, then the model.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.trial import FrozenTrial, TrialState

SAMPLERS = ("tpe", "gp", "qmc", "cmaes")
CONSTRAINT_AWARE = frozenset({"tpe", "gp"})  # read Trial.set_constraint
MIN_STARTUP = 5  # with 4 on the narrow space: median 6.5, worst 61+ trials to 97 % (5: 5, 27)
BUDGET_STARTUP = 3  # the fewest when a third of maxTrials is less
# start-up trials per point of the space, as its square root: 2,880 points -> 5, 100,000
# -> 30 (scripts/bench_search.py: on the 2,000-2,900-point spaces, 5 Sobol trials beat 10
# and 20-23 on the mean and worst trials to 97 %)
STARTUP_PER_ROOT = 0.1
MAX_STARTUP = 30


def startup_trials(max_trials: int | None, points: int | None = None) -> int:
    """Space-filling trials before a model is fitted: about 0.1 * sqrt(points), at least 5
    (5 up to 3,000 points, 10 at 10,000, 30 from 90,000; 10 when the space is continuous),
    never more than a third of the budget unless that is under 3."""
    wanted = 10 if points is None else round(STARTUP_PER_ROOT * math.sqrt(points))
    wanted = min(max(wanted, 10 if points is None else MIN_STARTUP), MAX_STARTUP)
    if max_trials is not None:
        wanted = min(wanted, max(BUDGET_STARTUP, max_trials // 3))
    return int(wanted)


def make_sampler(name: str, seed: int, startup: int) -> BaseSampler:
    """The sampler `search.sampler` names, behind its QMC start-up."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if name == "qmc":
            return _qmc(seed)
        if name == "tpe":
            model: BaseSampler = optuna.samplers.TPESampler(
                seed=seed, n_startup_trials=startup, multivariate=True, constant_liar=True)
        elif name == "gp":
            model = optuna.samplers.GPSampler(seed=seed, n_startup_trials=startup)
        elif name == "cmaes":
            model = optuna.samplers.CmaEsSampler(
                seed=seed, n_startup_trials=startup, with_margin=True,
                independent_sampler=optuna.samplers.RandomSampler(seed=seed),
                warn_independent_sampling=False)
        else:
            raise ValueError(f"unknown sampler {name!r} (one of {', '.join(SAMPLERS)})")
        return QmcStartup(model, startup, seed)


def _qmc(seed: int) -> BaseSampler:
    return optuna.samplers.QMCSampler(
        qmc_type="sobol", scramble=True, seed=seed, warn_independent_sampling=False,
        warn_asynchronous_seeding=False)


class QmcStartup(BaseSampler):
    """The first `startup` finished trials from a Sobol sequence, then `model`.

    Optuna's samplers draw their start-up trials at random (TPE's and GP's independent
    sampler); a scrambled Sobol sequence covers each flag's range evenly with the same
    number of trials. Trials that failed outside the configuration (FAIL, also the
    searcher's duplicates) do not count: they taught nothing.
    """

    def __init__(self, model: BaseSampler, startup: int, seed: int) -> None:
        self.model = model
        self.startup = startup
        self.qmc = _qmc(seed)
        self._by_trial: dict[int, BaseSampler] = {}

    def _for(self, study: optuna.Study, trial: FrozenTrial) -> BaseSampler:
        if trial.number not in self._by_trial:
            told = study.get_trials(deepcopy=False,
                                    states=(TrialState.COMPLETE, TrialState.PRUNED))
            self._by_trial[trial.number] = self.qmc if len(told) < self.startup else self.model
        return self._by_trial[trial.number]

    def infer_relative_search_space(self, study: optuna.Study,
                                    trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return self._for(study, trial).infer_relative_search_space(study, trial)

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return self._for(study, trial).sample_relative(study, trial, search_space)

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        return self._for(study, trial).sample_independent(study, trial, param_name,
                                                          param_distribution)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self._for(study, trial).before_trial(study, trial)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState,
                    values: Any) -> None:
        self._for(study, trial).after_trial(study, trial, state, values)
        self._by_trial.pop(trial.number, None)

    def reseed_rng(self) -> None:
        self.model.reseed_rng()
        self.qmc.reseed_rng()
