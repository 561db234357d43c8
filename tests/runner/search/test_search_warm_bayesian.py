"""Warm start beyond identical ids for `search.method: bayesian` (issue 23, item 5): a related
experiment's measured trials (same engine, model and GPU type; more load levels, so other
trial ids the store cannot reuse; another SLO) are told to the Optuna study before its first
ask, judged under this experiment's objective and SLOs and marked as seeded; trials of other
hardware, other levels, outside the space or with forged metrics are not told, each with
its reason."""

from __future__ import annotations

import json

import pytest
from optuna.trial import TrialState
from tuneops.runner.report import markdown, provenance, write_report
from tuneops.runner.score import constraint, score_metrics
from tuneops.runner.search import make_searcher
from tuneops.runner.search.bayesian import UNRUNNABLE
from tuneops.runner.search.predict import perf_model, predict
from tuneops.runner.search.virtual import run_search
from tuneops.runner.store import ResultStore

from tests.helpers.search_spaces import SPACES, world
from tuneops.plan import make_plan
from tuneops.spec import from_document

RUN = "20261206T000000Z-bbbbbbbb"


def _measure(args, scenario, level):
    return predict(perf_model("H100", "Llama-3.1-8B", args), level, 1000, 200).values


def _doc(name, method, slo_max, **benchmark):
    doc = json.loads(json.dumps(SPACES["easy"]))
    doc["metadata"]["name"] = name
    doc["benchmark"].update(benchmark)
    doc["slos"] = [{"metric": "ttft.mean", "max": slo_max}]
    doc["search"] = {"method": method, "seed": 3, "maxTrials": 6}
    return doc


def _this(**search):
    """This experiment: the easy space under an SLO no point meets (ttft.mean <= 1 ms)."""
    doc = _doc("easy-tight", "bayesian", 1)
    doc["search"].update(search)
    return from_document(doc)


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """Two related reports written by tuneops' own writer: one measured at this
    experiment's levels and one more under a loose SLO (seeds), one at other levels (cannot
    be judged here)."""
    root = tmp_path_factory.mktemp("reports")
    with world():
        for name, extra in (("easy-loose", {"concurrency": [16, 32, 64, 128, 256]}),
                            ("easy-other-load",
                                                 {"concurrency": [24, 96]})):
            rel = from_document(_doc(name, "random", 100_000, **extra))
            searcher = make_searcher(rel, make_plan(rel))
            out = run_search(rel, _measure, searcher=searcher)
            write_report(root / rel.name / RUN, rel, [m.result for m in out], run_id=RUN)
    return root


def _store(root):
    store = ResultStore.scan(root, host=provenance.host_facts())
    assert store.reports, store.refused
    return store


def _seeded(searcher):
    return [t for t in searcher.study.trials if "seeded_from" in t.user_attrs]


def test_related_trials_are_told_marked_and_judged_under_this_slo(reports):
    with world():
        exp = _this()
        searcher = make_searcher(exp, make_plan(exp))
        notes = searcher.warm_start(_store(reports))
        seeded = _seeded(searcher)
        assert len(seeded) == 6 and len(searcher.study.trials) == 6  # before the first ask
        assert {t.user_attrs["seeded_from"] for t in seeded} == {f"reports/easy-loose/{RUN}"}
        assert all(t.state == TrialState.COMPLETE for t in seeded)
        assert notes[0] == (f"search.method bayesian: sampler seeded from reports/easy-loose/"
                            f"{RUN} (6 trial(s) of a related experiment: same engine, model "
                            "and GPU type; judged under this experiment's objective and SLOs)")
        # other levels: not judgeable here, the report's trials named with the reason
        other = [n for n in notes if "easy-other-load" in n]
        assert len(other) == 1 and other[0].startswith(
            f"search.method bayesian: not seeded from reports/easy-other-load/{RUN}: 6 trial(s)")
        assert other[0].endswith(": level 32 of D(1000,200) not measured")
        # feasible in their own report, violated under this experiment's SLO
        doc = json.loads((reports / "easy-loose" / RUN / "results.json").read_text())
        assert all(t["score"]["feasible"] for t in doc["trials"])
        by_id = {t["trial_id"]: t for t in doc["trials"]}
        for t in seeded:
            entry = by_id[t.user_attrs["seeded_trial"]]
            metrics = {sc: {int(c): v for c, v in lv.items() if int(c) != 16}  # not judged
                       for sc, lv in entry["metrics"].items()}
            score = score_metrics(metrics, exp.objective, exp.slos)
            assert t.system_attrs["constraints:violation"] == min(constraint(score), UNRUNNABLE)
            assert constraint(score) > 0 and t.value == pytest.approx(score.objective)
        first = searcher.ask()
        assert first is not None and first.id not in searcher._seeded_ids
        assert first.params not in [{k: v for k, v in by_id[t.user_attrs["seeded_trial"]][
            "params"].items()} for t in seeded]
        block = searcher.report_block()
    assert block == {"method": "bayesian",
                     "seeded_from": [{"report": f"reports/easy-loose/{RUN}", "trials": 6}]}
    lines = markdown.model_search_lines(block)
    assert lines[0].startswith("**Sampler seeded:**") and "not this run's" in lines[0]
    assert f"- seeded from report `reports/easy-loose/{RUN}` (6 trial(s))" in lines


