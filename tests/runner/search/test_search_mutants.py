"""Search bookkeeping and the sampled space, rule by rule: caps, the failed-trial cap, what
counts as seen, cancelled and half-done trials, indexes; snapping to the lattice, the finite
values of a range, the feasible set. Written to kill what `make mutation MODULES=search`
found passing tests/runner/search/test_search.py."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tuneops.runner.results import (
    CANCELLED,
    COMPLETED,
    FAILED_BENCHMARK,
    FAILED_CONFIG,
    FAILED_INFRA,
    Score,
    TrialResult,
)
from tuneops.runner.search import domain, is_failure, make_searcher
from tuneops.runner.search.base import Searcher
from tuneops.runner.search.bayesian import startup_trials

from tuneops.plan import make_plan, make_trial
from tuneops.spec import Param, from_document


def experiment(method="grid", parameters=None, constraints=(), **search):
    return from_document({
        "metadata": {"name": "search-mutants"},
        "model": {"id": "org/model"},
        "engine": {"name": "sim", "args": {"gpu-type": "H100"}},
        "deployment": {"mode": "local", "gpus": {"count": 2}},
        "benchmark": {"trafficScenarios": ["D(100,100)"], "concurrency": [4]},
        "objective": {"metric": "output_throughput", "direction": "maximize"},
        "parameters": parameters or {"a": [1, 2, 3]},
        "constraints": list(constraints),
        "search": {"method": method, "seed": 0, **search},
    })


def searcher(exp, **kw) -> Searcher:
    return make_searcher(exp, make_plan(exp), **kw)


def told(trial, status=COMPLETED, score=True):
    sc = Score(1.0, True, 0.0, 4, 4) if score else None
    return TrialResult(trial.id, trial.index, trial.params, trial.args, status, score=sc)


# ---------------------------------------------------------------- bookkeeping

@pytest.mark.parametrize("status,score,failure", [
    (COMPLETED, True, False), (COMPLETED, False, True), (CANCELLED, False, False),
    (CANCELLED, True, False), (FAILED_CONFIG, False, True), (FAILED_INFRA, False, True),
    (FAILED_BENCHMARK, True, True),
])
def test_is_failure(status, score, failure):
    trial = make_plan(experiment()).trials[0]
    assert is_failure(told(trial, status, score)) is failure


def test_unknown_method():
    exp = experiment()
    object.__setattr__(exp.search, "method", "annealing")
    with pytest.raises(ValueError, match="unknown search method 'annealing'"):
        make_searcher(exp, make_plan(exp))


@pytest.mark.parametrize("cap,override,expected", [
    (None, None, None), (5, None, 5), (None, 4, 4), (5, 3, 3), (3, 5, 3), (None, 0, None),
])
def test_the_trial_cap_is_the_tighter_of_experiment_and_override(cap, override, expected):
    search = {"maxTrials": cap} if cap else {}
    s = searcher(experiment(**search), max_trials=override)
    assert s.max_trials == expected


def test_remaining_counts_finished_and_pending_against_the_cap():
    s = searcher(experiment(parameters={"a": [1, 2, 3, 4]}, maxTrials=3))
    assert s.remaining == 3
    first = s.ask()
    assert s.remaining == 2
    s.tell(told(first))
    assert s.remaining == 2 and s.stop_reason is None
    second, third = s.ask(), s.ask()
    assert s.remaining == 0 and s.ask() is None and not s.done  # wait for pending results
    s.tell(told(second))
    s.tell(told(third))
    assert s.done and s.stop_reason == "max_trials" and s.remaining == 0


def test_no_cap_means_no_remaining_count():
    s = searcher(experiment())
    assert s.remaining is None


def test_the_failed_trial_cap_counts_failures_only_and_stops_at_the_cap():
    s = searcher(experiment(parameters={"a": [1, 2, 3, 4, 5]}, maxFailedTrials=2))
    t = [s.ask() for _ in range(4)]
    s.tell(told(t[0], FAILED_CONFIG))
    s.tell(told(t[1]))
    s.tell(told(t[2], CANCELLED))
    assert s.n_failed == 1 and s.stop_reason is None
    s.tell(told(t[3], FAILED_INFRA))
    assert s.n_failed == 2 and s.done and s.stop_reason == "max_failed_trials"
    assert s.ask() is None and s.remaining == 0


def test_a_result_told_twice_counts_once_and_the_latest_wins():
    s = searcher(experiment(parameters={"a": [1, 2, 3]}, maxFailedTrials=2))
    t = s.ask()
    s.tell(told(t, FAILED_INFRA))
    s.tell(told(t, FAILED_INFRA))
    assert s.n_failed == 1 and not s.done
    s.tell(told(t))
    assert s.n_failed == 0 and s.finished[t.id].status == COMPLETED


def test_exhausted_only_once_nothing_is_pending():
    s = searcher(experiment(parameters={"a": [1, 2]}))
    a, b = s.ask(), s.ask()
    assert s.ask() is None and not s.done  # b is still running
    s.tell(told(a))
    s.tell(told(b))
    assert s.ask() is None and s.done and s.stop_reason == "exhausted"


def test_a_cancelled_trial_comes_back_first_once():
    s = searcher(experiment(parameters={"a": [1, 2, 3]}))
    a, b = s.ask(), s.ask()
    assert s.seen(a.id) and s.seen(b.id)
    s.tell(told(a, CANCELLED))
    assert s.seen(a.id) and a.id not in s.pending and a.id not in s.finished
    s.tell(told(a, CANCELLED))  # told again while queued: still once
    assert s.ask() == a and s.ask().params == {"a": 3}
    assert s.ask() is None


def test_a_cancelled_result_of_an_earlier_run_is_rebuilt_and_rerun():
    exp = experiment(parameters={"a": [1, 2, 3]})
    t = make_plan(exp).trials[2]
    s = searcher(exp)
    s.tell(told(t, CANCELLED))
    again = s.ask()
    assert (again.id, again.index, again.params, again.args) == (t.id, t.index, t.params, t.args)


def test_rerun_queues_a_half_done_trial_unless_seen():
    exp = experiment(parameters={"a": [1, 2, 3]})
    trials = make_plan(exp).trials
    s = searcher(exp)
    s.tell(told(trials[0]))
    s.rerun(trials[0])  # finished: not again
    s.rerun(trials[2])
    s.rerun(trials[2])  # queued once
    assert s.ask() == trials[2]
    assert s.ask() == trials[1] and s.ask() is None


def test_indexes_continue_after_resumed_results():
    exp = experiment("random", parameters={"a": [1, 2, 3, 4, 5, 6]})
    first = searcher(exp)
    done = [first.ask() for _ in range(2)]
    resumed = searcher(exp)
    for t in done:
        resumed.tell(told(t))
    nxt = resumed.ask()
    assert nxt.index == max(t.index for t in done) + 1 and nxt.id not in {t.id for t in done}


def test_bayesian_startup_trials():
    assert [startup_trials(n) for n in (None, 1, 9, 12, 30, 31, 100)] == [10, 3, 3, 4, 10, 10, 10]


# ---------------------------------------------------------------- the sampled space

def P(kind, low=None, high=None, step=None, log=False, values=None):
    return Param("p", kind, values=values, low=low, high=high, step=step, log=log)


@pytest.mark.parametrize("param,raw,snapped", [
    (P("int", 1, 10), 4.4, 4), (P("int", 1, 10), 4.6, 5),
    (P("int", 8, 32, 8), 19, 16), (P("int", 8, 32, 8), 21, 24), (P("int", 8, 30, 8), 40, 24),
    (P("int", 8, 32, 8), -5, 8),
    (P("float", 0.5, 0.9, 0.1), 0.74, 0.7), (P("float", 0.5, 0.9, 0.1), 0.76, 0.8),
    (P("float", 0.5, 0.9, 0.1), 5.0, 0.9), (P("float", 0.0, 1.0), 0.123456789, 0.123457),
    (P("float", 0.0, 1.0), 2.0, 1.0), (P("float", 0.0, 1.0), -1.0, 0.0),
    (P("float", 1e-4, 1e-2), 0.00123456789, 0.00123457),
])
def test_snap(param, raw, snapped):
    got = domain.snap(param, raw)
    assert got == snapped and type(got) is type(snapped)


def test_tidy_keeps_six_significant_digits():
    assert domain.tidy(1234567.0) == 1234570.0 and domain.tidy(0.1 + 0.2) == 0.3


@pytest.mark.parametrize("param,values", [
    (P("values", values=("x", "y")), ("x", "y")), (P("bool", values=(False, True)),
                                                   (False, True)),
    (P("int", 1, 4), (1, 2, 3, 4)), (P("int", 8, 32, 8), (8, 16, 24, 32)),
    (P("int", 8, 30, 8), (8, 16, 24)), (P("float", 0.5, 0.7, 0.1), (0.5, 0.6, 0.7)),
    (P("float", 0.0, 1.0), None),
])
def test_finite_values(param, values):
    got = domain.finite_values(param)
    assert got == pytest.approx(values) if values else got is None


def test_space_size():
    assert domain.space_size([P("int", 1, 4), P("values", values=(1, 2, 3))]) == 12
    assert domain.space_size([P("int", 1, 4), P("float", 0.0, 1.0)]) is None
    assert domain.space_size([]) == 1


@given(seed=st.integers(0, 2**32), low=st.integers(1, 50), span=st.integers(0, 500),
       step=st.sampled_from([None, 1, 2, 7]))
def test_int_draws_are_on_the_lattice_in_range(seed, low, span, step):
    rng = random.Random(seed)
    for log in (False, True):
        p = P("int", low, low + span, step, log=log)
        x = domain.sample_value(p, rng)
        assert type(x) is int and low <= x <= low + span
        if not log:
            assert (x - low) % (step or 1) == 0


@given(seed=st.integers(0, 2**32), low=st.floats(1e-3, 10), factor=st.floats(1.0, 1e3))
def test_float_draws_stay_in_range(seed, low, factor):
    rng = random.Random(seed)
    for log in (False, True):
        p = P("float", low, low * factor, log=log)
        x = domain.sample_value(p, rng)
        assert type(x) is float and low <= x <= low * factor


def test_log_int_draws_favour_small_values():
    rng = random.Random(1)
    p = P("int", 1, 1000, log=True)
    xs = [domain.sample_value(p, rng) for _ in range(2000)]
    assert sum(x <= 31 for x in xs) > 0.4 * len(xs)  # half the log-width is below ~31
    assert max(xs) > 500 and min(xs) == 1
    floats = [domain.sample_value(P("float", 1.0, 1000.0, log=True), rng) for _ in range(2000)]
    assert sum(x <= 31.6 for x in floats) > 0.4 * len(floats)
    uniform = [domain.sample_value(P("float", 1.0, 1000.0), rng) for _ in range(2000)]
    assert sum(x <= 31.6 for x in uniform) < 0.1 * len(uniform)


def test_value_draws_take_every_choice():
    rng = random.Random(0)
    draws = {domain.sample_value(P("values", values=("a", "b", "c")), rng) for _ in range(100)}
    assert draws == {"a", "b", "c"}
    point = domain.sample_point([Param("x", "values", values=(1,)),
                                 Param("y", "bool", values=(False, True))], rng)
    assert set(point) == {"x", "y"} and point["x"] == 1


def test_feasible_set_lists_accepted_points_with_their_ids():
    exp = experiment(parameters={"a": [1, 2, 3], "b": [10, 20]}, constraints=["a * 10 != b"])
    fs = domain.FeasibleSet.build(exp, lambda p: p["a"] * 10 != p["b"])
    assert len(fs) == 4
    assert [p for _, p in fs.points] == [{"a": 1, "b": 20}, {"a": 2, "b": 10},
                                         {"a": 3, "b": 10}, {"a": 3, "b": 20}]
    assert fs.ids == {make_trial(exp, p, 0).id for _, p in fs.points}
    seen = {fs.points[0][0]}
    assert fs.unseen(seen.__contains__) == [p for _, p in fs.points[1:]]


def test_feasible_set_only_for_small_finite_spaces(monkeypatch):
    cont = experiment(parameters={"x": {"type": "float", "low": 0.0, "high": 1.0}})
    assert domain.FeasibleSet.build(cont, lambda p: True) is None
    small = experiment(parameters={"a": [1, 2, 3]})
    monkeypatch.setattr(domain, "ENUMERATE_LIMIT", 3)
    assert domain.FeasibleSet.build(small, lambda p: True) is not None
    monkeypatch.setattr(domain, "ENUMERATE_LIMIT", 2)
    assert domain.FeasibleSet.build(small, lambda p: True) is None


@pytest.mark.parametrize("method", ["random", "bayesian"])
def test_samplers_exhaust_a_small_space_with_constraints(method):
    exp = experiment(method, parameters={"a": [1, 2, 3], "b": [1, 2]}, constraints=["a != b"])
    s = searcher(exp)
    seen = []
    while (t := s.ask()) is not None:
        seen.append(t)
        s.tell(told(t))
    assert len(seen) == 4 and len({t.id for t in seen}) == 4
    assert all(t.params["a"] != t.params["b"] for t in seen)
    assert s.stop_reason == "exhausted"
    assert [t.index for t in seen] == [0, 1, 2, 3]


def test_bayesian_learns_a_result_of_an_earlier_run_outside_the_space():
    exp = experiment("bayesian", parameters={"a": [1, 2, 3]})
    s = searcher(exp)
    alien = TrialResult("zz", 0, {"a": 99}, {"a": 99}, COMPLETED,
                        score=Score(1.0, True, 0.0, 4, 4))
    s.tell(alien)  # params outside the space (the experiment changed): no error
    assert "zz" in s.finished
    nxt = s.ask()
    assert nxt is not None and nxt.params["a"] in (1, 2, 3)


# ---------------------------------------------------------------- more survivors

def fresh(text: str) -> str:
    return "".join(list(text))


def test_resuming_past_the_caps_still_stops():
    exp = experiment(parameters={"a": [1, 2, 3, 4, 5]}, maxFailedTrials=2)
    trials = make_plan(exp).trials
    s = searcher(exp)
    for t in trials[:3]:  # an earlier run failed three: more than the cap now allows
        s.tell(told(t, FAILED_INFRA))
    assert s.n_failed == 3 and s.done and s.stop_reason == "max_failed_trials"
    capped = searcher(experiment(parameters={"a": [1, 2, 3, 4, 5]}, maxTrials=2))
    for t in trials[:3]:
        capped.tell(told(t))
    assert capped.done and capped.stop_reason == "max_trials" and capped.ask() is None


def test_statuses_read_from_a_journal_compare_by_value():
    trial = make_plan(experiment()).trials[0]
    assert is_failure(told(trial, fresh(COMPLETED))) is False
    assert is_failure(told(trial, fresh(FAILED_CONFIG), score=False)) is True


def _bayes(**kw):
    exp = experiment("bayesian", parameters={"a": [1, 2, 3, 4, 5]}, **kw)
    return searcher(exp)


def test_bayesian_tells_optuna_what_each_outcome_means():
    from optuna.trial import TrialState

    s = _bayes()
    t = [s.ask() for _ in range(4)]

    def by_number(n):
        return next(ft for ft in s.study.trials if ft.number == n)

    def tell(result):
        """The Optuna trial this result finished."""
        n = s._running[result.trial_id].number
        s.tell(result)
        return by_number(n)

    numbers = [s._running[x.id].number for x in t[:2]]
    s.tell(told(t[0], fresh(FAILED_CONFIG), score=False))
    s.tell(TrialResult(t[1].id, t[1].index, t[1].params, t[1].args, COMPLETED,
                       score=Score(None, False, 0.0, 4, None)))
    # no objective value told yet: the OOM and the valueless trial wait for one
    assert [by_number(n).state for n in numbers] == [TrialState.RUNNING] * 2
    infeasible = tell(TrialResult(t[2].id, t[2].index, t[2].params, t[2].args, COMPLETED,
                                  score=Score(5.0, False, 0.0, 4, None)))
    config, no_value = (by_number(n) for n in numbers)
    infra = tell(told(t[3], FAILED_BENCHMARK))
    # violated constraints on COMPLETE trials (GP ignores PRUNED ones), worst value so far
    assert (config.state, config.constraints, config.value) == \
        (TrialState.COMPLETE, {"violation": 10.0}, 5.0)
    assert (no_value.state, no_value.constraints, no_value.value) == \
        (TrialState.COMPLETE, {"violation": 1.0}, 5.0)
    assert infeasible.state == TrialState.COMPLETE and infeasible.value == 5.0
    assert infeasible.constraints == {"violation": 1.0}  # "or 1.0": never 0 when infeasible
    assert infra.state == TrialState.FAIL
    t2 = s.ask()
    feasible = tell(told(t2))
    assert feasible.state == TrialState.COMPLETE and feasible.constraints == {"violation": 0.0}


def test_bayesian_dimensions():
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )
    from tuneops.runner.search.bayesian import _Dimension

    def dim(kind, low, high, step=None, log=False):
        return _Dimension(Param("p", kind, low=low, high=high, step=step, log=log)).distribution

    assert dim("int", 1, 64, None, log=True) == IntDistribution(1, 64, log=True)
    # finite numbers are an index into their sorted values, however they were written
    assert dim("int", 1, 64, 1, log=True) == IntDistribution(0, 63)
    assert dim("int", 2, 64, 2, log=True) == IntDistribution(0, 31)  # 2, 4, 6, ... 64
    assert dim("float", 0.1, 1.0, 0.1, log=True) == IntDistribution(0, 9)
    assert dim(fresh("int"), 8, 30, 8) == IntDistribution(0, 2)
    assert dim("float", 0.5, 0.95, 0.2) == IntDistribution(0, 2)
    assert dim("float", 0.1, 1.0, log=True) == FloatDistribution(0.1, 1.0, log=True)
    assert dim("float", 0.1, 1.0) == FloatDistribution(0.1, 1.0)
    assert isinstance(_Dimension(Param("p", "values", values=("a", "b"))).distribution,
                      CategoricalDistribution)
    assert isinstance(_Dimension(Param("p", "bool", values=(False, True))).distribution,
                      CategoricalDistribution)


def test_log_int_draws_reach_the_top_value():
    rng = random.Random(3)
    p = P("int", 1, 2, log=True)
    draws = {domain.sample_value(p, rng) for _ in range(200)}
    assert draws == {1, 2}
    assert {domain.sample_value(P(fresh("int"), 1, 3), rng) for _ in range(100)} == {1, 2, 3}


def test_parallel_asks_get_consecutive_indexes():
    s = searcher(experiment("random", parameters={"a": [1, 2, 3, 4]}))
    assert [s.ask().index for _ in range(3)] == [0, 1, 2]


def test_startup_trials_is_an_int():
    assert all(type(startup_trials(n)) is int for n in (None, 3, 12, 100))


def test_bayesian_exhausts_a_larger_space_through_its_fallback():
    """30 values: once most are seen, 20 TPE tries often all land on seen ones, and the
    unseen-point fallback must supply the rest; every Optuna trial learns its own point."""
    from optuna.trial import TrialState

    s = searcher(experiment("bayesian", parameters={"a": list(range(30))}))
    seen = []
    while (t := s.ask()) is not None:
        ot = s._running[t.id]
        assert ot.params["a"] == t.params["a"]
        running = {ft.number for ft in s.study.trials if ft.state == TrialState.RUNNING}
        s.tell(told(t))
        [done] = [ft for ft in s.study.trials
                  if ft.number in running and ft.state != TrialState.RUNNING]
        assert done.params["a"] == t.params["a"] and done.state == TrialState.COMPLETE
        seen.append(t.params["a"])
    assert sorted(seen) == list(range(30)) and s.stop_reason == "exhausted"


def test_kinds_read_from_a_file_compare_by_value_and_draw_their_distribution():
    rng = random.Random(5)
    kind = fresh("int")
    assert domain.snap(P(kind, 1, 10), 4.4) == 4 and type(domain.snap(P(kind, 1, 10), 4.4)) is int
    uniform = sorted(domain.sample_value(P(kind, 1, 1000), rng) for _ in range(1000))
    assert 350 < uniform[500] < 650  # the median of a uniform draw, not of a log one
    ones = sum(domain.sample_value(P("int", 1, 3, log=True), rng) == 1 for _ in range(4000))
    assert 0.45 < ones / 4000 < 0.55  # each integer k gets log(k+1) - log(k) of log(4)


def test_a_grid_larger_than_the_small_int_cache_runs_to_its_end():
    s = searcher(experiment(parameters={"a": list(range(300))}))
    n = 0
    while (t := s.ask()) is not None:
        s.tell(told(t))
        n += 1
    assert n == 300 and s.stop_reason == "exhausted"


@pytest.mark.parametrize("low, high, step", [(0.6, 0.94, 0.03), (0.5, 0.94, 0.06),
                                             (0.5, 0.95, 0.02), (0.1, 0.7, 0.1)])
def test_float_range_is_its_lattice_so_asking_never_warns(low, high, step):
    """A stepped float range is an index into its lattice (computed by tuneops.space): Optuna
    never sees a binary-float top such as 0.9299999999999999, so it never warns that it
    adjusted the range, and the top value asked is on the lattice, inside [low, high]."""
    import warnings

    import optuna
    from tuneops.runner.search.bayesian import _Dimension

    d = _Dimension(Param("p", "float", low=low, high=high, step=step))
    top = d.value(d.distribution.high)
    assert top <= high and top + step > high - 1e-9
    assert round((top - low) / step, 6) == d.distribution.high
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning, Optuna's range adjustment included
        for _ in range(5):
            study.ask({"p": d.distribution})
