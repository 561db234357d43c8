"""Early-stop and bisection decisions (pure): what "violated beyond the noise" means."""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest
from tuneops.runner import score, stats
from tuneops.runner.bench import levels as lv
from tuneops.runner.bench.parse import run_metrics, run_records

from tuneops.spec import Slo


def run_json(ttfts_s, errors=0, unit="s", speed=100.0):
    """One genai-bench run JSON: its requests, and the aggregate genai-bench computes from
    them (numpy's percentiles, as genai-bench's own)."""
    scale = 1.0 if unit == "s" else 1000.0
    recs = [{"ttft": t, "tpot": 0.01 * scale, "e2e_latency": t + 0.5 * scale,
             "output_latency": 0.5 * scale, "output_inference_speed": speed,
             "error_code": None} for t in ttfts_s]
    recs += [{"ttft": None, "error_code": 503, "error_message": "down"}] * errors
    fields = ("ttft", "tpot", "e2e_latency", "output_latency", "output_inference_speed")
    stats = {f: {**{f"p{q}": float(np.percentile([r[f] for r in recs[:len(ttfts_s)]], q))
                    for q in (25, 50, 75, 90, 95, 99)},
                 "mean": float(np.mean([r[f] for r in recs[:len(ttfts_s)]]))}
             for f in fields} if ttfts_s else {}
    agg = {"scenario": "D(100,100)", "num_concurrency": 4, "stats": stats,
           "num_completed_requests": len(ttfts_s), "num_error_requests": errors,
           "mean_output_throughput_tokens_per_s": 10.0}
    return {"_time_unit": unit, "aggregated_metrics": agg, "individual_request_metrics": recs}


def test_ascending_dedups_and_sorts():
    assert lv.ascending([16, 1, 4, 4]) == [1, 4, 16]


def test_a_clear_violation_is_lost_a_marginal_one_is_not():
    slo = Slo("ttft.p99", max=500.0)
    assert lv.lost_slos([slo], run_json([0.9] * 20)) == [slo]
    # one slow request out of 20: the sample p99 is past 500, but its 95 % interval (a
    # bootstrap over the 20 requests) reaches below it: within the noise, keep going
    assert not lv.lost_slos([slo], run_json([0.1] * 19 + [0.9]))
    assert not lv.lost_slos([slo], run_json([]))  # nothing measured decides nothing


def test_milliseconds_runs_are_judged_in_milliseconds():
    slo = Slo("ttft.p50", max=500.0)
    assert lv.lost_slos([slo], run_json([900.0] * 20, unit="ms")) == [slo]
    assert not lv.lost_slos([slo], run_json([100.0] * 20, unit="ms"))


def test_min_bound_slos_are_lost_below_the_limit():
    slo = Slo("output_inference_speed.p50", min=50.0)
    assert lv.lost_slos([slo], run_json([0.1] * 10, speed=10.0)) == [slo]
    assert not lv.lost_slos([slo], run_json([0.1] * 10, speed=60.0))


def test_lost_slos_checks_only_statistics_over_requests():
    slos = [Slo("ttft.p99", max=50.0), Slo("error_rate", max=0.0),
            Slo("output_throughput", min=1e9), Slo("e2e_latency.mean", max=1e6)]
    lost = lv.lost_slos(slos, run_json([0.2] * 12, errors=5))
    assert [s.metric for s in lost] == ["ttft.p99"]


@pytest.mark.parametrize("seed", range(12))
def test_early_stop_agrees_with_the_report_verdict(seed):
    """One statistic judges an SLO: a run early stop calls lost is one the scorer, from the
    same run's samples and records, calls violated (and the other way round)."""
    rng = random.Random(seed)
    ttfts = [rng.expovariate(1 / 0.3) for _ in range(rng.choice([5, 20, 60, 150]))]
    run = run_json(ttfts)
    slos = [Slo("ttft.p90", max=rng.choice([200.0, 400.0, 700.0])),
            Slo("tpot.p99", max=5.0)]
    _, level, values = run_metrics(run)
    metrics, spread = stats.summarize({"s": {level: [values]}}, {"s": {level: run_records(run)}})
    spread = {"s": {level: {k: sp.as_dict() for k, sp in spread["s"][level].items()}}}
    checks = score.checks_at(metrics, slos, level, "s", spread)
    violated = [s for s, c in zip(slos, checks, strict=True) if c.verdict == "violated"]
    assert lv.lost_slos(slos, run) == violated


