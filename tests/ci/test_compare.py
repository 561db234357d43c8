"""The comparison the bot posts: ± read from the interval a report records, deltas inside
the measurements' noise marked, same trial id compared directly, else best against best."""

from __future__ import annotations

import pytest
from tuneops.runner.report.load import from_document

from tests.runner.report_helpers import IDS, report_doc
from tuneops.ci import compare
from tuneops.errors import UserError


def test_half_width_is_half_the_recorded_interval_and_none_without_one():
    # what results.json writes: the score's objective interval, an SLO check's interval
    assert compare.half_width(4.0, 7.0) == 1.5
    assert compare.half_width(8.0, 12.0) == 2.0
    assert compare.half_width(None, None) is None
    assert compare.half_width(8.0, None) is None
    assert compare.half_width(True, 2.0) is None  # a boolean is no bound


def test_noise_comes_from_the_recorded_plus_minus_when_there_is_one():
    # ±10 and ±10 combine to ±14.1: a change of 12 is noise, one of 20 is not
    assert "within noise" in compare.delta_text((112.0, 10.0), (100.0, 10.0))
    assert "within noise" not in compare.delta_text((120.0, 10.0), (100.0, 10.0))
    # without ±, 3 % of the larger value is assumed and flagged with *
    assert compare.delta_text((102.0, None), (100.0, None)).endswith("_within noise_*")
    assert compare.delta_text((90.0, None), (100.0, None)) == "−10.0 (−10.0 %)"


def test_same_trial_direct_delta_else_best_vs_best_with_plus_minus_shown():
    main = report_doc("m", [("a", 0, {"objective": 100.0, "objective_low": 98.0,
                                "objective_high": 102.0})], "a")
    pr_same = report_doc("p", [("a", 0, {"objective": 101.0, "objective_low": 99.0,
                                  "objective_high": 103.0})], "a")
    lines = "\n".join(compare.comparison(pr_same, main))
    assert f"same trial `{IDS['a']}` in both: direct delta" in lines
    assert "| 101.0 ± 2.00 | 100.0 ± 2.00 | ＝ +1.00 (+1.0 %) _within noise_ |" in lines
    assert "100.0 ± 10.0" in lines  # the SLO value's ± from its [low, high]
    pr_new = report_doc("p", [("b", 0, {"objective": 150.0})], "b")
    lines = "\n".join(compare.comparison(pr_new, main))
    assert "best vs best" in lines and "+50.0 (+50.0 %)" in lines
    assert "No trial met every SLO" in "\n".join(compare.comparison(report_doc("p", [], ""), main))


def test_slo_bounds_and_direction_come_from_the_typed_values_not_the_text():
    new = report_doc("r2", [("a", 10.0, {"objective": 10.0})], "a")
    # an SLO bounded on both sides shows both bounds, with the Bound's own symbols
    new.doc["slos"] = [{"metric": "ttft.p99", "max": 500, "min": 100}]
    text = "\n".join(compare.comparison(new, None))
    assert "`ttft.p99` ≤ 500, ≥ 100 (SLO)" in text
    assert "(`maximize`, objective)" in text
    # text the loader would refuse never reaches the comment: the schema holds the
    # direction to its enum and every SLO entry to a metric name with numeric bounds
    forged = dict(new.doc, objective=dict(new.doc["objective"],
                                          direction="maximize](http://evil)"))
    with pytest.raises(UserError):
        from_document(forged, "forged")


def test_a_plus_minus_on_one_side_only_is_the_noise():
    """Rule: when only one report recorded a ±, that ± is the noise band (not the assumed
    3 %): a 2.5 % change is beyond a ±1 and within a ±5, either side holding it."""
    assert "within noise" not in compare.delta_text((102.5, 1.0), (100.0, None))
    assert "within noise" not in compare.delta_text((102.5, None), (100.0, 1.0))
    assert compare.delta_text((102.5, 5.0), (100.0, None)).endswith("_within noise_")
    assert compare.delta_text((102.5, None), (100.0, 5.0)).endswith("_within noise_")


def test_a_plus_minus_of_zero_is_recorded_not_missing():
    """Every repeat agreeing gives a ± of 0.0 (stats.mean_interval): it is a ±, so any change
    at all is beyond it; it was read as missing and crashed the PR comparison."""
    assert compare.delta_text((104.0, 0.0), (100.0, None)) == "+4.00 (+4.0 %)"
    assert compare.delta_text((104.0, None), (100.0, 0.0)) == "+4.00 (+4.0 %)"
    assert compare.delta_text((100.0, 0.0), (100.0, 0.0)).endswith("_within noise_")
    assert compare.delta_text((101.0, 0.0), (100.0, 0.0)) == "+1.00 (+1.0 %)"


def test_numbers_are_finite_non_boolean_numbers_only():
    assert compare._num(3) == 3.0 and isinstance(compare._num(3), float)
    for bad in (True, False, float("nan"), float("inf"), "3", None, [3]):
        assert compare._num(bad) is None, bad


def test_no_value_on_either_side_has_no_delta():
    assert compare.delta_text((None, None), (1.0, None)) == "—"
    assert compare.delta_text((1.0, None), (None, None)) == "—"
    assert compare.delta_text((1.0, 0.1), (None, 0.1)) == "—"


def test_every_slo_of_the_best_gets_a_row_whatever_its_name():
    """Metric names sorting before "objective" (error_rate, e2e_latency.*) are rows too."""
    names = ("error_rate", "e2e_latency.p99", "tpot.p50")
    new = report_doc("r", [("a", 1.0, {"objective": 1.0})], "a")
    new.doc["slos"] = [{"metric": m, "max": 5} for m in names]
    new.doc["trials"][0]["score"]["slo_checks"] = [
        {"metric": m, "limit": 5, "bound": "max", "value": 1.0, "violation": 0.0}
        for m in names]
    new = from_document(new.doc, "report r")
    rows = [ln for ln in compare.comparison(new, None) if ln.startswith("| `")]
    assert [r.split("`")[1] for r in rows] == ["output_throughput", *names]
