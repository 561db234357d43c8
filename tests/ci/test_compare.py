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


def _pair(new_objective: float, old_objective: float, **old_over):
    """(new, old): one trial `a` each, recorded ± 1; `old_over` changes old's document."""
    def one(run: str, v: float):
        return report_doc(run, [("a", 0, {"objective": v, "objective_low": v - 1,
                                          "objective_high": v + 1})], "a")

    new, old = one("new", new_objective), one("old", old_objective)
    if old_over:
        old = from_document({**old.doc, **old_over}, "report old")
    return new, old


def test_a_drop_beyond_the_threshold_is_a_regression_and_a_rise_is_not():
    """Rule: `regressed` gates on the best objective alone, in the objective's direction, on
    the same hardware: -10 % with ± 1 regresses at a 5 % threshold; +10 % or -2 % do not."""
    assert compare.regressed(*_pair(90.0, 100.0), threshold=0.05)
    assert not compare.regressed(*_pair(110.0, 100.0), threshold=0.05)
    assert not compare.regressed(*_pair(98.0, 100.0), threshold=0.05)
    assert not compare.regressed(*_pair(90.0, 100.0), threshold=0.15)
    new, _ = _pair(90.0, 100.0)
    assert not compare.regressed(new, None, threshold=0.05), "nothing to compare with"
    minimize = from_document(dict(new.doc, objective=dict(new.doc["objective"],
                                                         direction="minimize")), "min")
    assert not compare.regressed(minimize, _pair(90.0, 100.0)[1], threshold=0.05)


def test_other_hardware_is_never_compared_nor_a_regression():
    new, old = _pair(50.0, 100.0, hardware={"gpu_type": "H100", "gpu_count": 1,
                                             "host": {"cpu_model": None, "cpu_cores": None,
                                                      "memory_bytes": None}})
    assert not compare.regressed(new, old, threshold=0.05)
    text = "\n".join(compare.comparison(new, old))
    assert "**not comparable: other hardware**" in text and "1× H100" in text
    assert "regression" not in text and "Compared with" not in text
    assert "| main |" not in text, "no old column against other hardware"


def test_a_best_trial_without_a_score_on_main_falls_back_to_mains_best():
    """Rule: the same trial id compares directly only when main scored it; otherwise main's
    best is the other side, and the comment names it."""
    new = report_doc("new", [("a", 0, {"objective": 120.0})], "a")
    old = report_doc("old", [("a", 0, {"objective": 10.0}), ("b", 0, {"objective": 100.0})], "b")
    old.doc["trials"][0]["score"] = None
    old = from_document(old.doc, "report old")
    text = "\n".join(compare.comparison(new, old))
    assert f"best vs best (main's best: `{IDS['b']}` — `p=b`)" in text
    assert "+20.0 (+20.0 %)" in text
    assert not compare.regressed(from_document(dict(new.doc), "n"), old, threshold=0.05)
    worse = report_doc("new", [("a", 0, {"objective": 80.0})], "a")
    assert compare.regressed(worse, old, threshold=0.05), "80 against main's best 100"


def test_the_assumed_noise_footnote_appears_only_when_a_row_assumed_it():
    no_pm = report_doc("new", [("a", 0, {"objective": 101.0})], "a")
    old_no_pm = report_doc("old", [("a", 0, {"objective": 100.0})], "a")
    text = "\n".join(compare.comparison(no_pm, old_no_pm))
    assert "\\* no ± recorded: ±3% assumed." in text
    assert "\\* no ± recorded" not in "\n".join(compare.comparison(*_pair(101.0, 100.0)))
    assert f"Compared with main's latest report `old`: same trial `{IDS['a']}`" in text


def test_a_contended_measurement_is_named_on_its_side():
    new, old = _pair(101.0, 100.0)
    new.doc["trials"][0]["contended"] = True
    new.doc["trials"][0]["host_load"] = [{"loadavg_1m_after": 7.5, "cpus": 2}]
    text = "\n".join(compare.comparison(new, old))
    assert "⚠️ this PR: contended measurement: other work shared the host (load 7.5 on 2 CPUs)." \
        in text
    assert "⚠️ main" not in text


def test_without_a_main_report_the_table_has_one_column_and_says_why():
    new, _ = _pair(101.0, 100.0)
    lines = compare.comparison(new, None, old_label="main")
    assert "|  | this PR |" in lines and "|---|--:|" in lines
    assert "_No report of this experiment on main to compare with._" in lines


def test_params_name_each_setting_and_numbers_as_the_report_formats_them():
    new = report_doc("new", [("a", 0, {"objective": 1.0})], "a")
    trial = new.best
    assert compare.params_text(trial) == "`p=a`"
    assert compare.params_text(None) == "—"
    new.doc["trials"][0]["params"] = {}
    assert compare.params_text(from_document(new.doc, "r").best) == "(engine defaults)"
    new.doc["trials"][0]["params"] = {"mem-fraction-static": 0.85, "flag": True}
    assert compare.params_text(from_document(new.doc, "r").best) == \
        "`mem-fraction-static=0.85`, `flag=True`"


