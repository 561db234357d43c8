"""The memory pre-filter's and the start log's rules, one at a time (issue 26): which GPU a
point is planned on, what the plan does with a value it cannot read, which start failure a
group remembers, and which fractions the bisection may still start. Unit-fast: the
mutation sweep runs this file once per mutant of runner/search/memory.py."""

from __future__ import annotations

import dataclasses

import pytest
from tuneops.runner.search import memory
from tuneops.runner.search.memory import Inferred, StartLog, cannot_start, known_gpu

from tests.runner.search.test_search_memory import SGLANG_EMPTY, SGLANG_OOM, _exp

F = "mem-fraction-static"
POINT = {"chunked-prefill-size": 2048, "max-running-requests": 32}


def _at(f: float, **other) -> dict:
    return {**POINT, F: f, **other}


def test_a_trials_own_gpu_type_is_the_one_planned():
    """The simulator models the GPU of its own `gpu-type` flag, so the point is planned on
    that type, not on the simulator's default."""
    assert known_gpu(_exp(), _at(0.8, **{"gpu-type": "A100-80G"})) == "A100-80G"
    assert known_gpu(_exp(), _at(0.8)) == "H100"  # engines/sim/config.py's default


def test_only_the_simulator_has_a_default_gpu():
    """A real engine without a GPU type has no card to plan on (vLLM as SGLang): nothing
    is refused. The engine's name compares by value: a name read from a file is a str of
    its own, not the module's constant."""
    assert known_gpu(_exp("vllm"), {"gpu-memory-utilization": 0.99}) is None
    assert cannot_start(_exp("vllm"), {"gpu-memory-utilization": 0.99}) is None
    exp = _exp()
    read = dataclasses.replace(exp, engine=dataclasses.replace(
        exp.engine, name="".join(["si", "m"])))
    assert read.engine.name == "sim" and read.engine.name is not exp.engine.name
    assert known_gpu(read, _at(0.8)) == "H100"


@pytest.mark.parametrize("bad", [{"gpu-type": "B300"},  # KeyError: no such GPU profile
                                 {"tp-size": "two"},  # ValueError: int("two")
                                 {"tp-size": [1, 2]}])  # TypeError: int of a list
def test_a_value_the_memory_model_cannot_read_refuses_nothing(bad):
    """A bad day's value (an unknown GPU, a word for a number, a list): the plan cannot
    say anything, so the point is not left out; the engine judges it when it starts."""
    assert cannot_start(_exp(), _at(0.99, **bad)) is None
    assert cannot_start(_exp(), _at(0.99)) is not None  # the same point, readable: refused


def test_no_plan_is_made_without_a_model_or_a_gpu(monkeypatch):
    """A point of an experiment the model does not know (no profile for its model, or no
    GPU type for a real engine) is never fed to the memory model: there is nothing to
    plan it on, and no refusal may come out of a plan against a guessed card or model."""
    def no_plan(*args):
        raise AssertionError(f"planned without a model or GPU: {args}")

    monkeypatch.setattr(memory, "perf_model", no_plan)
    no_model = _exp()
    no_model = dataclasses.replace(no_model, model=dataclasses.replace(
        no_model.model, id="acme/unknown-model"))
    assert cannot_start(no_model, _at(0.99)) is None
    assert cannot_start(_exp("sglang"), _at(0.99)) is None


def test_the_plan_of_one_point_never_answers_for_another_of_equal_values():
    """The plans are remembered per point, and a value is read with its type: a chunk
    size of True (the model's default chunk) leaves no room at 0.97 where a chunk of one
    token fits, whichever of the two was planned first."""
    one = _at(0.97, **{"chunked-prefill-size": 1, "max-running-requests": 33})
    true = {**one, "chunked-prefill-size": True}
    assert cannot_start(_exp(), one) is None
    assert "out of memory" in cannot_start(_exp(), true)
    assert cannot_start(_exp(), one) is None


def test_outcomes_are_immutable_values():
    """An inferred outcome is a value: it cannot be changed after it was noted, and two
    equal ones are one (they can key a set)."""
    a, b = Inferred("t1", 0.9, "why"), Inferred("t1", 0.9, "why")
    assert {a, b} == {a}
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.fraction = 0.5


