"""The confirmation phase's schedule: top k, in alternation, until the best separates.

`run_confirmation` is given the re-measurement as a function (the runner passes one that
starts a fresh engine: tests/runner/test_noise_e2e.py runs that end to end); here it appends a
chosen value, so the schedule and the stopping rule can be checked exactly.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from tuneops.runner.confirm import run_confirmation
from tuneops.runner.results import COMPLETED, FAILED_BENCHMARK, TrialResult
from tuneops.runner.trial import summarize

from tuneops.spec import from_document

SC = "D(64,64)"


def make_exp(top_k=3, rounds=2):
    return from_document({
        "metadata": {"name": "confirm"},
        "model": {"id": "m.gguf", "tokenizer": "assets/tokenizer"},
        "engine": {"name": "llamacpp"},
        "deployment": {"mode": "local", "gpus": {"count": 0}},
        "parameters": {"parallel": [1, 2, 3, 4]},
        "benchmark": {"trafficScenarios": [SC], "concurrency": [1], "repeats": 2},
        "objective": {"metric": "output_throughput"},
        "search": {"confirm": {"topK": top_k, "rounds": rounds}},
    })


def measured(exp, i, values):
    r = TrialResult(trial_id=f"t{i}", index=i, params={"parallel": i}, args={},
                    status=COMPLETED,
                    samples={SC: {1: [{"output_throughput": v} for v in values]}})
    summarize(exp, r)
    return r


def remeasurer(exp, next_value, calls):
    def remeasure(prior: TrialResult) -> TrialResult:
        calls.append(prior.trial_id)
        merged = replace(prior, confirmations=prior.confirmations + 1,
                         samples={SC: {1: [*prior.samples[SC][1],
                                           {"output_throughput": next_value(prior)}]}})
        summarize(exp, merged)
        return merged
    return remeasure


def test_top_k_are_remeasured_in_alternation_until_the_rounds_end():
    exp = make_exp(top_k=3, rounds=2)
    finished = {r.trial_id: r for r in [measured(exp, 1, [100, 104]), measured(exp, 2, [101, 99]),
                                        measured(exp, 3, [98, 103]), measured(exp, 4, [10, 12])]}
    calls: list[str] = []
    journal: list[str] = []
    again = remeasurer(exp, lambda r: r.metrics[SC][1]["output_throughput"], calls)
    out = run_confirmation(exp, finished, again, on_result=lambda r: journal.append(r.trial_id))
    a, b, c = out.candidates
    assert calls == [a, b, c, a, b, c] == journal  # A B C A B C, each journaled
    assert "t4" not in calls  # not in the top 3
    assert (out.rounds, out.measurements, out.stopped_by) == (2, 6, "rounds")
    assert all(finished[t].confirmations == 2 and len(finished[t].samples[SC][1]) == 4
               for t in (a, b, c))


def test_the_phase_stops_once_the_best_separates():
    exp = make_exp(top_k=2, rounds=5)
    finished = {"t1": measured(exp, 1, [100, 130]), "t2": measured(exp, 2, [90, 95])}
    calls: list[str] = []
    # t1 settles at 120, t2 at 90: after one round the intervals no longer overlap
    target = {"t1": 120.0, "t2": 92.0}
    out = run_confirmation(exp, finished, remeasurer(exp, lambda r: target[r.trial_id], calls))
    assert out.stopped_by == "separated" and out.separated
    assert out.rounds < 5 and len(calls) == 2 * out.rounds


def test_a_candidate_behind_the_best_beyond_the_noise_drops_out_of_the_race():
    exp = make_exp(top_k=3, rounds=2)
    finished = {r.trial_id: r for r in [measured(exp, 1, [100, 104]), measured(exp, 2, [101, 99]),
                                        measured(exp, 3, [50, 51]), measured(exp, 4, [10, 12])]}
    calls: list[str] = []
    out = run_confirmation(exp, finished, remeasurer(
        exp, lambda r: r.metrics[SC][1]["output_throughput"], calls))
    assert out.candidates == ["t1", "t2", "t3"]
    assert calls == ["t1", "t2", "t1", "t2"]  # t3 is ~50 behind: re-measuring it is waste
    assert (out.measurements, out.stopped_by, out.separated) == (4, "rounds", False)


def test_the_race_ends_when_no_candidate_ties_with_the_best():
    """t2 is out of the best's reach; t3 (not a candidate) ties with it: nothing to race."""
    exp = make_exp(top_k=2, rounds=3)
    finished = {r.trial_id: r for r in [measured(exp, 1, [100, 100.2]),
                                        measured(exp, 2, [95, 95.1]),
                                        measured(exp, 3, [70, 110])]}
    calls: list[str] = []
    out = run_confirmation(exp, finished, remeasurer(exp, lambda r: 0.0, calls))
    assert calls == [] and out.stopped_by == "candidates separated" and not out.separated
    # a race of fewer than two ends before any round: none is counted as run
    assert (out.rounds, out.measurements) == (0, 0)


