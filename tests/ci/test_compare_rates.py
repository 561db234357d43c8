"""The PR bot on open-loop (rate) reports: the comparison shows the capacity (max_slo_rate)
with its ± and the offered and achieved rate at the objective's point, against main's
report too, says when main measured other traffic, and keeps every string from a report in
a code span. Fabricated, schema-valid reports (tests/runner/report_helpers.py)."""

from __future__ import annotations

import copy
import json
import re

import pytest
from tuneops.runner.report import write_report
from tuneops.runner.report.load import from_document

from tests.runner.report_helpers import (
    RATE_SCENARIO,
    make_rate_exp,
    make_rate_results,
    report_doc,
)
from tuneops.ci import comment, compare

HOSTILE = "x` @acme/maintainers ![p](https://evil.example/p.png) <!-- | cell"


@pytest.fixture(scope="module")
def rate_doc(tmp_path_factory):
    """A rate report's results.json (best: capacity 6 ± 0.3 req/s), written once."""
    exp = make_rate_exp()
    out = write_report(tmp_path_factory.mktemp("rates") / "run1", exp, make_rate_results(exp),
                       run_id="run1", manifests_root=None)
    return json.loads((out / "results.json").read_text())


def _report(doc, run="run1"):
    doc = copy.deepcopy(doc)
    doc["run"]["id"] = run
    return from_document(doc, f"report {run}")


def _rows(lines: list[str]) -> dict[str, str]:
    """First cell → the whole table row."""
    return {ln.split(" | ")[0].lstrip("| "): ln for ln in lines if ln.startswith("| ")}


def test_a_rate_report_shows_capacity_and_offered_and_achieved_rate_with_plus_minus(rate_doc):
    lines = compare.comparison(_report(rate_doc), None)
    rows = _rows(lines)
    assert rows["`max_slo_rate` (`maximize`, objective)"] == \
        "| `max_slo_rate` (`maximize`, objective) | 6.00 ± 0.3 |"
    # the objective's point of the best is 1 req/s (results.json's score.concurrency)
    assert rows["`offered_rate` (offered, at the objective's point)"].endswith("| 1.00 ± 0.05 |")
    assert rows["`achieved_rate` (achieved, at the objective's point)"].endswith(
        "| 0.98 ± 0.049 |")
    assert "`max_slo_rate` (capacity)" not in rows  # the objective row is the capacity
    assert "Load: open loop, `poisson` arrivals, capacity search 1.00–8.00 req/s" in lines


def test_capacity_gets_its_own_row_when_it_is_not_the_objective(rate_doc):
    doc = copy.deepcopy(rate_doc)
    doc["objective"]["metric"] = "output_throughput_per_gpu"
    rows = _rows(compare.comparison(_report(doc), None))
    assert rows["`max_slo_rate` (capacity)"].endswith("| 6.00 ± 0.3 |")


def test_against_main_the_rate_rows_get_deltas_and_a_changed_load_is_said(rate_doc):
    main = copy.deepcopy(rate_doc)
    best = main["trials"][0]
    best["score"].update(objective=4.0, objective_low=3.8, objective_high=4.2)
    best["metrics"][RATE_SCENARIO]["1"]["achieved_rate"] = 0.5
    lines = compare.comparison(_report(rate_doc), _report(main, "main1"))
    rows = _rows(lines)
    assert rows["`max_slo_rate` (`maximize`, objective)"].endswith(
        "| 6.00 ± 0.3 | 4.00 ± 0.2 | ✅ +2.00 (+50.0 %) |")
    assert "＝ +0 (+0.0 %) _within noise_" in rows[
        "`offered_rate` (offered, at the objective's point)"]
    assert "✅ +0.48" in rows["`achieved_rate` (achieved, at the objective's point)"]
    assert "the load changed" not in "\n".join(lines)
    main["benchmark"]["load"]["arrival"] = "constant"
    text = "\n".join(compare.comparison(_report(rate_doc), _report(main, "main2")))
    assert ("**the load changed** (main: open loop, `constant` arrivals, capacity search "
            "1.00–8.00 req/s): the reports measure different traffic") in text


def test_a_closed_loop_main_leaves_the_rate_columns_empty_and_names_the_change(rate_doc):
    closed = copy.deepcopy(rate_doc)
    del closed["benchmark"]["load"]  # same hardware, same trial: only the load differs
    rows_text = "\n".join(compare.comparison(_report(rate_doc), _report(closed, "main1")))
    assert "| `offered_rate` (offered, at the objective's point) | 1.00 ± 0.05 | — | — |" \
        in rows_text
    assert "(main: closed-loop concurrency)" in rows_text
    # and the other way round: a closed-loop PR report gets no rate rows at all
    text = "\n".join(compare.comparison(_report(closed), _report(rate_doc, "main2")))
    assert "offered_rate" not in text and "`max_slo_rate` (`maximize`, objective)" in text
    assert "Load: closed-loop concurrency · **the load changed**" in text
    main = report_doc("m", [("a", 0, {"objective": 5.0})], "a")  # other hardware
    assert "not comparable" in "\n".join(compare.comparison(_report(rate_doc), main))


