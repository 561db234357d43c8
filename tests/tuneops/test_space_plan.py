"""Grid expansion and planning: order, counts, constraints and content-addressed trial ids."""

from __future__ import annotations

import dataclasses

import pytest

from tests.paths import ROOT
from tuneops import plan, space
from tuneops.spec import Param
from tuneops.validate import load_experiment

DOCKER = ROOT / "experiments" / "examples" / "sglang-docker.yaml"


@pytest.mark.parametrize(
    ("param", "values"),
    [
        (Param("a", "values", values=(3, 1, 2)), (3, 1, 2)),
        (Param("a", "bool", values=(False, True)), (False, True)),
        (Param("a", "int", low=64, high=256, step=64), (64, 128, 192, 256)),
        (Param("a", "int", low=1, high=4), (1, 2, 3, 4)),
        (Param("a", "int", low=1, high=20, log=True), (1, 2, 4, 8, 16)),
        (Param("a", "int", low=3, high=24, log=True), (3, 6, 12, 24)),
        (Param("a", "float", low=0.7, high=0.9, step=0.05), (0.7, 0.75, 0.8, 0.85, 0.9)),
        (Param("a", "float", low=0.1, high=0.35, step=0.1), (0.1, 0.2, 0.3)),
    ],
)
def test_values_of_and_count_agree(param, values):
    assert space.values_of(param) == values
    assert space.count_values(param) == len(values)


def test_stepless_float_has_no_grid():
    p = Param("a", "float", low=0.1, high=0.9)
    assert space.count_values(p) is None
    assert space.grid_size([Param("b", "values", values=(1, 2)), p]) == 0
    with pytest.raises(ValueError, match="needs a step"):
        space.values_of(p)


def test_huge_ranges_are_counted_not_built():
    p = Param("a", "int", low=0, high=10**12)
    assert space.count_values(p) == 10**12 + 1
    assert space.grid_size([p, p]) == (10**12 + 1) ** 2


def test_log_range_from_zero_is_refused_not_looped():
    with pytest.raises(ValueError, match="low > 0"):
        space.values_of(Param("a", "int", low=0, high=8, log=True))


def test_grid_order_is_experiment_order_last_fastest_and_filtered():
    params = [Param("a", "values", values=(1, 2)), Param("b", "values", values=("x", "y"))]
    assert list(space.grid(params)) == [
        {"a": 1, "b": "x"},
        {"a": 1, "b": "y"},
        {"a": 2, "b": "x"},
        {"a": 2, "b": "y"},
    ]
    assert list(space.grid(params, lambda p: p["b"] == "y")) == [
        {"a": 1, "b": "y"},
        {"a": 2, "b": "y"},
    ]


def test_plan_of_the_example():
    exp = load_experiment(DOCKER)
    p = plan.make_plan(exp)
    assert p.grid_size == 3 * 4 * 2 * 2 * 2
    # the constraint: max-running-requests <= 128 or mem-fraction-static >= 0.85
    kept = [t.params for t in p.trials]
    assert all(t["max-running-requests"] <= 128 or t["mem-fraction-static"] >= 0.85 for t in kept)
    assert len(kept) == p.grid_size - 2 * 2 * 2 * 2  # mem 0.80 with mrr 192/256 is rejected
    assert [t.index for t in p.trials] == list(range(len(p.trials)))
    assert p.max_trials == min(len(p.trials), 48)
    first = p.trials[0]
    assert first.args["log-level"] == "warning" and first.args["enable-metrics"] is True
    assert first.args["mem-fraction-static"] == first.params["mem-fraction-static"]
    assert len({t.id for t in p.trials}) == len(p.trials)
    assert all(len(t.id) == plan.ID_LENGTH for t in p.trials)


def test_trial_ids_hash_what_determines_a_measurement():
    exp = load_experiment(DOCKER)
    ids = [t.id for t in plan.make_plan(exp).trials]
    assert [t.id for t in plan.make_plan(exp).trials] == ids  # deterministic
    renamed = dataclasses.replace(exp, name="other-name", description="x")
    assert [t.id for t in plan.make_plan(renamed).trials] == ids
    bench = dataclasses.replace(exp.benchmark, max_requests_per_run=301)
    changed = dataclasses.replace(exp, benchmark=bench)
    assert not set(t.id for t in plan.make_plan(changed).trials) & set(ids)
    engine = dataclasses.replace(exp.engine, image="lmsysorg/sglang:v0.5.6")
    assert not set(
        t.id for t in plan.make_plan(dataclasses.replace(exp, engine=engine)).trials
    ) & set(ids)


def test_max_gpu_hours_is_an_upper_bound_capped_by_the_time_budget():
    exp = load_experiment(DOCKER)
    p = plan.make_plan(exp)
    b = exp.benchmark
    per_trial = exp.deployment.startup_timeout_s + 2 * 3 * 1 * 2 * 60
    assert b.max_time_per_run_min == 2 and len(b.concurrency) == 3
    uncapped = p.max_trials * per_trial / 3600
    assert p.max_gpu_hours() == pytest.approx(min(uncapped, 6.0))