def test_a_trimmed_request_file_leaves_the_verdict_to_genai_benchs_aggregate():
    """Rule: the per-request records stand in for the requests only when none is missing;
    a trimmed file (fewer records than completed requests) would move the percentile, so
    the aggregate's point decides: here p99 748 ms of 200 requests is lost, although the
    20 records left would only give an interval straddling the limit."""
    slo = Slo("ttft.p99", max=500.0)
    run = run_json([0.1] * 19 + [0.9])
    assert not lv.lost_slos([slo], run)  # all 20 records: within the noise
    run["aggregated_metrics"]["num_completed_requests"] = 200  # the file kept 20 of 200
    assert lv.lost_slos([slo], run) == [slo]


def test_not_run_reason_names_the_level():
    assert lv.not_run_reason(16) == "not run: SLO lost at 16"


def _bisect(low, high, holds):
    """Drive bisect_next against a `holds(level)` oracle; the levels in measuring order."""
    held, order = {}, []
    while (nxt := lv.bisect_next(low, high, held)) is not None:
        assert nxt not in held
        held[nxt] = holds(nxt)
        order.append(nxt)
    return order, lv.max_holding(low, high, held)


@pytest.mark.parametrize("limit", [1, 2, 3, 5, 17, 63, 64])
def test_bisect_finds_the_threshold_in_logarithmic_steps(limit):
    order, best = _bisect(1, 64, lambda c: c <= limit)
    assert best == min(limit, 64)
    assert order[:2] == [1, 64]
    assert len(order) <= 2 + 6  # ceil(log2(63)) halvings


def test_bisect_edges():
    """Rule: nothing measured holds nothing (max_holding 0), and a failure measured
    outside [low, high] does not bound the answer inside it."""
    assert lv.max_holding(4, 16, {}) == 0
    assert lv.max_holding(4, 16, {2: False, 4: True, 16: True}) == 16
    assert lv.bisect_next(4, 16, {2: False, 4: True, 16: False}) == 10
    assert lv.max_holding(4, 16, {4: True, 16: True, 32: False}) == 16  # 32: past high
    assert _bisect(4, 16, lambda c: False) == ([4], 0)  # even low fails: 0
    assert _bisect(4, 16, lambda c: True) == ([4, 16], 16)  # high holds: done
    assert _bisect(1, 2, lambda c: c == 1) == ([1, 2], 1)


def test_bisect_tolerates_non_monotone_results():
    # holds at 1, 2, fails at 3, holds again at 5: the answer stays below the first failure
    order, best = _bisect(1, 8, lambda c: c in (1, 2, 5))
    assert best == 2


def test_a_level_that_held_above_a_failure_is_never_the_answer():
    """Rule: the answer is the highest level that held BELOW the lowest failure; a level
    that held again above a failure (noise, a non-monotone engine) neither becomes the
    answer nor ends the bisection."""
    held = {1: True, 3: False, 5: True}
    assert lv.max_holding(1, 8, held) == 1
    assert lv.bisect_next(1, 8, {**held, 8: False}) == 2  # between 1 (held) and 3 (failed)


def test_max_levels_bounds_the_bisection():
    from tuneops.spec import Benchmark
    b = Benchmark(task="text-to-text", traffic_scenarios=("D(1,1)",), concurrency=(1, 64),
                  max_time_per_run_min=1, max_requests_per_run=1, concurrency_search="bisect")
    assert b.max_levels == 2 + 6
    for limit in range(0, 66):
        assert len(_bisect(1, 64, lambda c, lim=limit: c <= lim)[0]) <= b.max_levels


def test_drain_covers_a_prefill_and_a_token_within_genai_benchs_second():
    assert lv.drain_s(0.2, 0.05) == pytest.approx(0.3)  # p99 TTFT + two p99 tokens
    assert lv.drain_s(0.01, 0.001) == lv.DRAIN_MIN_S  # never below the floor
    assert lv.drain_s(3.0, 0.1) == lv.DRAIN_MAX_S  # never more than genai-bench's second
    assert lv.drain_s(None, None) == lv.DRAIN_MAX_S  # nothing measured: its second
    assert lv.drain_s(float("nan"), None) == lv.DRAIN_MAX_S
    assert lv.drain_s(None, 0.1) == pytest.approx(0.2)
    assert lv.drain_s(0.2, None) == pytest.approx(0.2)  # an unknown TPOT adds nothing


def test_the_drain_never_exceeds_genai_benchs_one_second():
    """Rule: genai-bench itself pauses one second after each run "to clear aborted
    requests"; tuneops' drain is at most that same second, never longer."""
    assert lv.drain_s(None, None) == 1.0
    assert lv.drain_s(5.0, 5.0) == 1.0


