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
