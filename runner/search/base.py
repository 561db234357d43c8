"""What every search method shares: the ask/tell bookkeeping.

A searcher proposes trials (`ask`) and learns outcomes (`tell`); several asks may be
outstanding at once (parallel trials). This class owns everything that is the same for
every method — the trial cap, the failed-trial cap, never proposing an id twice, cancelled
trials going back in the queue, results of an earlier run counting on resume — so a method
only writes `_propose` (and `_learn` if it learns from results).

Not thread-safe: the orchestrator calls ask/tell from one thread.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from tuneops.runner.results import CANCELLED, COMPLETED, TrialResult
from tuneops.runner.search.domain import FeasibleSet

from tuneops.plan import Plan, Trial, constraint_checker
from tuneops.spec import Experiment


def is_failure(result: TrialResult) -> bool:
    """A trial that measured nothing usable: any failed_* status, or no score at all."""
    if result.status == CANCELLED:
        return False
    return result.status != COMPLETED or result.score is None


class Searcher:
    """ask() -> Trial | None; tell(result). `done` says whether None means "never again"."""

    method = ""

    def __init__(self, exp: Experiment, plan: Plan, *, max_trials: int | None = None) -> None:
        self.exp = exp
        self.plan = plan
        caps = [c for c in (exp.search.max_trials, max_trials) if c]
        self.max_trials: int | None = min(caps) if caps else None
        self.max_failed_trials: int | None = exp.search.max_failed_trials or None
        self.seed = exp.search.seed
        self.accept = constraint_checker(exp)
        self.finished: dict[str, TrialResult] = {}  # told results, cancelled ones excluded
        self.pending: dict[str, Trial] = {}  # asked, not yet told
        self.n_failed = 0
        self._retry: deque[Trial] = deque()  # cancelled trials, proposed again first
        self._exhausted = False
        self._next_index = 0

    # -- what the orchestrator reads -------------------------------------------------
    @property
    def stop_reason(self) -> str | None:
        """Why no trial will ever be proposed again: max_failed_trials | max_trials | exhausted."""
        if self.max_failed_trials is not None and self.n_failed >= self.max_failed_trials:
            return "max_failed_trials"
        if self.max_trials is not None and len(self.finished) >= self.max_trials:
            return "max_trials"
        if self._exhausted and not self.pending and not self._retry:
            return "exhausted"
        return None

    @property
    def done(self) -> bool:
        """True: ask() returns None from now on. False with ask() None: wait for a pending tell."""
        return self.stop_reason is not None

    @property
    def remaining(self) -> int | None:
        """How many more trials may still start (None: no cap but time or the space itself)."""
        if self.done:
            return 0
        if self.max_trials is None:
            return None
        return max(self.max_trials - len(self.finished) - len(self.pending), 0)

    def seen(self, trial_id: str) -> bool:
        return (
            trial_id in self.finished
            or trial_id in self.pending
            or any(t.id == trial_id for t in self._retry)
        )

    def should_prune(self, trial_id: str, scenario: str, level: int,
                     values: dict[str, float]) -> bool:
        """Asked after each measured level of a running trial (from its thread): stop it
        now? Only a method that prunes (bayesian with search.pruning) says yes."""
        return False

    # -- ask / tell --------------------------------------------------------------------
    def ask(self) -> Trial | None:
        if self.done:
            return None
        if self.remaining == 0:
            return None  # the cap is filled by pending trials: wait for their results
        if self._retry:
            trial = self._retry.popleft()
        else:
            trial = self._propose()
            if trial is None:
                if not self.pending:
                    self._exhausted = True
                return None
        self.pending[trial.id] = trial
        self._next_index = max(self._next_index, trial.index + 1)
        return trial

    def tell(self, result: TrialResult) -> None:
        """Learn one outcome: of an asked trial, or (on resume) of one an earlier run finished."""
        trial = self.pending.pop(result.trial_id, None)
        if result.status == CANCELLED:
            if not self.seen(result.trial_id):
                trial = trial or Trial(result.trial_id, result.index, result.params, result.args)
                self._retry.appendleft(trial)
            return
        again = result.trial_id in self.finished  # told twice: keep the latest, learn once
        self.finished[result.trial_id] = result
        self.n_failed = sum(map(is_failure, self.finished.values()))
        self._next_index = max(self._next_index, result.index + 1)
        if not again:
            self._learn(result, trial)

    def rerun(self, trial: Trial) -> None:
        """Propose `trial` again before anything new (a half-done trial of an earlier run)."""
        if not self.seen(trial.id):
            self._retry.append(trial)

    # -- what a method implements -------------------------------------------------------
    def _propose(self) -> Trial | None:
        """A new trial not seen before, or None (nothing left, or nothing until a tell)."""
        raise NotImplementedError

    def _learn(self, result: TrialResult, trial: Trial | None) -> None:
        """Use a finished result; `trial` is None when it was not asked here (resume)."""


class SamplingSearcher(Searcher):
    """Shared by methods that draw points: knows a small finite space's feasible points."""

    def __init__(self, exp: Experiment, plan: Plan, *, max_trials: int | None = None) -> None:
        super().__init__(exp, plan, max_trials=max_trials)
        self.feasible = FeasibleSet.build(exp, self.accept)

    def space_exhausted(self) -> bool:
        return self.feasible is not None and all(self.seen(i) for i in self.feasible.ids)

    def unseen_feasible(self) -> list[dict[str, Any]]:
        return self.feasible.unseen(self.seen) if self.feasible is not None else []