def test_a_negative_time_is_no_measurement_for_the_drain():
    """Rule: only finite, non-negative p99 times bound the drain; a negative one (a clock
    step, a broken parse) counts as unmeasured, so genai-bench's full second is waited."""
    assert lv.drain_s(-0.5, None) == lv.DRAIN_MAX_S
    assert lv.drain_s(None, -0.5) == lv.DRAIN_MAX_S
    assert lv.drain_s(0.0, None) == lv.DRAIN_MIN_S  # zero is a measurement: the floor


def test_an_unmeasured_time_beside_a_measured_one_adds_nothing_to_the_drain():
    """Rule: the drain adds up only what was measured. A NaN or negative p99 beside a real
    one is no time: NaN used to enter the sum, which then fell to the 0.1 s floor, and a
    negative TTFT shortened the drain of a real TPOT."""
    assert lv.drain_s(float("nan"), 0.1) == pytest.approx(0.2)
    assert lv.drain_s(0.5, float("nan")) == pytest.approx(0.5)
    assert lv.drain_s(-0.5, 0.2) == pytest.approx(0.4)
    assert lv.drain_s(0.3, float("-inf")) == pytest.approx(0.3)
    assert lv.drain_s(float("inf"), 0.1) == pytest.approx(0.2)  # +inf is no time either


def test_failed_requests_latencies_never_count_toward_early_stop():
    """Rule: a failed request's latency (a 30 s timeout still records one) says nothing of
    the served latency: 200 fast successes and 50 timed-out failures keep ttft.p99 <= 500."""
    run = run_json([0.05] * 200)
    run["individual_request_metrics"] += [
        {"ttft": 30.0, "e2e_latency": 30.0, "error_code": 504, "error_message": "timeout"}
    ] * 50
    assert lv.lost_slos([Slo(metric="ttft.p99", max=500.0)], run) == []


# ------------------------------------------------------------------ the walk over levels


@pytest.fixture(scope="module")
def walk_exp(tmp_path_factory):
    """An experiment with one SLO, ttft.p99 <= 500 ms, over two scenarios."""
    from tests import e2e_helpers as h

    path = h.write_experiment(tmp_path_factory.mktemp("walk"), "walk",
                              slos=[{"metric": "ttft.p99", "max": 500}])
    return h.load(path)


def with_levels(exp, concurrency, **benchmark):
    b = dataclasses.replace(exp.benchmark, **{"traffic_scenarios": ("A", "B"), **benchmark},
                            concurrency=tuple(concurrency))
    return dataclasses.replace(exp, benchmark=b)


def bisect_exp(folder):
    """A goodput bisection between 1 and 16 over two scenarios, read as a user writes it
    (the search's name a parsed string, not this module's literal)."""
    from tests import e2e_helpers as h

    path = h.write_experiment(folder, "bisect", slos=[{"metric": "ttft.p99", "max": 500}],
                              benchmark={"trafficScenarios": ["D(8,8)", "D(16,16)"],
                                         "concurrency": {"search": "bisect", "low": 1,
                                                         "high": 16}})
    return h.load(path)


class Bench:
    """A measure/lost pair over a table of ttft.p99 per level; records what was asked."""

    def __init__(self, ttft_at, lost_at=(), nothing_at=()):
        self.ttft_at, self.lost_at, self.nothing_at = ttft_at, set(lost_at), set(nothing_at)
        self.measured, self.asked_lost = [], []

    def measure(self, scenario, level):
        self.measured.append((scenario, level))
        if level in self.nothing_at:
            return None
        return {"ttft.p99": self.ttft_at(level), "output_throughput_per_gpu": 1.0}

    def lost(self, scenario, level):
        self.asked_lost.append((scenario, level))
        return [Slo(metric="ttft.p99", max=500.0)] if level in self.lost_at else []


def test_the_walk_stops_a_scenario_above_the_level_that_lost_an_slo(walk_exp):
    """Rule: early stop skips only the levels above the one that lost an SLO (that level
    was measured, and is not listed as not run); the next scenario starts afresh."""
    exp = with_levels(walk_exp, [1, 2, 4, 8])
    bench = Bench(lambda c: 100.0 * c, lost_at={2})
    measured, not_run, max_ok = lv.walk(exp, bench.measure, bench.lost)
    assert measured == {"A": {1: True, 2: True}, "B": {1: True, 2: True}}
    assert bench.measured == [("A", 1), ("A", 2), ("B", 1), ("B", 2)]
    assert not_run == [f"{s}@{c}: not run: SLO lost at 2 (ttft.p99)"
                       for s in "AB" for c in (4, 8)]
    assert max_ok == {}, "only bisection reports a highest holding level"