@pytest.mark.parametrize(("log_text", "kept", "first", "weaker", "stronger"), [
    # an empty KV pool at f speaks for every lower fraction: the highest such f is kept
    (SGLANG_EMPTY, "too_low", 0.6, 0.5, 0.7),
    # an OOM at f speaks for every higher fraction: the lowest such f is kept
    (SGLANG_OOM, "too_high", 0.8, 0.9, 0.7),
])
def test_a_group_keeps_its_strongest_memory_failure_with_its_first_trial(
        log_text, kept, first, weaker, stronger):
    """A weaker failure (a fraction the kept one already speaks for) or a repeat at the
    same fraction adds nothing, and the note keeps naming the trial that showed it first;
    a stronger one replaces it."""
    log = StartLog(_exp())
    g = log.group(_at(first))
    log.learn("t1", _at(first), log_text)
    log.learn("t2", _at(weaker), log_text)
    log.learn("t3", _at(first, **{"max-running-requests": 64}), log_text)
    assert getattr(log, kept)[g] == (first, "t1")
    log.learn("t4", _at(stronger), log_text)
    assert getattr(log, kept)[g] == (stronger, "t4")


def test_the_fraction_that_left_no_kv_speaks_for_its_group_at_that_fraction_too():
    """Another point of the group (another cap) at exactly the fraction whose KV pool came
    out empty gets the same empty pool: it is left out like the lower ones."""
    log = StartLog(_exp())
    log.learn("t1", _at(0.6), SGLANG_EMPTY)
    got = log.verdict(_at(0.6, **{"max-running-requests": 64}))
    assert got == Inferred("t1", 0.6, f"{F} 0.6 <= 0.6, which left no KV cache at start "
                           "in trial t1 (same tp, chunk and graph sizes)")


VALUES = [0.5, 0.55, 0.6, 0.62, 0.64, 0.66, 0.68, 0.7, 0.8, 0.9]


def test_the_bisection_probes_only_fractions_strictly_inside_the_open_range():
    """After a start at 0.6 and an OOM at 0.7, the fractions still open are those strictly
    between: 0.6 is known to start, 0.7 known to fail, and those below 0.6 or above 0.7
    are settled too, so a point at any of them gets no probe."""
    log = StartLog(_exp())
    log.learn("t1", _at(0.6), None)
    log.learn("t2", _at(0.7), SGLANG_OOM)
    for settled in (0.5, 0.55, 0.6, 0.7, 0.8, 0.9):
        assert log.probe(_at(settled), VALUES) is None, settled
    assert log.probe(_at(0.62), VALUES) == 0.66  # the middle of 0.62 .. 0.68


def test_the_bisection_probes_the_middle_of_what_is_open():
    """Bisection halves the open values each start: of five it starts the third, of six
    the fourth."""
    log = StartLog(_exp())
    log.learn("t1", _at(0.5), None)
    log.learn("t2", _at(0.7), SGLANG_OOM)
    values = [0.5, 0.55, 0.6, 0.62, 0.64, 0.66, 0.7]
    assert log.probe(_at(0.6), values) == 0.62  # open: 0.55 0.6 0.62 0.64 0.66
    assert log.probe(_at(0.6), VALUES) == 0.64  # open: 0.55 .. 0.68, six: the upper middle


def test_the_bisection_starts_above_both_a_start_and_an_empty_kv_pool():
    """The range's low end is the higher of the highest fraction that started and the
    highest that left no KV: neither, nor anything below it, is started again."""
    log = StartLog(_exp())
    log.learn("t1", _at(0.55), SGLANG_EMPTY)
    log.learn("t2", _at(0.6), None)
    log.learn("t3", _at(0.7), SGLANG_OOM)
    assert log.probe(_at(0.6), VALUES) is None
    assert log.probe(_at(0.62), VALUES) == 0.66
    log = StartLog(_exp())
    log.learn("t1", _at(0.5), None)
    log.learn("t2", _at(0.62), SGLANG_EMPTY)
    log.learn("t3", _at(0.7), SGLANG_OOM)
    assert log.probe(_at(0.6), VALUES) is None
    assert log.probe(_at(0.64), VALUES) == 0.66  # open: 0.64 0.66 0.68