def test_strings_from_a_rate_report_stay_in_their_code_spans(rate_doc):
    doc = copy.deepcopy(rate_doc)
    doc["benchmark"]["load"]["arrival"] = HOSTILE  # benchmark is open in the schema
    doc["trials"][0]["params"] = {"max-running-requests": HOSTILE}
    text = "\n".join(compare.comparison(_report(doc), _report(rate_doc, "main1")))
    assert "``x` @acme/maintainers ![p](https://evil.example/p.png) <!-- | cell`` arrivals" \
        in text
    assert f"``max-running-requests={HOSTILE}``" in text
    outside = re.sub(r"``.*?``", "", text)  # what is left outside the code spans
    assert "@acme" not in outside and "<!--" not in outside and "![p]" not in outside
    forged = copy.deepcopy(rate_doc)
    forged["benchmark"]["load"] = {"type": "rate", "rates": "all of them", "arrival": 7}
    assert "rates not recorded" in "\n".join(compare.comparison(_report(forged), None))


def test_the_sticky_comment_carries_the_rate_rows_of_the_measured_report(rate_doc, tmp_path):
    out = tmp_path / "ci-out"
    (out / "rate-report").mkdir(parents=True)
    (out / "rate-report" / "status.json").write_text(
        '{"status": "passed", "measured": 3, "reused": 0, "trials": 4}')
    (out / "rate-report" / "results.json").write_text(json.dumps(rate_doc))
    exp = {"name": "rate-report", "path": "experiments/rate.yaml", "engine": "sim",
           "runner": "hosted", "sha256": None}
    text = "\n".join(comment.section(exp, out, {"hosted": "success"},
                                     _report(rate_doc, "main1")))
    assert "✅ **passed** · run `run1`" in text
    assert "| `max_slo_rate` (`maximize`, objective) | 6.00 ± 0.3 | 6.00 ± 0.3 |" in text
    assert "| `achieved_rate` (achieved, at the objective's point) | 0.98 ± 0.049 |" in text


def _rate_lines(doc, old=None) -> list[str]:
    return compare.comparison(_report(doc), _report(old, "main1") if old else None)


def test_the_rate_rows_read_the_level_the_score_names_in_any_measured_order(rate_doc):
    """Rule: offered and achieved rate are read at the level score.concurrency names, found
    by value, not by position: a capacity search measures rates in search order (1, 8, 4,
    2), and the objective's point here is 4 req/s, neither the first nor the largest."""
    doc = copy.deepcopy(rate_doc)
    best = doc["trials"][0]
    for part in ("metrics", "spread"):
        levels = best[part][RATE_SCENARIO]
        best[part][RATE_SCENARIO] = {k: levels[k] for k in ("1", "8", "4", "2")}
    best["score"]["concurrency"] = 4
    rows = _rows(_rate_lines(doc))
    assert rows["`offered_rate` (offered, at the objective's point)"].endswith("| 4.00 ± 0.2 |")
    assert rows["`achieved_rate` (achieved, at the objective's point)"].endswith(
        "| 3.92 ± 0.196 |")


@pytest.mark.parametrize("concurrency", [None, 3])
def test_without_the_objectives_point_only_the_capacity_is_shown(rate_doc, concurrency):
    """Rule: offered and achieved rate mean something only at the objective's point; when
    the score names none (null) or one that was not measured (3 req/s), their rows are left
    out, while the capacity, the same at every rate, still gets its row."""
    doc = copy.deepcopy(rate_doc)
    doc["objective"]["metric"] = "output_throughput_per_gpu"  # capacity gets its own row
    main = copy.deepcopy(doc)
    doc["trials"][0]["score"]["concurrency"] = concurrency
    text = "\n".join(_rate_lines(doc, main))
    rows = _rows(text.splitlines())
    assert rows["`max_slo_rate` (capacity)"].startswith(
        "| `max_slo_rate` (capacity) | 6.00 ± 0.3 | 6.00 ± 0.3 |")
    assert "offered_rate" not in text and "achieved_rate" not in text


def test_each_rate_row_appears_once(rate_doc):
    """Rule: a rate metric is a rate row, never also an SLO row: each metric has one row."""
    doc = copy.deepcopy(rate_doc)
    doc["objective"]["metric"] = "output_throughput_per_gpu"
    firsts = [ln.split(" | ")[0] for ln in _rate_lines(doc) if ln.startswith("| `")]
    assert len(firsts) == len(set(firsts))
    assert "| `max_slo_rate` (capacity)" in firsts and "| `offered_rate` (offered, at the " \
        "objective's point)" in firsts


