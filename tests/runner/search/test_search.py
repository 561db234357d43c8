"""Search strategies: order, determinism, ranges, constraints, caps, resume, parallel asks."""

from __future__ import annotations

import math
import statistics

import pytest
from tuneops.runner.results import (
    CANCELLED,
    COMPLETED,
    FAILED_BENCHMARK,
    FAILED_CONFIG,
    FAILED_INFRA,
    Score,
    TrialResult,
)
from tuneops.runner.search import make_searcher

from tuneops.plan import constraint_checker, make_plan
from tuneops.spec import from_document


def experiment(method="grid", parameters=None, constraints=(), direction="maximize", **search):
    search = {"method": method, "seed": 0, **search}
    return from_document(
        {
            "metadata": {"name": "search-test"},
            "model": {"id": "org/model"},
            "engine": {"name": "sim", "args": {"gpu-type": "H100"}},
            "deployment": {"mode": "local", "gpus": {"count": 2}},
            "benchmark": {"trafficScenarios": ["D(100,100)"], "concurrency": [4]},
            "objective": {"metric": "output_throughput", "direction": direction},
            "parameters": parameters
            or {"a": [1, 2, 3, 4], "b": {"type": "int", "low": 8, "high": 32, "step": 8}},
            "constraints": list(constraints),
            "search": search,
        }
    )


def searcher_for(exp, **kw):
    return make_searcher(exp, make_plan(exp), **kw)


def result(trial, status=COMPLETED, objective=1.0, feasible=True, violation=0.0, score=True):
    sc = Score(objective, feasible, violation, 4, 4 if feasible else None) if score else None
    return TrialResult(trial.id, trial.index, trial.params, trial.args, status, score=sc)


def quadratic(trial):
    """Maximize; optimum 0 at (7, 3); infeasible (SLO) when x > 8."""
    x, y = trial.params["x"], trial.params["y"]
    violation = max(0.0, (x - 8) / 8)
    return result(
        trial,
        objective=-((x - 7) ** 2) - (y - 3) ** 2,
        feasible=violation == 0,
        violation=violation,
    )


QUAD_PARAMS = {
    "x": {"type": "float", "low": 0.0, "high": 10.0},
    "y": {"type": "float", "low": 0.0, "high": 10.0},
}


def drive(searcher, evaluate=quadratic):
    """Sequential ask/tell until the searcher stops; returns the results in order."""
    out = []
    while (trial := searcher.ask()) is not None:
        out.append(evaluate(trial))
        searcher.tell(out[-1])
    return out


# -- grid ---------------------------------------------------------------------------------
def test_grid_proposes_plan_order_then_stops_exhausted():
    exp = experiment(constraints=["a * b <= 64"])
    plan = make_plan(exp)
    results = drive(make_searcher(exp, plan), lambda t: result(t))
    assert [r.trial_id for r in results] == [t.id for t in plan.trials]
    assert len(plan.trials) < plan.grid_size  # the constraint removed points


def test_grid_cap_waits_for_pending_then_reports_max_trials():
    s = searcher_for(experiment(maxTrials=3))
    trials = [s.ask() for _ in range(3)]
    assert None not in trials
    assert s.ask() is None and not s.done  # cap filled by pending trials: wait, not stop
    assert s.remaining == 0
    for t in trials:
        s.tell(result(t))
    assert s.done and s.stop_reason == "max_trials"


def test_orchestrator_max_trials_only_tightens():
    s = searcher_for(experiment(maxTrials=5), max_trials=2)
    assert len(drive(s, lambda t: result(t))) == 2
    s = searcher_for(experiment(maxTrials=2), max_trials=5)
    assert len(drive(s, lambda t: result(t))) == 2


# -- determinism --------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["grid", "random", "bayesian"])
def test_same_seed_same_sequence(method):
    params = QUAD_PARAMS if method != "grid" else None

    def ids(seed):
        exp = experiment(method, params, seed=seed, maxTrials=14)
        return [r.trial_id for r in drive(searcher_for(exp), quadratic if params else result)]

    first = ids(1)
    assert len(first) == 14 and len(set(first)) == 14
    assert ids(1) == first
    if method != "grid":
        assert ids(2) != first


# -- random -------------------------------------------------------------------------------
SPACE = {
    "mem": {"type": "float", "low": 0.5, "high": 0.9, "step": 0.05},
    "reqs": {"type": "int", "low": 8, "high": 512, "step": 8},
    "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
    "chunk": {"type": "int", "low": 1, "high": 4096, "log": True},
    "policy": ["lpm", "fcfs"],
    "radix": {"type": "bool"},
}


