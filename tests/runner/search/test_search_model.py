"""search.method: model — predict with the simulator's model, measure, calibrate.

The spaces and their truth (the model with its efficiency constants moved ±15 %) are
tests/helpers/search_spaces.py's, the same the search benchmark uses; measuring is in
virtual time through tuneops' own searcher, level walk and scorer (runner/search/virtual.py).
"""

from __future__ import annotations

import pytest
from tuneops.engines.sim import perfmodel
from tuneops.engines.sim.scheduler import closed_loop
from tuneops.runner.bench import levels as lv
from tuneops.runner.results import FAILED_CONFIG
from tuneops.runner.search import make_searcher, model_fallback
from tuneops.runner.search.bayesian import BayesianSearcher
from tuneops.runner.search.model import ModelSearcher
from tuneops.runner.search.predict import perf_model, predict
from tuneops.runner.search.virtual import measure_trial, run_search

from tests.helpers.search_spaces import HARD, SPACES, experiment, optimum, perturbed, truth, world
from tuneops.plan import make_plan
from tuneops.spec import from_document


@pytest.fixture(autouse=True)
def _the_spaces_world():
    """Every test here runs in the model its spaces were built against (search_spaces.world)."""
    with world():
        yield

def trials_to(out, target: float) -> int | None:
    for k, m in enumerate(out, 1):
        s = m.result.score
        if s is not None and s.feasible and s.objective >= target:
            return k
    return None


@pytest.mark.slow  # 10 perturbed truths of 2,000-2,900 points each
@pytest.mark.parametrize("space", HARD)
def test_model_reaches_97_percent_in_few_trials_with_constants_off_by_15_percent(space):
    """Issue 23: <= 5 measured trials on every seed, with every Efficiency constant
    perturbed by up to 15 % (fixed costs and the all-reduce scale included). Each seed runs
    as a user with a 5-trial budget would run it (the budget decides when space-filling
    picks mix in). Before measured levels stood in for their same-state siblings, 3 of
    these 20 seeds needed 7-13 trials (the siblings of a point that lost its SLO kept a
    30-40 % chance each); scripts/bench_search.py checks fresh seeds."""
    slow = {}
    for seed in range(10):
        tr = truth(space, seed, engine="steady")
        target = 0.97 * optimum(tr)
        out = run_search(experiment(space, "model", seed, maxTrials=5), tr.measure)
        k = trials_to(out, target)
        if k is None:
            slow[seed] = [m.result.score.objective if m.result.score else None for m in out]
    assert not slow, slow


def test_the_perturbation_moves_the_truth_and_is_undone():
    """The constants live in perfmodel.Efficiency (per GPU, from calibration.json): a
    perturbation that patched module globals instead would leave every model unmoved."""
    before = perfmodel.Efficiency.for_gpu("H100")
    with perturbed(3) as factors:
        inside = perfmodel.Efficiency.for_gpu("H100")
        assert inside.hbm_eff == pytest.approx(before.hbm_eff * factors["hbm_eff"])
        assert inside.mfu == pytest.approx(before.mfu * factors["mfu"])
        assert set(factors) == set(perfmodel.Efficiency.names())
        assert any(abs(f - 1) > 0.01 for f in factors.values())
        assert all(0.85 <= f <= 1.15 for f in factors.values())
    assert perfmodel.Efficiency.for_gpu("H100") == before