def test_a_level_that_measured_nothing_is_not_held_and_never_stops_the_walk(walk_exp):
    """Rule: a level with no measurement holds nothing, and (unmeasured) it says nothing
    about higher levels: the lost-SLO question is not even asked of it."""
    exp = with_levels(walk_exp, [1, 2, 4])
    bench = Bench(lambda c: 100.0, lost_at={1, 2, 4}, nothing_at={1, 2, 4})
    measured, not_run, _ = lv.walk(exp, bench.measure, bench.lost)
    assert measured == {"A": {1: False, 2: False, 4: False}, "B": {1: False, 2: False, 4: False}}
    assert bench.asked_lost == [] and not_run == []


def test_without_early_stop_every_level_runs_and_lost_is_never_asked(walk_exp):
    exp = with_levels(walk_exp, [1, 2, 4], early_stop=False)
    bench = Bench(lambda c: 400.0 * c, lost_at={1, 2, 4})
    measured, not_run, _ = lv.walk(exp, bench.measure, bench.lost)
    assert measured["A"] == {1: True, 2: False, 4: False} and not_run == []
    assert bench.asked_lost == []


def test_pruning_stops_the_trial_above_the_pruned_level_in_every_scenario(walk_exp):
    """Rule: a level the search prunes ends the whole trial: the rest of its scenario and
    every later scenario are listed as not run, pruned at that level."""
    exp = with_levels(walk_exp, [1, 2, 4, 8], traffic_scenarios=("A", "B", "C"))
    bench = Bench(lambda c: 100.0)
    measured, not_run, _ = lv.walk(exp, bench.measure, bench.lost,
                                   prune=lambda s, c, values: c == 2)
    assert measured == {"A": {1: True, 2: True}}
    reason = lv.pruned_reason(2)
    assert not_run == [f"A@{c}: {reason}" for c in (4, 8)] + \
        [f"{s}@{c}: {reason}" for s in "BC" for c in (1, 2, 4, 8)]


def test_pruning_under_bisection_ends_the_trial_after_that_scenario(tmp_path):
    """Rule: a pruned bisection finishes its scenario (its answer needs both ends), and
    no later scenario is measured: each is listed as not run at its bracket's levels."""
    exp = with_levels(bisect_exp(tmp_path), [1, 16], traffic_scenarios=("A", "B", "C"))
    bench = Bench(lambda c: 100.0 * c)
    measured, not_run, max_ok = lv.walk(exp, bench.measure, bench.lost,
                                        prune=lambda s, c, values: True)
    assert {s for s, _ in bench.measured} == {"A"} and max_ok == {"A": 5}
    assert not_run == [f"{s}@{c}: {lv.pruned_reason(5)}" for s in "BC" for c in (1, 16)]


def test_bisection_walks_from_both_ends_and_reports_the_highest_holding_level(tmp_path):
    """Rule: under goodput bisection the walk measures low, high, then midpoints, and
    returns per scenario the highest level that held (ttft 100 ms per unit of load: 5)."""
    exp = bisect_exp(tmp_path)
    bench = Bench(lambda c: 100.0 * c)
    measured, not_run, max_ok = lv.walk(exp, bench.measure, bench.lost)
    assert max_ok == {"D(8,8)": 5, "D(16,16)": 5} and not_run == []
    assert [c for s, c in bench.measured if s == "D(8,8)"] == [1, 16, 8, 4, 6, 5]
    assert measured["D(16,16)"] == {1: True, 16: False, 8: False, 4: True, 6: False, 5: True}


def test_annotate_puts_each_scenarios_max_slo_concurrency_on_every_level_of_it():
    """Rule: the highest level holding every SLO is reported on every level measured of its
    own scenario (a table row per level shows it), never on another scenario's; the levels
    not run are kept as the walk gave them."""
    import types

    from tuneops.metrics import MAX_SLO_CONCURRENCY

    outcome = types.SimpleNamespace(
        metrics={"A": {1: {"x": 1.0}, 8: {"x": 2.0}}, "B": {1: {"x": 3.0}}}, not_run=[])
    lv.annotate(outcome, ["A@16: stopped"], {"A": 8})
    assert [outcome.metrics["A"][c][MAX_SLO_CONCURRENCY] for c in (1, 8)] == [8.0, 8.0]
    assert MAX_SLO_CONCURRENCY not in outcome.metrics["B"][1]
    assert outcome.not_run == ["A@16: stopped"]