def test_diff_text_puts_the_newer_report_first_with_its_labels():
    new, old = _pair(90.0, 100.0)
    text = compare.diff_text(old, new, a_label="A", b_label="B")
    assert text.startswith("### `x`: `new` vs `old`\n")
    assert "|  | B | A | Δ |" in text
    assert "**regression**" in text and "−10.0 (−10.0 %)" in text


def test_a_value_with_its_plus_minus_and_a_missing_value():
    assert compare.with_pm(100.0, 2.0) == "100.0 ± 2.00"
    assert compare.with_pm(100.0, None) == "100.0"
    assert compare.with_pm(None, 2.0) == "—"
    assert compare.delta_text((100.0, None), (0.0, None)) == "+100.0", "no % of a zero"
    assert compare.delta_text((100.0, None), (100.0, None)) == "+0 (+0.0 %) _within noise_*"


def test_the_gate_compares_the_same_trial_directly_when_main_scored_it():
    """Rule: `regressed` takes main's score of the very trial the PR's best is, not main's
    best: 80 against the same trial's 82 is noise-level (-2.4 %), though main's best is 100;
    a best main never measured is gated against main's best."""
    new = report_doc("new", [("a", 0, {"objective": 80.0})], "a")
    old = report_doc("old", [("a", 0, {"objective": 82.0}), ("b", 0, {"objective": 100.0})],
                     "b")
    assert not compare.regressed(new, old, threshold=0.05)
    assert "same trial" in "\n".join(compare.comparison(new, old))
    only_b = report_doc("old", [("b", 0, {"objective": 100.0})], "b")
    assert compare.regressed(new, only_b, threshold=0.05)


def test_the_labels_of_a_diff_are_named_never_positional():
    """Rule: both reports and both labels have the same types, so the labels are keyword-only:
    a label cannot silently land on the other report."""
    new, old = _pair(90.0, 100.0)
    with pytest.raises(TypeError):
        compare.diff_text(old, new, "A", "B")


def test_the_assumed_band_is_three_percent_of_the_larger_value():
    """Rule: with no ± on either side the band is NOISE_REL of the larger of the two values,
    whichever side holds it: 3.05 apart is noise beside 103.05 (3.09), though not beside
    100 (3.00)."""
    assert compare.delta_text((103.05, None), (100.0, None)).endswith("_within noise_*")
    assert compare.delta_text((100.0, None), (103.05, None)).endswith("_within noise_*")
    assert "within noise" not in compare.delta_text((103.2, None), (100.0, None))


def test_half_width_is_half_the_distance_between_the_bounds_in_either_order():
    """Rule: the ± is half of |high − low|, whatever the two numbers are (3 and 10: 3.5),
    and a report that wrote the bounds the other way round gets the same ±."""
    assert compare.half_width(3.0, 10.0) == 3.5
    assert compare.half_width(10.0, 3.0) == 3.5


def test_a_drop_is_signed_minus_however_small():
    """Rule: the Δ's sign is the sign of new − old: a drop of 0.5 reads −0.5, a rise of
    0.5 reads +0.5 (only an unchanged value reads +0)."""
    assert compare.delta_text((99.5, None), (100.0, None)).startswith("−0.5 (−0.5 %)")
    assert compare.delta_text((100.5, None), (100.0, None)).startswith("+0.5 (+0.5 %)")


def test_the_comparisons_labels_and_threshold_are_keyword_only():
    """Rule: `comparison` takes the two reports by position and the rest by name: a label
    passed by position would become the other side's label, or the threshold."""
    new, old = _pair(90.0, 100.0)
    with pytest.raises(TypeError):
        compare.comparison(new, old, "this PR")


def test_tuneops_diff_gates_at_five_percent_by_default():
    """Rule: `tuneops diff` (which names no threshold) marks a regression at the default
    5 %: a 4 % drop beyond the ± is worse but no regression, a 7 % drop is one."""
    text = compare.diff_text(*reversed(_pair(96.0, 100.0)), a_label="A", b_label="B")
    assert "❌ −4.00 (−4.0 %)" in text and "regression" not in text
    text = compare.diff_text(*reversed(_pair(93.0, 100.0)), a_label="A", b_label="B")
    assert "❌ **regression** −7.00 (−7.0 %)" in text


def test_no_trial_meeting_every_slo_is_no_objective_regression():
    """Rule: `regressed` gates on the best objective; a report with no best has no objective
    to compare (the comment says "No trial met every SLO" instead), so it is no regression."""
    _, old = _pair(90.0, 100.0)
    none = report_doc("new", [("a", 0, {"objective": 10.0, "feasible": False})], "")
    assert none.best is None
    assert not compare.regressed(none, old, threshold=0.05)
