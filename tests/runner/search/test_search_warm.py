"""Warm start beyond identical ids (issue 23, item 5): a related experiment's report (same
engine, model and GPU type; other load levels, so no trial id in common) seeds the model
search's calibration, marked in notes and report; reports of another host or model do not."""

from __future__ import annotations

import json
import statistics

import pytest
from tuneops.runner.report import markdown, provenance, write_report
from tuneops.runner.search import make_searcher
from tuneops.runner.search.predict import perf_model, predict
from tuneops.runner.search.virtual import run_search
from tuneops.runner.store import ResultStore

from tests.helpers.search_spaces import SPACES, experiment, perturbed, world
from tuneops.plan import make_plan
from tuneops.spec import from_document

SEED = 4  # the perturbation: the "real hardware" both experiments measure


def _measure(args, scenario, level):
    with perturbed(SEED):
        return predict(perf_model("H100", "Llama-3.1-8B", args), level, 1500, 300).values


def _related():
    doc = json.loads(json.dumps(SPACES["narrow"]))
    doc["metadata"]["name"] = "narrow-other-load"
    doc["benchmark"]["concurrency"] = [24, 96]  # other levels: other trial ids
    doc["slos"] = [{"metric": "ttft.mean", "max": 900}]  # and another SLO
    doc["search"] = {"method": "model", "seed": 1, "maxTrials": 6}
    return from_document(doc)


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """One report of the related experiment, written by tuneops' own report writer."""
    root = tmp_path_factory.mktemp("reports")
    with world():
        rel = _related()
        searcher = make_searcher(rel, make_plan(rel))
        out = run_search(rel, _measure, searcher=searcher)
        write_report(root / rel.name / "20261206T000000Z-aaaaaaaa", rel,
                     [m.result for m in out], run_id="20261206T000000Z-aaaaaaaa",
                     search=searcher.report_block())
    return root


def _error(searcher) -> float:
    """Median |relative error| of the objective's metric over every point and level."""
    name = searcher.exp.objective.metric
    pred = searcher._corrected(name)
    errs = []
    for i, point in enumerate(searcher.points[::25]):
        i *= 25
        if not searcher.starts[i]:
            continue
        for j, c in enumerate(searcher.levels):
            true = _measure(dict(searcher.exp.engine.args, **point), "", c)[name]
            errs.append(abs(pred[i, j] / true - 1))
    return statistics.median(errs)


def test_a_related_report_seeds_the_calibration_and_says_so(reports):
    with world():
        exp = experiment("narrow", "model", SEED, maxTrials=5)
        store = ResultStore.scan(reports, host=provenance.host_facts())
        assert not store.refused
        cold = make_searcher(exp, make_plan(exp))
        warm = make_searcher(exp, make_plan(exp))
        notes = warm.warm_start(store)
        assert notes == ["search.method model: calibration seeded from reports/"
                         "narrow-other-load/20261206T000000Z-aaaaaaaa (6 trial(s) of a related "
                         "experiment: same engine, model and GPU type)"]
        assert warm.observed and not cold.observed
        assert _error(warm) < 0.5 * _error(cold)
        block = warm.report_block()
        assert block["seeded_from"] == [
            {"report": "reports/narrow-other-load/20261206T000000Z-aaaaaaaa", "trials": 6}]


def test_the_report_marks_the_seed_and_the_prediction_error(reports):
    rel_dir = next((reports / "narrow-other-load").iterdir())
    md = (rel_dir / "report.md").read_text()
    assert "**Model prediction error**" in md  # the related run's own record, per trial
    doc = json.loads((rel_dir / "results.json").read_text())
    assert len(doc["search"]["prediction_errors"]) == 6
    with world():
        exp = experiment("narrow", "model", SEED, maxTrials=2)
        searcher = make_searcher(exp, make_plan(exp))
        searcher.warm_start(ResultStore.scan(reports, host=provenance.host_facts()))
        run_search(exp, _measure, searcher=searcher)
    lines = markdown.model_search_lines(searcher.report_block())  # what report.md shows
    assert ("- seeded from report `reports/narrow-other-load/20261206T000000Z-aaaaaaaa` "
            "(6 trial(s))") in lines


def test_a_report_of_another_host_never_seeds(reports):
    with world():
        exp = experiment("narrow", "model", SEED, maxTrials=5)
        other = {**provenance.host_facts(), "cpu_model": "Another CPU 9000"}
        store = ResultStore.scan(reports, host=other)
        assert any("measured on another host" in r for r in store.refused)
        searcher = make_searcher(exp, make_plan(exp))
        assert searcher.warm_start(store) == [] and searcher.observed == []


def test_a_report_of_another_model_or_gpu_never_seeds(reports, tmp_path):
    """A planted or unrelated report: its model id (or GPU type) is not the experiment's."""
    for field, value, why in (("model", "meta-llama/Llama-3.1-70B", "model meta-llama/Llama"),
                              ("gpu", "A100", "GPU A100, not H100")):
        root = tmp_path / field
        src = next((reports / "narrow-other-load").iterdir())
        dst = root / "narrow-other-load" / src.name
        dst.mkdir(parents=True)
        doc = json.loads((src / "results.json").read_text())
        if field == "model":
            doc["experiment"]["model"]["id"] = value
        else:
            doc["hardware"]["gpu_type"] = value
        (dst / "results.json").write_text(json.dumps(doc))
        with world():
            exp = experiment("narrow", "model", SEED, maxTrials=5)
            store = ResultStore.scan(root, host=provenance.host_facts())
            assert store.reports, store.refused  # the loader took it: the seed refuses it
            searcher = make_searcher(exp, make_plan(exp))
            notes = searcher.warm_start(store)
        assert searcher.observed == [] and searcher.seeded == {}
        assert len(notes) == 1 and notes[0].startswith("search.method model: not seeded from")
        assert why in notes[0]


def test_values_a_report_should_not_hold_are_not_used(reports, tmp_path):
    """Negative, zero, boolean and huge level keys never reach the calibration."""
    src = next((reports / "narrow-other-load").iterdir())
    dst = tmp_path / "narrow-other-load" / src.name
    dst.mkdir(parents=True)
    doc = json.loads((src / "results.json").read_text())
    for t in doc["trials"]:
        for by_level in t["metrics"].values():
            for values in by_level.values():
                for k in values:
                    values[k] = -1.0
    (dst / "results.json").write_text(json.dumps(doc))
    with world():
        exp = experiment("narrow", "model", SEED, maxTrials=5)
        store = ResultStore.scan(tmp_path, host=provenance.host_facts())
        searcher = make_searcher(exp, make_plan(exp))
        searcher.warm_start(store)
    assert searcher.observed == []