def test_a_resumed_phase_skips_rounds_already_measured_and_failures_drop_out():
    exp = make_exp(top_k=3, rounds=1)
    done = replace(measured(exp, 1, [100, 120]), confirmations=1)
    failed = TrialResult(trial_id="t3", index=3, params={"parallel": 3}, args={},
                         status=FAILED_BENCHMARK)
    finished = {"t1": done, "t2": measured(exp, 2, [101, 119]), "t3": failed}
    calls: list[str] = []
    run_confirmation(exp, finished, remeasurer(exp, lambda r: 110.0, calls))
    assert calls == ["t2"]


def test_no_phase_when_turned_off_or_with_one_candidate():
    off = make_exp()
    off = replace(off, search=replace(off.search, confirm_top_k=0))
    assert run_confirmation(off, {}, lambda r: r).stopped_by == "off"
    exp = make_exp()
    one = {"t1": measured(exp, 1, [100, 101])}
    assert run_confirmation(exp, one, lambda r: r).stopped_by == "not needed"


def test_single_measurements_all_race_since_nothing_separates_them():
    """One repeat each: no interval, so no candidate is out of the best's reach."""
    exp = make_exp(top_k=3, rounds=1)
    finished = {r.trial_id: r for r in [measured(exp, 1, [100]), measured(exp, 2, [60]),
                                        measured(exp, 3, [20])]}
    calls: list[str] = []
    out = run_confirmation(exp, finished, remeasurer(exp, lambda r: 50.0, calls))
    assert calls == ["t1", "t2", "t3"] and out.measurements == 3


def test_a_candidate_whose_remeasurement_failed_is_not_measured_again():
    """Rule: a candidate that failed on its fresh engine is out of the race, even while
    nothing has an interval yet (so every candidate still races)."""
    exp = make_exp(top_k=2, rounds=2)
    finished = {"t1": measured(exp, 1, [120]), "t2": measured(exp, 2, [100])}
    calls: list[str] = []

    def remeasure(prior: TrialResult) -> TrialResult:
        calls.append(prior.trial_id)
        if prior.trial_id == "t1":
            return replace(prior, status=FAILED_BENCHMARK, confirmations=1)
        again = replace(prior, confirmations=prior.confirmations + 1,
                        samples={SC: {1: [{"output_throughput": 100.0}]}})  # still one
        summarize(exp, again)
        return again

    out = run_confirmation(exp, finished, remeasure)
    assert calls == ["t1", "t2", "t2"]
    assert finished["t1"].status == FAILED_BENCHMARK and out.measurements == 3


def test_a_phase_that_does_not_run_takes_no_time():
    off = make_exp()
    off = replace(off, search=replace(off.search, confirm_top_k=0))
    assert run_confirmation(off, {}, lambda r: r).as_dict() == {
        "candidates": [], "rounds": 0, "measurements": 0, "seconds": 0.0,
        "separated": False, "stopped_by": "off"}  # a summary of its own, nothing shared
    exp = make_exp()
    one = {"t1": measured(exp, 1, [100, 101])}
    assert run_confirmation(exp, one, lambda r: r).as_dict() == {
        "candidates": ["t1"], "rounds": 0, "measurements": 0, "seconds": 0.0,
        "separated": False, "stopped_by": "not needed"}


def _clock(*readings):
    it = iter(readings)
    return lambda: next(it)


