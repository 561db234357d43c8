"""The confirmation phase: measure the top candidates again until the best stands apart.

A search measures each trial once (or `repeats` times, on one engine), so a winner 1 %
ahead of the runner-up may be noise — or luck in how that engine started. After the search
the top k feasible trials (search.confirm.topK, default 3) are measured again in
alternation — A B C A B C … — each time on a fresh engine, so slow drift of the machine
hits every candidate alike and engine-start variance counts. Each round merges the new
measurement into the candidate's samples and re-ranks. It is a race: a candidate whose
interval no longer overlaps the best's drops out, since measuring it again cannot change
the answer. The phase stops when the best's objective interval overlaps no other feasible
trial's (`Ranking.separated`), when fewer than two candidates are left in the race, after
`rounds` rounds, or when the run is interrupted or out of time.

Resumable: a candidate's `confirmations` count says which rounds it already had.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tuneops.runner import rankings
from tuneops.runner.results import COMPLETED, TrialResult

from tuneops.spec import Experiment


@dataclass
class ConfirmSummary:
    candidates: list[str] = field(default_factory=list)
    rounds: int = 0  # rounds run (this invocation and earlier ones)
    measurements: int = 0  # re-measurements made in this invocation
    seconds: float = 0.0
    separated: bool = False
    # separated | candidates separated | rounds | interrupted | time | not needed | off
    stopped_by: str = ""

    def as_dict(self) -> dict:
        return {"candidates": self.candidates, "rounds": self.rounds,
                "measurements": self.measurements, "seconds": round(self.seconds, 3),
                "separated": self.separated, "stopped_by": self.stopped_by}


def candidates(ranking: rankings.Ranking, k: int) -> list[TrialResult]:
    return [r for r in ranking.trials if rankings.is_feasible(r)][:k]


def _racing(ranking: rankings.Ranking, chosen: list[str]) -> list[str]:
    """The candidates still in the race: all of them while the best's interval is unknown
    (one measurement separates nothing), else those tied with the best."""
    if not ranking.spread_known:
        return list(chosen)
    return [tid for tid in chosen if tid in ranking.tie_ids]


def run_confirmation(
    exp: Experiment,
    finished: dict[str, TrialResult],
    remeasure: Callable[[TrialResult], TrialResult],
    *,
    stop: Callable[[], str | None] = lambda: None,
    on_result: Callable[[TrialResult], None] = lambda r: None,
    clock: Callable[[], float] = time.monotonic,
) -> ConfirmSummary:
    """Re-measure the top candidates in `finished` (updated in place) round by round.

    `remeasure(result)` measures one candidate once more on a fresh engine and returns the
    merged result; `stop()` names a reason to stop now (interrupted, out of time); `clock`
    times the phase (a test passes its own)."""
    k, rounds = exp.search.confirm_top_k, exp.search.confirm_rounds
    out = ConfirmSummary()
    if k < 2 or rounds < 1:
        out.stopped_by = "off"
        return out
    t0 = clock()
    ranking = rankings.ranking(finished.values(), exp)
    chosen = [r.trial_id for r in candidates(ranking, k)]
    out.candidates = chosen
    if len(chosen) < 2:
        out.stopped_by = "not needed"
        return out
    for rnd in range(rounds):
        # Racing: a candidate whose interval no longer reaches the best's is out (its
        # re-measurement could not change the answer); the rest go on, A B C A B C.
        racing = _racing(ranking, chosen)
        if ranking.separated or len(racing) < 2:
            break
        for tid in racing:
            why = stop()
            if why:
                out.stopped_by = why
                out.seconds = clock() - t0
                return out
            prior = finished[tid]
            if prior.status != COMPLETED or prior.confirmations > rnd:
                continue  # dropped out, or measured in this round by an earlier invocation
            merged = remeasure(prior)
            out.measurements += 1
            finished[tid] = merged
            on_result(merged)
        out.rounds = rnd + 1
        ranking = rankings.ranking(finished.values(), exp)
    out.separated = ranking.separated
    racing = _racing(ranking, chosen)
    out.stopped_by = ("separated" if ranking.separated
                      else "candidates separated" if len(racing) < 2 else "rounds")
    out.seconds = clock() - t0
    return out
