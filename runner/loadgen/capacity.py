"""Which request rate to measure next, and whether one rate held its SLOs (pure).

`rates: {search: capacity, low, high}` finds, per trial, the highest offered rate at which
every SLO holds beyond the noise. It has the shape of the concurrency bisection
(runner/bench/levels.py): measure low, then high, then split the bracket between the
highest rate that held and the lowest that did not. Rates are continuous, so the split is
geometric (capacity is a ratio question: 2 -> 4 req/s is as far as 20 -> 40), and the search
stops once the bracket is within RESOLUTION of its lower end.

Each rate is judged by a sequential rule over repeats: after every run at that rate, the
SLOs are judged as the report judges them (runner.score over the 95 % interval runner.stats
puts on each statistic, from the pooled requests of the runs so far): every SLO met, its
interval's upper end inside the limit, is a clear hold, and any SLO violated, the lower
end past the limit, a clear loss; only these one-sided bounds decide, so a clear answer
stops after one run. A straddling interval takes another run at the same rate, up to
`most`; still undecided then, the rate does not count as holding (capacity is where the SLOs
hold beyond the noise).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from tuneops.runner import score, stats
from tuneops.runner.bench.levels import bracket

from tuneops.metrics import Slo, Verdict

RESOLUTION = 0.05  # stop when high / low of the bracket is within 5 %
MOST_RUNS_PER_RATE = 3


def judge(slos: Sequence[Slo], runs: list[dict[str, float]],
          records: dict[str, list[float]] | None) -> Verdict:
    """MET, VIOLATED or UNCERTAIN for one rate from its runs so far (pooled requests)."""
    point, spreads = stats.summarize_point(runs, records)
    here = "rate"
    checks = score.checks_at({here: {0: point}}, slos, 0, here,
                             {here: {0: {k: sp.as_dict() for k, sp in spreads.items()}}})
    if any(c.verdict is Verdict.VIOLATED for c in checks):
        return Verdict.VIOLATED
    if checks and all(c.verdict is Verdict.MET for c in checks):
        return Verdict.MET
    return Verdict.UNCERTAIN


def decided(verdict: Verdict, runs: int, most: int = MOST_RUNS_PER_RATE) -> bool | None:
    """Whether the rate held (True/False), or None: measure it once more."""
    if verdict is Verdict.MET:
        return True
    if verdict is Verdict.VIOLATED:
        return False
    return None if runs < most else False


def next_rate(low: float, high: float, held: Mapping[float, bool],
              resolution: float = RESOLUTION) -> float | None:
    """The next rate to measure (None when the answer is known), given whether each
    measured rate held every SLO."""
    if low not in held:
        return low
    if not held[low]:
        return None
    if high not in held:
        return high
    lo, hi = bracket(low, high, held)
    if hi is None or hi <= lo * (1.0 + resolution):
        return None
    return round(math.sqrt(lo * hi), 4)