def test_the_phase_reports_its_own_duration():
    """Timed by the clock it is given: start and end readings, whether the rounds ran out
    or a stop request ended it."""
    exp = make_exp(top_k=2, rounds=1)
    finished = {"t1": measured(exp, 1, [100, 120]), "t2": measured(exp, 2, [101, 119])}
    out = run_confirmation(exp, finished, remeasurer(exp, lambda r: 110.0, []),
                           clock=_clock(100.0, 107.5))
    assert out.seconds == 7.5
    stopped = run_confirmation(exp, finished, remeasurer(exp, lambda r: 110.0, []),
                               stop=lambda: "interrupted", clock=_clock(50.0, 52.25))
    assert (stopped.stopped_by, stopped.seconds) == ("interrupted", 2.25)
    # a phase longer than the clock's start reading: the difference, not a remainder
    stopped = run_confirmation(exp, finished, remeasurer(exp, lambda r: 110.0, []),
                               stop=lambda: "out of time", clock=_clock(10.0, 32.25))
    assert (stopped.stopped_by, stopped.seconds) == ("out of time", 22.25)


def test_zero_rounds_turn_the_phase_off():
    exp = make_exp(top_k=3, rounds=1)
    exp = replace(exp, search=replace(exp.search, confirm_rounds=0))
    finished = {"t1": measured(exp, 1, [100, 120]), "t2": measured(exp, 2, [101, 119])}
    assert run_confirmation(exp, finished, lambda r: r).stopped_by == "off"


def test_a_status_read_back_from_a_journal_is_compared_by_value():
    """A resumed trial's status is a fresh string (parsed JSON), never the constant itself:
    it still counts as completed."""
    exp = make_exp(top_k=2, rounds=1)
    fresh = "".join(["comp", "leted"])
    finished = {"t1": replace(measured(exp, 1, [100, 120]), status=fresh),
                "t2": measured(exp, 2, [101, 119])}
    calls: list[str] = []
    run_confirmation(exp, finished, remeasurer(exp, lambda r: 110.0, calls))
    assert calls == ["t1", "t2"]


def test_the_duration_is_reported_to_the_millisecond():
    exp = make_exp(top_k=2, rounds=1)
    finished = {"t1": measured(exp, 1, [100, 120]), "t2": measured(exp, 2, [101, 119])}
    out = run_confirmation(exp, finished, remeasurer(exp, lambda r: 110.0, []),
                           clock=_clock(0.0, 1.23456))
    assert out.as_dict()["seconds"] == 1.235


def test_one_candidate_asked_for_is_off_not_merely_not_needed():
    """Rule: confirmation compares candidates, so topK below 2 turns the phase off (even
    when many trials would qualify), before any ranking is made."""
    exp = make_exp(top_k=1, rounds=2)
    finished = {"t1": measured(exp, 1, [100, 120]), "t2": measured(exp, 2, [101, 119])}
    out = run_confirmation(exp, finished, lambda r: r)
    assert (out.stopped_by, out.candidates) == ("off", [])


def test_a_candidate_back_in_the_race_is_measured_for_the_rounds_it_missed():
    """Rule: a candidate out of the race in one round (its interval past the best's) that
    ties with the best again later is re-measured then: only a round it already had (its
    `confirmations` beyond the round) is skipped, not one it sat out."""
    exp = make_exp(top_k=3, rounds=2)
    finished = {r.trial_id: r for r in [measured(exp, 1, [100, 104]), measured(exp, 2, [101, 99]),
                                        measured(exp, 3, [10, 12])]}
    calls: list[str] = []
    # round 1: t3 is far behind and sits out; t1 and t2 come back wildly noisy, so their
    # intervals reach t3's again and t3 races in round 2
    out = run_confirmation(exp, finished, remeasurer(exp, lambda r: 0.0, calls))
    assert calls[:2] == ["t1", "t2"]
    assert "t3" in calls[2:]
    assert finished["t3"].confirmations == 1 and out.rounds == 2


def test_the_hooks_are_keyword_only():
    """Rule: stop, on_result and clock are all callables, so they are keyword-only: passed
    by position, a clock could silently be taken for `stop` (a float is truthy: it would
    read as a reason to stop)."""
    exp = make_exp(top_k=2, rounds=1)
    with pytest.raises(TypeError):
        run_confirmation(exp, {}, lambda r: r, lambda: None)  # type: ignore[misc]
