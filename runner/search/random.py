"""Random search: seeded draws from the declared ranges, constraints and duplicates rejected.

The same seed gives the same sequence, and a resumed run redraws the same points (the ones
it already finished are skipped as seen), so it continues where the first run stopped.
"""

from __future__ import annotations

import random

from tuneops.runner.search.base import SamplingSearcher
from tuneops.runner.search.domain import sample_point

from tuneops.plan import Trial, make_trial

MAX_DRAWS = 1000  # per proposal; then a small finite space falls back to its unseen points


class RandomSearcher(SamplingSearcher):
    method = "random"

    def __init__(self, exp, plan, *, max_trials=None) -> None:
        super().__init__(exp, plan, max_trials=max_trials)
        self.rng = random.Random(self.seed)

    def _propose(self) -> Trial | None:
        if self.space_exhausted():
            return None
        for _ in range(MAX_DRAWS):
            point = sample_point(self.exp.parameters, self.rng)
            if not self.accept(point):
                continue
            trial = make_trial(self.exp, point, self._next_index)
            if not self.seen(trial.id):
                return trial
        left = self.unseen_feasible()
        if left:
            return make_trial(self.exp, self.rng.choice(left), self._next_index)
        return None