def test_a_run_reports_seeded_trials_only_as_seeded(reports, tmp_path):
    """The seeded trials never appear among the run's measured trials."""
    with world():
        exp = _this(maxTrials=3)
        searcher = make_searcher(exp, make_plan(exp))
        searcher.warm_start(_store(reports))
        out = run_search(exp, _measure, searcher=searcher)
        write_report(tmp_path / RUN, exp, [m.result for m in out], run_id=RUN,
                     search=searcher.report_block())
    doc = json.loads((tmp_path / RUN / "results.json").read_text())
    assert len(doc["trials"]) == 3
    assert {t["trial_id"] for t in doc["trials"]}.isdisjoint(searcher._seeded_ids)
    assert doc["search"]["seeded_from"] == [{"report": f"reports/easy-loose/{RUN}",
                                             "trials": 6}]
    assert "**Sampler seeded:**" in (tmp_path / RUN / "report.md").read_text()


def _planted(reports, tmp_path, edit):
    src = reports / "easy-loose" / RUN
    dst = tmp_path / "easy-loose" / RUN
    dst.mkdir(parents=True)
    doc = json.loads((src / "results.json").read_text())
    edit(doc)
    (dst / "results.json").write_text(json.dumps(doc))
    return tmp_path


@pytest.mark.parametrize("field,value,why", [
    ("gpu", "A100", "GPU A100, not H100"),
    ("model", "meta-llama/Llama-3.1-70B", "model meta-llama/Llama-3.1-70B"),
    ("engine", "vllm", "engine vllm, not sim"),
])
def test_a_report_of_other_hardware_model_or_engine_seeds_nothing(reports, tmp_path, field,
                                                                  value, why):
    def edit(doc):
        if field == "gpu":
            doc["hardware"]["gpu_type"] = value
        elif field == "model":
            doc["experiment"]["model"]["id"] = value
        else:
            doc["engine"]["name"] = value
    root = _planted(reports, tmp_path, edit)
    with world():
        exp = _this()
        searcher = make_searcher(exp, make_plan(exp))
        store = ResultStore.scan(root, host=provenance.host_facts())
        if not store.reports:  # the loader refused it whole: nothing to seed either
            assert store.refused
            notes = searcher.warm_start(store)
        else:
            notes = searcher.warm_start(store)
            assert len(notes) == 1 and why in notes[0], notes
    assert searcher.study.trials == [] and searcher.report_block() is None


def test_params_outside_this_space_are_not_told(reports, tmp_path):
    def edit(doc):
        doc["trials"][0]["params"]["max-running-requests"] = 40  # not one of its values
        doc["trials"][1]["params"]["mem-fraction-static"] = 0.95  # above its range
        doc["trials"][2]["params"]["kv-cache-dtype"] = True  # wrong type
        doc["trials"][3]["params"]["no-such-flag"] = 1  # another space
        del doc["trials"][4]["params"]["chunked-prefill-size"]
        doc["trials"][5]["status"] = "failed_benchmark"
    root = _planted(reports, tmp_path, edit)
    with world():
        exp = _this()
        searcher = make_searcher(exp, make_plan(exp))
        notes = searcher.warm_start(ResultStore.scan(root, host=provenance.host_facts()))
    assert _seeded(searcher) == []
    skipped = [n for n in notes if "not seeded from" in n]
    assert len(skipped) == 6, notes
    assert any("1 trial(s)" in n and n.endswith(": failed_benchmark, not completed")
               for n in skipped), notes
    for part in ("max-running-requests=40 is not one of its values",
                 "mem-fraction-static=0.95 is not one of its values",
                 "kv-cache-dtype=True is not one of its values", "not this space's"):
        assert sum(part in n for n in skipped) >= 1, (part, notes)