@pytest.mark.slow
def test_calibration_shrinks_the_prediction_error():
    tr = truth("plateau", 7, engine="steady")
    exp = experiment("plateau", "model", 7, maxTrials=8)
    searcher = make_searcher(exp, make_plan(exp))
    assert isinstance(searcher, ModelSearcher)
    run_search(exp, tr.measure, searcher=searcher)
    errors = [e for e in searcher.errors if e.before is not None]
    assert len(errors) >= 5
    before = sorted(abs(e.before) for e in errors)
    after = sorted(abs(e.after) for e in errors)
    assert after[len(after) // 2] < before[len(before) // 2]
    note = searcher.error_note()
    parts = note.split("calibration: ", 1)[1].split("; ")
    assert len(parts) == len(errors) and parts[0].startswith(errors[0].trial_id)
    rows = searcher.summary()
    assert {"predicted", "measured", "calibrated", "error_before", "error_after"} <= set(rows[0])


def test_the_steady_state_estimate_is_the_simulators_closed_loop_throughput():
    for model, args, c in (("Llama-3.1-8B", {"tp-size": 1}, 64),
                           ("Llama-3.1-70B", {"tp-size": 4}, 16),
                           ("Llama-3.1-8B", {"tp-size": 2, "chunked-prefill-size": 1024}, 32)):
        pm = perf_model("H100", model, args)
        est = predict(pm, c, 1000, 200).values
        run = closed_loop(pm, c, 1000, 200, 2 * c)
        assert est["output_throughput"] == pytest.approx(run.output_throughput, rel=0.02)
        assert est["tpot.mean"] == pytest.approx(run.mean_tpot * 1000, rel=0.05)


def test_vllm_flags_reach_the_model_under_their_own_names():
    a = perf_model("H100", "Llama-3.1-8B", {"tensor-parallel-size": 2, "max-num-seqs": 7})
    assert (a.s.tp, a.max_running_requests) == (2, 7)


def test_a_point_the_memory_plan_says_cannot_start_is_never_picked_first():
    exp = experiment("plateau", "model", 0, maxTrials=3)
    searcher = make_searcher(exp, make_plan(exp))
    assert searcher.ask().params["tp-size"] != 2  # 70B in bf16 does not fit 2 H100s


def test_an_oom_measured_is_learned_as_a_config_failure_not_data():
    exp = experiment("narrow", "model", 0, maxTrials=3)
    searcher = make_searcher(exp, make_plan(exp))
    trial = searcher.ask()
    result = measure_trial(exp, trial, lambda args, sc, c: "torch.OutOfMemoryError: ...")
    assert result.status == FAILED_CONFIG
    searcher.tell(result)
    assert searcher.errors[-1].measured is None and searcher.observed == []
    assert searcher.ask().id != trial.id


def _doc(engine: str, model_id: str, params: dict) -> dict:
    return {"metadata": {"name": "m"}, "model": {"id": model_id},
            "engine": {"name": engine, "args": {}},
            "deployment": {"mode": "local", "gpus": {"count": 1}},
            "benchmark": {"trafficScenarios": ["D(100,100)"], "concurrency": [4]},
            "objective": {"metric": "output_throughput"},
            "parameters": params, "search": {"method": "model", "seed": 0}}


@pytest.mark.parametrize("engine,model_id,params,why", [
    ("llamacpp", "meta-llama/Llama-3.1-8B", {"threads": [1, 2]}, "engine llamacpp has no"),
    ("sim", "org/unknown-model", {"max-running-requests": [1, 2]}, "has no profile"),
    ("sim", "meta-llama/Llama-3.1-8B",
     {"mem-fraction-static": {"type": "float", "low": 0.5, "high": 0.9}}, "continuous"),
])
def test_without_a_model_it_says_why_and_searches_with_tpe(engine, model_id, params, why):
    exp = from_document(_doc(engine, model_id, params))
    assert why in model_fallback(exp)
    assert "bayesian (TPE) instead" in model_fallback(exp)
    assert type(make_searcher(exp, make_plan(exp))) is BayesianSearcher


def test_other_methods_have_no_fallback_note():
    doc = _doc("llamacpp", "x/y", {"threads": [1, 2]})
    doc["search"]["method"] = "random"
    assert model_fallback(from_document(doc)) is None


# -- the walk over levels every measurement follows --------------------------------------


def test_walk_stops_a_scenario_at_the_level_that_lost_an_slo():
    exp = experiment("narrow", "grid", 0)
    asked = []

    def measure(scenario, level):
        asked.append(level)
        return {"output_throughput_per_gpu": 1.0, "ttft.mean": 100.0 * level, "tpot.mean": 1.0}

    def lost(scenario, level):
        return [s for s in exp.slos if s.metric == "ttft.mean" and 100.0 * level > s.limit]

    measured, not_run, _ = lv.walk(exp, measure, lost)
    assert asked == [32, 64, 128, 256]  # 25,600 ms > 15,000 at 256, the last level
    assert measured["D(6000,600)"] == {32: True, 64: True, 128: True, 256: False}
    assert not_run == []

    asked.clear()
    plateau = experiment("plateau", "grid", 0)  # TTFT <= 20,000 ms

    def measure_slow(scenario, level):
        asked.append(level)
        return {"output_throughput_per_gpu": 1.0, "ttft.mean": 300.0 * level, "tpot.mean": 1.0}

    def lost_early(scenario, level):
        return [s for s in plateau.slos if s.metric == "ttft.mean" and 300.0 * level > s.limit]

    measured, not_run, _ = lv.walk(plateau, measure_slow, lost_early)
    assert asked == [32, 64, 128]  # 38,400 ms > 20,000 at 128: 256 is not run
    assert measured["D(4000,400)"] == {32: True, 64: True, 128: False}
    assert not_run == ["D(4000,400)@256: not run: SLO lost at 128 (ttft.mean)"]


def test_walk_stops_where_the_pruner_says():
    exp = experiment("narrow", "grid", 0)
    asked = []

    def measure(scenario, level):
        asked.append(level)
        return {"output_throughput_per_gpu": 1.0, "ttft.mean": 1.0, "tpot.mean": 1.0}

    _, not_run, _ = lv.walk(exp, measure, lambda s, c: [], lambda s, c, v: c == 64)
    assert asked == [32, 64]
    assert [n.split(":")[0] for n in not_run] == ["D(6000,600)@128", "D(6000,600)@256"]


@pytest.mark.slow
def test_a_range_and_the_same_values_as_a_list_are_the_same_model_search():
    tr = truth("plateau", 2, engine="steady")
    ranged = experiment("plateau", "model", 2, maxTrials=6)
    doc = dict(SPACES["plateau"])
    doc["parameters"] = {**doc["parameters"], "max-running-requests": list(range(16, 129, 8))}
    doc["search"] = {"method": "model", "seed": 2, "maxTrials": 6}
    listed = from_document(doc)
    ids = [[m.result.trial_id for m in run_search(e, tr.measure)] for e in (ranged, listed)]
    assert len(ids[0]) == 6 and ids[0] == ids[1]


def test_a_measured_level_stands_in_for_points_in_the_same_state():
    """The first pick loses its TPOT bound at a level (the truth is 30 % slower there than
    predicted): every point whose predictions at that level equal the measured one's now
    carries the measured TPOT there, and the next pick is not one of them."""
    exp = experiment("narrow", "model", 0, maxTrials=3)
    searcher = make_searcher(exp, make_plan(exp))

    def measure(args, scenario, c):
        got = dict(predict(perf_model("H100", "Llama-3.1-8B", args), c, 6000, 600).values)
        got["tpot.mean"] *= 1.3
        return got

    first = searcher.ask()
    result = measure_trial(exp, first, measure)
    searcher.tell(result)
    by_level = result.metrics["D(6000,600)"]
    lost = max(by_level)  # early stop: the last level measured is where the SLO was lost
    assert by_level[lost]["tpot.mean"] > 22
    j = searcher.levels.index(lost)
    i = searcher.index[first.id]
    tpot, known = searcher._pinned("tpot.mean")
    same = searcher.state[:, j] == searcher.state[i, j]
    assert same.sum() > 1 and known[same, j].all() and not known[~same, j].any()
    assert (tpot[same, j] == by_level[lost]["tpot.mean"]).all()
    nxt = searcher.ask()
    assert not same[searcher.index[nxt.id]]
