"""Which concurrency level to measure next: early stop and goodput bisection (pure).

Early stop: levels run in ascending order; once an SLO over requests (a latency or the
per-request speed: load only makes those worse) is violated *beyond the noise* at level
c, the higher levels of that scenario are not run (they are recorded as "not run: SLO
lost at c"). Beyond the noise means the verdict the report gives, computed the same way
from this one run: `Slo.judge` over the 95 % interval runner.stats puts on the SLO's
statistic (percentiles: a seeded bootstrap over the run's requests), violated only when
the whole interval is past the limit. One statistic judges an SLO everywhere, so a level
that stopped a trial always reads "violated" in the report. (Before, early stop used a
one-sided order-statistic bound of its own, and could stop on a level the report then
called uncertain.) A mean, min or max has no interval from one run: its point decides.

Goodput bisection: between `low` and `high`, find the highest concurrency whose run holds
every SLO (the same point check the scorer uses), assuming that holding is monotone in
load: measure low, then high, then halve the interval between the highest level that held
and the lowest that did not.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from tuneops.runner import score, stats
from tuneops.runner.bench.parse import run_metrics, run_records

from tuneops.metrics import MAX_SLO_CONCURRENCY, Slo, Verdict
from tuneops.spec import Experiment


def ascending(levels: Iterable[int]) -> list[int]:
    return sorted({int(c) for c in levels})


def lost_slos(slos: Iterable[Slo], run: Mapping[str, Any]) -> list[Slo]:
    """The SLOs over requests that one genai-bench run JSON has lost beyond the noise
    (others cannot stop a trial): the scorer's own check on this run's values and the
    intervals of its requests."""
    stoppable = [s for s in slos if s.can_stop_early]
    if not stoppable:
        return []
    _, _, values = run_metrics(dict(run))
    wanted = {s.metric for s in stoppable} | {"num_completed_requests"}
    point, spreads = stats.summarize_point(
        [{k: v for k, v in values.items() if k in wanted}], run_records(dict(run)))
    here = "run"  # one scenario, one level: this run
    checks = score.checks_at({here: {0: point}}, stoppable, 0, here,
                             {here: {0: {k: sp.as_dict() for k, sp in spreads.items()}}})
    # unmeasured is violated for feasibility, but decides nothing about higher levels
    return [s for s, c in zip(stoppable, checks, strict=True)
            if c.value is not None and c.verdict is Verdict.VIOLATED]


def not_run_reason(level: int) -> str:
    return f"not run: SLO lost at {level}"


PRUNED = "not run: pruned at"


def pruned_reason(level: int) -> str:
    return f"{PRUNED} {level} (objective out of reach of the best trial so far)"


def is_pruned(note: str) -> bool:
    """Whether a trial's not-run note says the search pruned it."""
    return PRUNED in note


# ------------------------------------------------------------------ the walk over levels

Measure = Callable[[str, int], "Mapping[str, float] | None"]  # (scenario, level) -> metrics
Lost = Callable[[str, int], "list[Slo]"]  # the SLOs that level lost beyond the noise
Prune = Callable[[str, int, dict[str, float]], bool]


def walk(exp: Experiment, measure: Measure, lost: Lost, prune: Prune | None = None,
         ) -> tuple[dict[str, dict[int, bool]], list[str], dict[str, int]]:
    """Measure every scenario's levels the experiment asks for, deciding between levels:
    ascending order with early stop, or goodput bisection; the search's pruner is asked
    after each measured level. `measure` runs one level (None: it measured nothing);
    `lost` is asked about a measured level only when early stop is on. The one policy
    over levels: genai-bench's worker and the virtual-time search benchmark both walk it.

    Returns (levels measured: held every SLO by point estimate?, "scenario@level: not
    run: ..." notes, max_slo_concurrency per scenario under bisection)."""
    b = exp.benchmark
    measured: dict[str, dict[int, bool]] = {}
    not_run: list[str] = []
    max_ok: dict[str, int] = {}
    pruned_at: int | None = None

    def one(scenario: str, level: int) -> bool:
        """Run one level; whether it measured something."""
        nonlocal pruned_at
        values = measure(scenario, level)
        held = False
        if values is not None:
            values = dict(values)
            checks = score.checks_at({scenario: {level: values}}, exp.slos, level, scenario)
            held = all(ch.met for ch in checks)
            if prune is not None and prune(scenario, level, values):
                pruned_at = level
        measured.setdefault(scenario, {})[level] = held
        return values is not None

    for scenario in b.traffic_scenarios:
        if pruned_at is not None:
            not_run += [f"{scenario}@{c}: {pruned_reason(pruned_at)}"
                        for c in ascending(b.concurrency)]
            continue
        if b.concurrency_search == "bisect":
            low, high = b.concurrency
            while (nxt := bisect_next(low, high, measured.get(scenario, {}))) is not None:
                one(scenario, nxt)
            max_ok[scenario] = max_holding(low, high, measured.get(scenario, {}))
            continue
        order = ascending(b.concurrency)
        for i, level in enumerate(order):
            ok = one(scenario, level)
            if pruned_at is not None:
                not_run += [f"{scenario}@{c}: {pruned_reason(pruned_at)}"
                            for c in order[i + 1:]]
                break
            gone = lost(scenario, level) if ok and b.early_stop else []
            if gone:
                names = ", ".join(s.metric for s in gone)
                not_run += [f"{scenario}@{c}: {not_run_reason(level)} ({names})"
                            for c in order[i + 1:]]
                break
    return measured, not_run, max_ok


