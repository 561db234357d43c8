"""Search strategies behind one ask/tell interface: grid, random, bayesian (Optuna TPE),
model (the simulator's performance model ranks, measurements calibrate it).

searcher = make_searcher(exp, plan)
for result in earlier_results: searcher.tell(result)      # resume
trial = searcher.ask()   # a Trial, or None: `searcher.done` tells "never" from "not now"
...
searcher.tell(result)    # TrialResult; cancelled ones are proposed again
"""

from __future__ import annotations

from tuneops.runner.search.base import Searcher, is_failure
from tuneops.runner.search.bayesian import BayesianSearcher
from tuneops.runner.search.domain import ENUMERATE_LIMIT, space_size
from tuneops.runner.search.grid import GridSearcher
from tuneops.runner.search.model import ModelSearcher, unavailable
from tuneops.runner.search.random import RandomSearcher

from tuneops.plan import Plan
from tuneops.spec import Experiment

SEARCHERS: dict[str, type[Searcher]] = {
    "grid": GridSearcher,
    "random": RandomSearcher,
    "bayesian": BayesianSearcher,
    "model": ModelSearcher,
}

__all__ = ["SEARCHERS", "Searcher", "is_failure", "make_searcher", "model_fallback"]


def model_fallback(exp: Experiment) -> str | None:
    """Why `search.method: model` runs Bayesian search for this experiment (None: it does
    not). Validation warns with it; the searcher falls back the same way."""
    if exp.search.method != "model":
        return None
    size = space_size(exp.parameters)
    why = unavailable(exp, size if size is not None and size <= ENUMERATE_LIMIT else None)
    return f"{why}: searching with bayesian (TPE) instead" if why else None


def make_searcher(exp: Experiment, plan: Plan, *, max_trials: int | None = None) -> Searcher:
    """The searcher for `exp.search.method`; `max_trials` can only tighten the experiment's cap."""
    if model_fallback(exp):
        return BayesianSearcher(exp, plan, max_trials=max_trials)
    try:
        cls = SEARCHERS[exp.search.method]
    except KeyError:
        raise ValueError(f"unknown search method {exp.search.method!r}") from None
    return cls(exp, plan, max_trials=max_trials)
