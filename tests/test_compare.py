"""The comparison the bot posts: ± read in the forms a report may record, deltas inside the
measurements' noise marked, same trial id compared directly, else best against best."""

from __future__ import annotations

from tuneops.ci import compare


def doc(run: str, trials: list[tuple[str, float, dict]], best: str) -> dict:
    return {
        "run": {"id": run}, "experiment": {"name": "x"},
        "objective": {"metric": "output_throughput", "direction": "maximize"},
        "slos": [{"metric": "ttft.p99", "max": 500}],
        "best_trial_id": best,
        "trials": [{"trial_id": tid, "params": {"p": tid}, "score": score | {
            "slo_checks": [{"metric": "ttft.p99", "value": 100.0, "value_ci": [90.0, 110.0]}]}}
            for tid, _, score in trials],
    }


def test_half_width_reads_every_recorded_form_and_none_when_absent():
    # what results.json writes: the score's objective interval, an SLO check's interval
    assert compare.half_width({"objective": 5, "objective_low": 4.0, "objective_high": 7.0},
                              "objective") == 1.5
    assert compare.half_width({"value": 9, "low": 8.0, "high": 12.0}, "value") == 2.0
    assert compare.half_width({"value": 9, "low": None, "high": None}, "value") is None
    assert compare.half_width({"objective": 5, "objective_pm": 1.5}, "objective") == 1.5
    assert compare.half_width({"objective_ci": [8.0, 12.0]}, "objective") == 2.0
    assert compare.half_width({"objective_ci95": {"low": 1.0, "high": 2.0}}, "objective") == 0.5
    assert compare.half_width({"ci": {"value": 3.0}}, "value") == 3.0
    assert compare.half_width({"objective": 5}, "objective") is None
    assert compare.half_width(None, "objective") is None


def test_noise_comes_from_the_recorded_plus_minus_when_there_is_one():
    # ±10 and ±10 combine to ±14.1: a change of 12 is noise, one of 20 is not
    assert "within noise" in compare.delta_text((112.0, 10.0), (100.0, 10.0))
    assert "within noise" not in compare.delta_text((120.0, 10.0), (100.0, 10.0))
    # without ±, 3 % of the larger value is assumed and flagged with *
    assert compare.delta_text((102.0, None), (100.0, None)).endswith("_within noise_*")
    assert compare.delta_text((90.0, None), (100.0, None)) == "−10.0 (−10.0 %)"


def test_same_trial_direct_delta_else_best_vs_best_with_plus_minus_shown():
    main = doc("m", [("a", 0, {"objective": 100.0, "objective_pm": 2.0})], "a")
    pr_same = doc("p", [("a", 0, {"objective": 101.0, "objective_pm": 2.0})], "a")
    lines = "\n".join(compare.comparison(pr_same, main))
    assert "same trial `a` in both: direct delta" in lines
    assert "| 101.0 ± 2.00 | 100.0 ± 2.00 | +1.00 (+1.0 %) _within noise_ |" in lines
    assert "100.0 ± 10.0" in lines  # the SLO value's ± from its [low, high]
    pr_new = doc("p", [("b", 0, {"objective": 150.0})], "b")
    lines = "\n".join(compare.comparison(pr_new, main))
    assert "best vs best" in lines and "+50.0 (+50.0 %)" in lines
    assert "No trial met every SLO" in "\n".join(compare.comparison(doc("p", [], ""), main))


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


# -------------------------------------------- reports are untrusted: odd shapes never crash


def test_numbers_are_finite_non_boolean_numbers_only():
    assert compare._num(3) == 3.0 and isinstance(compare._num(3), float)
    for bad in (True, False, float("nan"), float("inf"), "3", None, [3]):
        assert compare._num(bad) is None, bad


def test_a_plus_minus_list_must_be_a_pair():
    assert compare.half_width({"value_ci": [8.0, 12.0]}, "value") == 2.0
    assert compare.half_width({"value_ci": [5.0]}, "value") is None
    assert compare.half_width({"value_ci": [1.0, 2.0, 3.0]}, "value") is None
    assert compare.half_width({"value_ci": [1.0, True]}, "value") is None