def test_rate_and_slo_rows_show_a_change_but_only_the_objective_regresses(rate_doc):
    """Rule: the regression threshold applies to the objective alone. Main's achieved
    (−) and offered rate (+) rows, on either side of "objective" alphabetically, and an SLO
    row are worse here beyond their ±, and none of them is a regression."""
    main = copy.deepcopy(rate_doc)
    point = main["trials"][0]["metrics"][RATE_SCENARIO]["1"]
    point.update(achieved_rate=2.0, offered_rate=2.0)
    main["trials"][0]["score"]["slo_checks"][0].update(value=10.0, low=9.0, high=11.0)
    rows = _rows(_rate_lines(rate_doc, main))
    for name in ("`achieved_rate` (achieved, at the objective's point)",
                 "`offered_rate` (offered, at the objective's point)"):
        assert "| ❌ −" in rows[name] and "regression" not in rows[name]
    slo = next(r for k, r in rows.items() if k.startswith("`ttft.p99`"))
    assert "| ❌ +" in slo and "regression" not in slo


def test_a_rate_report_where_no_trial_met_every_slo_has_no_table(rate_doc):
    """Rule: with no best there is no objective's point: the comment says so, with or
    without main's report, and reads no rate row of a trial that is not there."""
    doc = copy.deepcopy(rate_doc)
    doc["best_trial_id"] = None
    for old in (None, rate_doc):
        lines = _rate_lines(doc, old)
        assert "**No trial met every SLO.**" in lines
        assert not any(ln.startswith("| `") for ln in lines)


def test_main_reports_best_without_a_score_leaves_its_columns_empty(rate_doc):
    """Bad day: main's report names a best whose score is null (the schema allows it): the
    PR's rows are shown, main's are —, and nothing is read from a score that is not there."""
    main = copy.deepcopy(rate_doc)
    main["trials"][0]["score"] = None
    main["trials"][0]["trial_id"] = "0" * 12  # not the PR's best: best vs best
    main["best_trial_id"] = main["pareto"]["trial_ids"][0] = "0" * 12
    main.pop("decision", None)
    rows = _rows(_rate_lines(rate_doc, main))
    assert rows["`offered_rate` (offered, at the objective's point)"].endswith(
        "| 1.00 ± 0.05 | — | — |")


@pytest.mark.parametrize("where", ["trial", "scenario", "level", "metric"])
def test_a_rate_value_without_a_recorded_interval_shows_no_plus_minus(rate_doc, where):
    """Rule: a rate's ± comes from spread[scenario][level][metric]; a report missing any
    step of that path (spread is optional: a single measurement, an older report) shows
    the value alone rather than failing."""
    doc = copy.deepcopy(rate_doc)
    best = doc["trials"][0]
    if where == "trial":
        del best["spread"]
    elif where == "scenario":
        best["spread"] = {}
    elif where == "level":
        del best["spread"][RATE_SCENARIO]["1"]
    else:
        del best["spread"][RATE_SCENARIO]["1"]["offered_rate"]
    rows = _rows(_rate_lines(doc))
    assert rows["`offered_rate` (offered, at the objective's point)"].endswith("| 1.00 |")


def test_a_best_trial_with_no_metrics_gets_no_rate_rows(rate_doc):
    """Bad day: a schema-valid report whose best trial recorded no metrics has nothing to
    read the rate rows from; the objective row is still shown."""
    doc = copy.deepcopy(rate_doc)
    doc["trials"][0]["metrics"] = {}
    doc["trials"][0].pop("spread", None)
    text = "\n".join(_rate_lines(doc))
    assert "`max_slo_rate` (`maximize`, objective) | 6.00 ± 0.3 |" in text
    assert "offered_rate" not in text


@pytest.mark.parametrize("kind", ["closed", "trace", None])
def test_only_a_load_of_type_rate_is_an_open_loop_load(rate_doc, kind):
    """Rule: benchmark.load is open in the report schema; only `type: rate` makes a report
    open-loop (a type sorting before or after "rate", or none, does not)."""
    doc = copy.deepcopy(rate_doc)
    doc["benchmark"]["load"]["type"] = kind
    assert compare.load_of(_report(doc)) is None
    assert compare.load_of(_report(rate_doc)) == rate_doc["benchmark"]["load"]


def test_a_list_of_rates_is_named_up_to_twelve():
    """Rule: a load's list of rates is written out, in its order, up to the first twelve
    (the comment stays one line)."""
    load = {"type": "rate", "arrival": "poisson", "rates": [1, 2]}
    assert compare.load_text(load) == "open loop, `poisson` arrivals, rates 1.00, 2.00 req/s"
    load["rates"] = list(range(1, 14))
    text = compare.load_text(load)
    assert text.endswith(", 11.0, 12.0 req/s") and "13.0" not in text