def annotate(outcome: Any, not_run: list[str], max_ok: Mapping[str, int]) -> None:
    """What `walk` decided, onto the BenchOutcome parsed from the levels it measured: the
    levels not run and why, and each scenario's max_slo_concurrency (on every level of it).
    Every walker (the local worker, OME's BenchmarkJob per level) reports it this way."""
    outcome.not_run = list(not_run)
    for scenario, value in max_ok.items():
        for values in outcome.metrics.get(scenario, {}).values():
            values[MAX_SLO_CONCURRENCY] = float(value)


# ------------------------------------------------------------------ between levels

DRAIN_MAX_S = 1.0  # genai-bench's own pause after each run, "to clear aborted requests"
DRAIN_MIN_S = 0.1


def drain_s(ttft_p99_s: float | None, tpot_p99_s: float | None) -> float:
    """How long to let the engine clear the requests a finished level left in flight.

    Stopping a level closes its in-flight connections; the engine notices a closed stream
    when it next writes to it: after the prefill of a request still waiting for its first
    token (at most the level's TTFT), or after its next token (TPOT). So the slowest of
    those, taken at p99 with one more token of margin, bounds the drain; never more than
    genai-bench's fixed second, never less than 0.1 s. Seconds in, seconds out."""
    def measured(v: float | None) -> float | None:
        ok = isinstance(v, (int, float)) and math.isfinite(v) and v >= 0
        return float(v) if ok else None

    ttft, tpot = measured(ttft_p99_s), measured(tpot_p99_s)
    if ttft is None and tpot is None:
        return DRAIN_MAX_S
    # only what was measured adds up: a NaN or negative time is no time (it used to be
    # added as it was, and a NaN turned the whole sum into the 0.1 s floor)
    need = (ttft or 0.0) + 2.0 * (tpot or 0.0)
    return min(DRAIN_MAX_S, max(DRAIN_MIN_S, need))


# ------------------------------------------------------------------ goodput bisection


def bisect_next(low: int, high: int, held: Mapping[int, bool]) -> int | None:
    """The next level to measure (None when the answer is known), given whether each
    measured level held every SLO."""
    if low not in held:
        return low
    if not held[low]:
        return None
    if high not in held:
        return high
    lo, hi = bracket(low, high, held)
    if hi is None or hi - lo <= 1:
        return None
    return (lo + hi) // 2


def max_holding(low: float, high: float, held: Mapping[float, bool]) -> float:
    """The highest level (or rate) known to hold every SLO below the lowest that failed; 0
    when even `low` failed. The capacity search over rates (runner/loadgen/capacity.py)
    asks this same question."""
    if not held.get(low, False):
        return 0
    return bracket(low, high, held)[0]


def bracket(low: float, high: float, held: Mapping[float, bool]
            ) -> tuple[float, float | None]:
    """(highest level that held below the lowest that failed, that lowest failed level), for
    concurrency levels and request rates alike; called only once `low` held."""
    failed = [c for c, ok in held.items() if not ok and low <= c <= high]
    hi = min(failed) if failed else None
    lo = max(c for c, ok in held.items() if ok and low <= c and (hi is None or c < hi))
    return lo, hi