@pytest.mark.parametrize("method", ["random", "bayesian"])
def test_samples_stay_in_ranges_on_steps_and_satisfy_constraints(method):
    exp = experiment(
        method,
        SPACE,
        ["mem * reqs <= 200", 'policy == "lpm" or not radix'],
        maxTrials=120 if method == "random" else 40,
    )
    accept = constraint_checker(exp)
    results = drive(searcher_for(exp), lambda t: result(t, objective=t.params["reqs"]))
    assert len({r.trial_id for r in results}) == len(results) == exp.search.max_trials
    for r in results:
        p = r.params
        assert accept(p)
        assert (
            0.5 <= p["mem"] <= 0.9
            and abs(round((p["mem"] - 0.5) / 0.05) * 0.05 + 0.5 - p["mem"]) < 1e-9
        )
        assert isinstance(p["reqs"], int) and 8 <= p["reqs"] <= 512 and p["reqs"] % 8 == 0
        assert 1e-4 <= p["lr"] <= 1e-1
        assert isinstance(p["chunk"], int) and 1 <= p["chunk"] <= 4096
        assert p["policy"] in ("lpm", "fcfs") and p["radix"] in (True, False)


def test_random_log_ranges_are_sampled_on_a_log_scale():
    exp = experiment("random", SPACE, maxTrials=300, seed=7)
    results = drive(searcher_for(exp), lambda t: result(t))
    lr = [r.params["lr"] for r in results]
    chunk = [r.params["chunk"] for r in results]
    # log-uniform: half the draws fall below the geometric middle; uniform would put ~0.3 %
    below = sum(v < math.sqrt(1e-4 * 1e-1) for v in lr) / len(lr)
    assert 0.35 < below < 0.65
    assert 0.35 < sum(v < 64 for v in chunk) / len(chunk) < 0.65


def test_random_finite_space_is_exhausted_without_duplicates():
    exp = experiment("random", {"a": [1, 2, 3], "b": {"type": "bool"}}, ["a < 3 or b"])
    s = searcher_for(exp)
    results = drive(s, lambda t: result(t))
    assert len(results) == 5 and len({r.trial_id for r in results}) == 5
    assert s.stop_reason == "exhausted"


# -- bayesian -----------------------------------------------------------------------------
def test_bayesian_finds_better_values_than_random():
    def best(method, seed):
        exp = experiment(method, QUAD_PARAMS, ["x + y <= 12"], maxTrials=30, seed=seed)
        return max(r.score.objective for r in drive(searcher_for(exp)) if r.score.feasible)

    seeds = range(4)
    tpe = statistics.mean(best("bayesian", s) for s in seeds)
    rnd = statistics.mean(best("random", s) for s in seeds)
    assert tpe > rnd, (tpe, rnd)


@pytest.mark.parametrize("params", [QUAD_PARAMS, {"a": [1, 2, 3, 4], "b": [1, 2, 3]}])
def test_bayesian_never_proposes_a_pending_point_twice(params):
    exp = experiment("bayesian", params, maxTrials=50)
    s = searcher_for(exp)
    finite = "a" in params
    pending = [s.ask() for _ in range(12 if finite else 16)]
    assert None not in pending
    assert len({t.id for t in pending}) == len(pending)
    if finite:  # all 12 points pending: nothing new to propose, but not done either
        assert s.ask() is None and not s.done
        for t in pending:
            s.tell(result(t))
        assert s.ask() is None and s.stop_reason == "exhausted"


def test_bayesian_respects_parameter_constraints_and_teaches_them():
    exp = experiment("bayesian", QUAD_PARAMS, ["x + y <= 4"], maxTrials=25)
    s = searcher_for(exp)
    results = drive(s)
    assert len(results) == 25 and all(r.params["x"] + r.params["y"] <= 4 for r in results)
    rejected = [t for t in s.study.trials if t.params["x"] + t.params["y"] > 4]
    # told as what they are, violated points (a PRUNED trial is invisible to GP and CMA-ES)
    assert rejected and all(t.state.name == "COMPLETE" and sum(t.constraints.values()) > 0
                            for t in rejected)