def test_no_value_on_either_side_has_no_delta():
    assert compare.delta_text((None, None), (1.0, None)) == "—"
    assert compare.delta_text((1.0, None), (None, None)) == "—"
    assert compare.delta_text((1.0, 0.1), (None, 0.1)) == "—"


def test_a_report_with_missing_and_malformed_fields_still_compares():
    """What a hand-edited or truncated report may hold: no params, SLO checks that are
    not mappings or name no metric, no run id, no best trial id."""
    new = {"experiment": {"name": "x"}, "best_trial_id": "a",
           "objective": {"metric": "output_throughput", "direction": "maximize"},
           "slos": [{"metric": "ttft.p99", "max": 500}, {"metric": "tput", "min": 10}],
           "trials": [{"trial_id": "a", "params": None, "score": {
               "objective": 100.0,
               "slo_checks": ["junk", {"metric": 7, "value": 1.0},
                              {"metric": "tput", "value": 12.0}]}}]}
    old = {"best_trial_id": None, "trials": [{"trial_id": "b"}, "junk"]}
    text = compare.diff_text(old, new, a_label="main", b_label="pr")
    lines = text.splitlines()
    assert lines[0] == "### `x`: `?` vs `?`"
    assert "**Best configuration:** `a` — (engine defaults)" in lines
    assert "|---|--:|--:|--:|" in lines  # label, new, old, delta
    assert "| `tput` ≥ 10 (SLO) | 12.0 | — | — |" in lines  # a min SLO's bound
    assert not any("`7`" in ln or "junk" in ln for ln in lines)
    assert "Compared with main's latest report `?`: best vs best." in lines
    assert compare.best_trial({"trials": [{"trial_id": ""}]}) is None
    assert compare.best_trial({"best_trial_id": "", "trials": [{"trial_id": ""}]}) is None


def test_every_slo_of_the_best_gets_a_row_whatever_its_name():
    """Metric names sorting before "objective" (error_rate, e2e_latency.*) are rows too."""
    checks = [{"metric": m, "value": 1.0} for m in ("error_rate", "e2e_latency.p99", "tpot.p50")]
    new = {"best_trial_id": "a", "objective": {"metric": "m", "direction": "maximize"},
           "slos": [{"metric": c["metric"], "max": 5} for c in checks],
           "trials": [{"trial_id": "a", "score": {"objective": 1.0, "slo_checks": checks}}]}
    rows = [ln for ln in compare.comparison(new, None) if ln.startswith("| `")]
    assert [r.split("`")[1] for r in rows] == ["m", "error_rate", "e2e_latency.p99", "tpot.p50"]


def test_a_max_slo_is_labelled_with_its_bound():
    new = {"best_trial_id": "a", "objective": {"metric": "m", "direction": "maximize"},
           "slos": [{"metric": "ttft.p99", "max": 500}],
           "trials": [{"trial_id": "a", "params": {"p": 1}, "score": {
               "objective": 1.0, "slo_checks": [{"metric": "ttft.p99", "value": 100.0}]}}]}
    lines = compare.comparison(new, None)
    assert "| `ttft.p99` ≤ 500 (SLO) | 100.0 |" in lines
    assert "|---|--:|" in lines and "**Best configuration:** `a` — `p=1`" in lines


def test_half_width_never_mixes_a_keyed_bound_with_a_generic_one():
    """Only when neither `value_low` nor `value_high` is recorded do `low`/`high` stand in;
    one bound alone is no interval."""
    assert compare.half_width({"value_low": 1.0, "low": 5.0, "high": 9.0}, "value") is None
    assert compare.half_width({"objective_low": 1.0}, "objective") is None
    assert compare.half_width({"objective_high": 1.0}, "objective") is None


def test_a_report_without_an_objective_block_still_compares():
    new = {"best_trial_id": "a", "trials": [{"trial_id": "a", "score": {"objective": 2.0}}]}
    assert "| `?` (?, objective) | 2.00 |" in compare.comparison(new, None)
