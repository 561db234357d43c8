"""Grid search: the plan's trials in plan order (already constraint-filtered)."""

from __future__ import annotations

from tuneops.runner.search.base import Searcher

from tuneops.plan import Trial


class GridSearcher(Searcher):
    method = "grid"

    def __init__(self, exp, plan, *, max_trials=None) -> None:
        super().__init__(exp, plan, max_trials=max_trials)
        self._position = 0

    def _propose(self) -> Trial | None:
        trials = self.plan.trials
        while self._position < len(trials):
            trial = trials[self._position]
            self._position += 1
            if not self.seen(trial.id):
                return trial
        return None
