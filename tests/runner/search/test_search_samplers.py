"""search.sampler: which Optuna sampler Bayesian search asks, its start-up, the notation of
the space, and how failures reach it (runner/search/samplers.py, bayesian.py)."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from tuneops.runner.results import COMPLETED, FAILED_CONFIG, Score, TrialResult
from tuneops.runner.search import make_searcher
from tuneops.runner.search.samplers import QmcStartup, startup_trials

from tuneops import checks_benchmark
from tuneops.plan import make_plan
from tuneops.spec import from_document
from tuneops.validate import validate_file

RANGES = {"a": {"type": "int", "low": 8, "high": 64, "step": 8},
          "b": {"type": "float", "low": 0.6, "high": 0.9, "step": 0.1},
          "c": [4096, 1024, 2048]}
LISTS = {"a": [8, 16, 24, 32, 40, 48, 56, 64], "b": [0.6, 0.7, 0.8, 0.9],
         "c": [1024, 2048, 4096]}


def doc(parameters, sampler=None, method="bayesian", **search):
    s = {"method": method, "seed": 7, "maxTrials": 24, **search}
    if sampler:
        s["sampler"] = sampler
    return {
        "metadata": {"name": "sampler-test"},
        "model": {"id": "org/model"},
        "engine": {"name": "sim", "args": {"gpu-type": "H100"}},
        "deployment": {"mode": "local", "gpus": {"count": 1}},
        "benchmark": {"trafficScenarios": ["D(100,100)"], "concurrency": [4]},
        "objective": {"metric": "output_throughput"},
        "parameters": parameters,
        "search": s,
    }


def told(trial, value=None, status=COMPLETED):
    score = None if value is None else Score(value, True, 0.0, 4, 4)
    return TrialResult(trial.id, trial.index, trial.params, trial.args, status, score=score)


def drive(exp, n=18, oom=lambda p: False):
    s = make_searcher(exp, make_plan(exp))
    points = []
    for _ in range(n):
        t = s.ask()
        p = t.params
        points.append(tuple(sorted(p.items())))
        value = 100 - (p["a"] - 40) ** 2 / 10 - 50 * (p["b"] - 0.8) ** 2 + p["c"] / 1024
        s.tell(told(t, status=FAILED_CONFIG) if oom(p) else told(t, value))
    return s, points


@pytest.mark.parametrize("sampler", ["tpe", "qmc", "cmaes"])
def test_a_range_and_the_same_values_as_a_list_search_alike(sampler):
    """Issue 23: written as lists, TPE's median changed up to 4.5x. Now a finite set of
    numbers is one ordinal index however it is written (and in whatever order listed)."""
    _, by_range = drive(from_document(doc(RANGES, sampler)))
    _, by_list = drive(from_document(doc(LISTS, sampler)))
    assert by_range == by_list
    assert len(set(by_range)) == len(by_range)  # and the search moves: no repeats


def test_startup_scales_with_the_space_and_the_budget():
    assert [startup_trials(None, n) for n in (10, 500, 2_900, 40_000, 100_000)] == \
        [5, 5, 5, 20, 30]
    assert startup_trials(None, None) == 10  # continuous: Optuna's own 10
    assert startup_trials(60, 40_000) == 20
    assert startup_trials(12, 40_000) == 4  # never more than a third of the budget


def test_startup_follows_a_sobol_sequence_then_the_model():
    s, _ = drive(from_document(doc(LISTS, "tpe")), n=12)
    sampler = s.study.sampler
    assert isinstance(sampler, QmcStartup) and s.startup == 5  # 96 points: the least
    attrs = s.study._storage.get_study_system_attrs(s.study._study_id)
    drawn = [v for k, v in attrs.items() if k.startswith("qmc:")]
    assert drawn and drawn[0] + 1 >= s.startup - 1  # the first draw is independent (QMC
    # has no space before a trial); the rest are Sobol points, then TPE takes over
    assert isinstance(sampler.model, optuna.samplers.TPESampler)


def _real_values(s):
    return {t.number: t.value for t in s.study.trials
            if t.state == TrialState.COMPLETE and t.params and LISTS["a"][t.params["a"]] < 48}


def test_an_oom_reaches_a_constraint_aware_sampler_as_a_violated_constraint():
    s, _ = drive(from_document(doc(LISTS, "tpe")), n=12, oom=lambda p: p["a"] >= 48)
    ooms = [t for t in s.study.trials if t.params and LISTS["a"][t.params["a"]] >= 48
            and t.state != TrialState.FAIL]  # FAIL: a point proposed twice, asked again
    real = _real_values(s)
    assert ooms, "the seed drew no OOM point"
    for t in ooms:  # COMPLETE (GP and TPE read it), violated, the worst value so far
        assert t.state == TrialState.COMPLETE and t.constraints == {"violation": 10.0}
        before = [v for n, v in real.items() if n < t.number]
        assert t.value in real.values() and all(t.value <= v for v in before)


def test_cmaes_ignores_constraints_so_an_oom_is_told_as_the_worst_value():
    s, _ = drive(from_document(doc(LISTS, "cmaes")), n=12, oom=lambda p: p["a"] >= 48)
    ooms = [t for t in s.study.trials if t.params and LISTS["a"][t.params["a"]] >= 48
            and t.state != TrialState.FAIL]  # FAIL: a point proposed twice, asked again
    real = _real_values(s)
    assert ooms
    for t in ooms:
        assert t.state == TrialState.COMPLETE and t.constraints == {}
        before = [v for n, v in real.items() if n < t.number]
        assert t.value in real.values() and all(t.value <= v for v in before)


BAD = Path(__file__).parents[2] / "bad" / "sampler-without-bayesian.yaml"


def test_a_sampler_outside_bayesian_search_is_refused_where_it_is_written():
    line = BAD.read_text().splitlines().index("  sampler: gp") + 1
    _, diags = validate_file(BAD)
    assert [(d.path, d.line) for d in diags] == [("search.sampler", line)]


def test_a_sampler_whose_library_is_missing_is_refused_before_any_trial(monkeypatch, tmp_path):
    path = tmp_path / "e.yaml"
    path.write_text(BAD.read_text().replace("  method: grid\n",
                                            "  method: bayesian\n  maxTrials: 5\n"))
    real = checks_benchmark.importlib.util.find_spec
    # torch is not a dev dependency (CI has none): the check is judged with it present,
    # then absent, whatever this machine has
    monkeypatch.setattr(checks_benchmark.importlib.util, "find_spec",
                        lambda name: real(name) or (object() if name == "torch" else None))
    assert validate_file(path)[1] == []
    monkeypatch.setattr(checks_benchmark.importlib.util, "find_spec",
                        lambda name: None if name == "torch" else real(name))
    _, diags = validate_file(path)
    assert [(d.path, d.message) for d in diags] == \
        [("search.sampler", "sampler gp needs torch, not installed here")]