@pytest.mark.parametrize("value", [-1.0, 1e300, "1500", None, True, [1.0], {"mean": 1}])
def test_forged_metrics_are_refused_or_skipped_never_told(reports, tmp_path, value):
    def edit(doc):
        for t in doc["trials"]:
            for by_level in t["metrics"].values():
                for values in by_level.values():
                    values["ttft.mean"] = value
    root = _planted(reports, tmp_path, edit)
    with world():
        exp = _this()
        searcher = make_searcher(exp, make_plan(exp))
        store = ResultStore.scan(root, host=provenance.host_facts())
        notes = searcher.warm_start(store)
    assert searcher.study.trials == []  # nothing reached Optuna
    if store.reports:
        assert len(notes) == 1 and "6 trial(s)" in notes[0]
        assert "ttft.mean at D(1000,200) level" in notes[0]
    else:
        assert store.refused


def test_nan_in_a_report_is_refused_by_the_store(reports, tmp_path):
    src = (reports / "easy-loose" / RUN / "results.json").read_text()
    dst = tmp_path / "easy-loose" / RUN
    dst.mkdir(parents=True)
    doc = json.loads(src)
    doc["trials"][0]["metrics"]["D(1000,200)"]["32"]["ttft.mean"] = float("nan")
    (dst / "results.json").write_text(json.dumps(doc))  # json.dumps writes NaN
    with world():
        exp = _this()
        searcher = make_searcher(exp, make_plan(exp))
        store = ResultStore.scan(tmp_path, host=provenance.host_facts())
        assert not store.reports and store.refused
        assert searcher.warm_start(store) == []
    assert searcher.study.trials == []


def test_the_best_seeded_point_is_measured_first_and_no_other_again(tmp_path):
    """A related report measured 3 of this space's 4 points, all meeting this experiment's
    SLO. The best of them is measured first (the answer must stand on this run's own
    measurements, not on a value told from another run); then the one point left; then the
    space is exhausted: the other two seeded points are never proposed again."""
    def tiny(name, method, values, levels):
        doc = _doc(name, method, 100_000, concurrency=levels)
        doc["parameters"] = {"max-running-requests": values}
        doc["search"]["maxTrials"] = 4
        return from_document(doc)
    with world():
        rel = tiny("tiny-related", "grid", [32, 64, 96], [16, 32, 64, 128, 256])
        out = run_search(rel, _measure)
        write_report(tmp_path / rel.name / RUN, rel, [m.result for m in out], run_id=RUN)
        exp = tiny("tiny", "bayesian", [32, 64, 96, 128], [32, 64, 128, 256])
        searcher = make_searcher(exp, make_plan(exp))
        searcher.warm_start(_store(tmp_path))
        seeded = _seeded(searcher)
        assert len(seeded) == 3
        best = max(seeded, key=lambda t: t.value)
        assert len({t.value for t in seeded}) == 3  # a unique best: the rule is visible
        first = searcher.ask()
        mrr = searcher.dims["max-running-requests"]  # Optuna holds the ordinal index
        assert first is not None and first.params == {
            "max-running-requests": mrr.value(best.params["max-running-requests"])}
        second = searcher.ask()
        assert second is not None and second.params == {"max-running-requests": 128}
        assert searcher.ask() is None


def test_no_seeded_point_is_measured_when_none_meets_this_experiments_slos(reports):
    """Seeded points that violate this experiment's SLOs are the sampler's history only:
    the first proposal is none of them."""
    with world():
        exp = _this()
        searcher = make_searcher(exp, make_plan(exp))
        searcher.warm_start(_store(reports))
        assert all(t.system_attrs["constraints:violation"] > 0 for t in _seeded(searcher))
        assert searcher.ask().id not in searcher._seeded_ids


@pytest.mark.parametrize("value,why", [
    (0.95, "mem-fraction-static=0.95 is outside [0.78, 0.9]"),
    ("0.8", "mem-fraction-static='0.8' is outside [0.78, 0.9]"),
    (False, "mem-fraction-static=False is outside [0.78, 0.9]"),
])
def test_a_continuous_parameter_takes_only_numbers_in_its_range(reports, tmp_path, value, why):
    def edit(doc):
        doc["trials"][0]["params"]["mem-fraction-static"] = value
    root = _planted(reports, tmp_path, edit)
    doc = _doc("easy-tight", "bayesian", 1)
    doc["parameters"]["mem-fraction-static"] = {"type": "float", "low": 0.78, "high": 0.9}
    with world():
        exp = from_document(doc)
        searcher = make_searcher(exp, make_plan(exp))
        notes = searcher.warm_start(ResultStore.scan(root, host=provenance.host_facts()))
    assert len(_seeded(searcher)) == 5  # the report's other trials lie in the range
    assert any(n.endswith(f": {why}") for n in notes), notes