def test_bayesian_passes_slo_violation_and_failures_to_optuna():
    exp = experiment("bayesian", QUAD_PARAMS, maxTrials=10)
    s = searcher_for(exp)
    t1, t2, t3, t4 = (s.ask() for _ in range(4))
    s.tell(result(t1, objective=5.0, feasible=False, violation=0.3))
    s.tell(result(t2, objective=2.0))
    s.tell(result(t3, status=FAILED_INFRA, score=False))
    s.tell(result(t4, status=FAILED_CONFIG, score=False))
    by_number = {t.number: t for t in s.study.trials}
    states = [by_number[i].state.name for i in range(4)]
    # the OOM is a violated constraint with the worst value told so far, not a pruned trial
    assert states == ["COMPLETE", "COMPLETE", "FAIL", "COMPLETE"]
    assert by_number[0].constraints and sum(by_number[0].constraints.values()) == pytest.approx(0.3)
    assert sum(by_number[1].constraints.values()) <= 0
    assert sum(by_number[3].constraints.values()) >= 10 and by_number[3].value == 2.0
    s.tell(result(t2, objective=2.0))  # told twice: learned once
    assert len(s.study.trials) == 4 and len(s.finished) == 4


def test_bayesian_minimize_direction():
    exp = experiment("bayesian", QUAD_PARAMS, direction="minimize", maxTrials=3)
    assert searcher_for(exp).study.direction.name == "MINIMIZE"


# -- failures, cancellation, resume -------------------------------------------------------
@pytest.mark.parametrize("method", ["grid", "random", "bayesian"])
def test_max_failed_trials_stops_proposals(method):
    exp = experiment(method, maxFailedTrials=3, maxTrials=10)
    s = searcher_for(exp)
    statuses = [COMPLETED, FAILED_CONFIG, FAILED_INFRA, COMPLETED, FAILED_BENCHMARK]
    for status in statuses:
        s.tell(result(s.ask(), status=status, score=status == COMPLETED))
    assert s.done and s.stop_reason == "max_failed_trials"
    assert s.ask() is None and s.n_failed == 3


def test_missing_score_counts_as_failure():
    s = searcher_for(experiment(maxFailedTrials=1))
    s.tell(result(s.ask(), score=False))
    assert s.stop_reason == "max_failed_trials"


@pytest.mark.parametrize("method", ["grid", "random", "bayesian"])
def test_cancelled_trial_is_proposed_again_first(method):
    s = searcher_for(experiment(method, maxTrials=6))
    first, second = s.ask(), s.ask()
    s.tell(result(first, status=CANCELLED, score=False))
    assert s.ask() == first
    assert s.n_failed == 0 and second.id in s.pending


@pytest.mark.parametrize("method", ["grid", "random", "bayesian"])
def test_resume_skips_finished_ids(method):
    params = QUAD_PARAMS if method != "grid" else None
    exp = experiment(method, params, maxTrials=12, seed=3)
    ev = quadratic if params else result
    earlier = []
    first = searcher_for(exp)
    for _ in range(5):
        earlier.append(ev(first.ask()))
        first.tell(earlier[-1])

    resumed = searcher_for(exp)
    for r in earlier:  # what the orchestrator does with the journal's finished results
        resumed.tell(r)
    rest = drive(resumed, ev)
    done_ids = {r.trial_id for r in earlier}
    assert len(rest) == 7 and not done_ids & {r.trial_id for r in rest}
    assert min(r.index for r in rest) >= 5
    if method in ("grid", "random"):  # the resumed run continues the uninterrupted sequence
        whole = drive(searcher_for(exp), ev)
        assert [r.trial_id for r in earlier + rest] == [r.trial_id for r in whole]
    if method == "bayesian":  # the earlier results were taught to the study
        told = [t for t in resumed.study.trials if t.state.name == "COMPLETE"]
        assert len(told) == 12


def test_rerun_puts_a_half_done_trial_first():
    exp = experiment("random", QUAD_PARAMS, maxTrials=5, seed=4)
    half_done = searcher_for(exp).ask()
    s = searcher_for(exp)
    s.rerun(half_done)
    assert s.ask() == half_done


def test_bayesian_is_told_the_mean_and_keeps_its_interval():
    exp = experiment("bayesian", QUAD_PARAMS, maxTrials=4)
    s = searcher_for(exp)
    t = s.ask()
    r = result(t, objective=100.0)
    r.score.objective_low, r.score.objective_high, r.score.objective_n = 90.0, 110.0, 3
    r.score.verdict = "uncertain"
    s.tell(r)
    told = s.study.trials[0]
    assert told.value == 100.0  # TPE models the mean
    assert told.user_attrs["objective_low"] == 90.0 and told.user_attrs["objective_high"] == 110.0
    assert told.user_attrs["measurements"] == 3 and told.user_attrs["verdict"] == "uncertain"
