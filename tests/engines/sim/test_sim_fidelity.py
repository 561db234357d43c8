"""The performance model against published real measurements (issue 23, item 6).

Computed from the cited fixture (engines/sim/data/published_measurements.yaml) with the
committed calibration (engines/sim/data/calibration.json): the median absolute error of the
predictions and the rank correlation with the published numbers are asserted here, not just
printed by `make bench`.
"""

from __future__ import annotations

import json

import pytest
from scipy.stats import spearmanr
from tuneops.engines.sim import fidelity
from tuneops.engines.sim.perfmodel import CALIBRATION, Efficiency

MAX_MEDIAN_ABS_ERROR = 0.10  # issue 23: median absolute error <= 10 % before any run's fit
MIN_SPEARMAN = 0.95  # over all rows, as issue 23 measured the uncalibrated model (1.0)
MAX_ROW_ERROR = 0.20  # no single row off by more than this either way
# Within every metric the setups must rank exactly as measured, the two offline throughputs
# too (8B on A100 4,281 tok/s over 70B on 4xH100 3,856: one comparison, 11 % apart, that a
# fit which never moved the all-reduce's fixed cost reversed, 0.925x and 1.047x).


@pytest.fixture(scope="module")
def rows():
    return fidelity.load()


@pytest.fixture(scope="module")
def calibrated(rows):
    return fidelity.fidelity(rows)


def test_fixture_rows_cite_a_source_and_cover_the_setups(rows):
    assert len(rows) >= 12
    assert all(r.url.startswith("https://") and r.value > 0 for r in rows)
    assert {r.gpu for r in rows} >= {"H100", "H200", "A100-80G"}
    assert {(r.model, r.tp) for r in rows} == {("Llama-3.1-8B", 1), ("Llama-3.1-70B", 4)}
    assert {r.metric for r in rows} == fidelity.METRICS


def test_calibrated_model_is_within_ten_percent_and_ranks_setups_as_measured(calibrated):
    assert calibrated.median_abs_error <= MAX_MEDIAN_ABS_ERROR, fidelity.table(calibrated)
    assert calibrated.spearman >= MIN_SPEARMAN, fidelity.table(calibrated)
    assert set(calibrated.by_metric) == fidelity.METRICS  # each metric has 2+ rows to rank
    assert all(rho == pytest.approx(1.0) for rho in calibrated.by_metric.values()), \
        fidelity.table(calibrated)
    worst = max(abs(x - 1) for x in calibrated.ratios())
    assert worst <= MAX_ROW_ERROR, fidelity.table(calibrated)


def test_calibration_beats_the_uncalibrated_constants(rows, calibrated):
    before = fidelity.fidelity(rows, lambda gpu: Efficiency())
    assert calibrated.median_abs_error < before.median_abs_error


def test_committed_calibration_is_the_fit_of_this_fixture_and_model(rows, calibrated):
    """calibration.json records what its fit reached; a model or fixture change that is not
    followed by scripts/fit_sim_constants.py shows up here."""
    fit = json.loads(CALIBRATION.read_text())["fit"]
    assert fit["rows"] == len(rows)
    assert fit["median_abs_error"] == pytest.approx(calibrated.median_abs_error, abs=1e-3)
    assert fit["spearman"] == pytest.approx(calibrated.spearman, abs=1e-3)


def test_h200_over_h100_speed_up_matches_the_measured_one(calibrated):
    by_id = {r.id: p for r, p in calibrated.rows}
    measured = 997.542 / 834.059  # vLLM latency_llama8B_tp1, H100 over H200
    predicted = by_id["vllm-latency-8b-h100"] / by_id["vllm-latency-8b-h200"]
    assert predicted == pytest.approx(measured, rel=0.08)


def test_spearman_agrees_with_scipy():
    xs, ys = [3.0, 1.0, 2.0, 2.0, 5.0], [10.0, 2.0, 4.0, 3.0, 1.0]
    assert fidelity.spearman(xs, ys) == pytest.approx(spearmanr(xs, ys).statistic)
    assert fidelity.spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)


GOOD_ROW = """
rows:
  - {id: r1, source: {url: https://example.org/t}, gpu: H100, model: Llama-3.1-8B, tp: 1,
     workload: {kind: batch, batch: 8, input_len: 32, output_len: 128},
     metric: e2e_latency_ms, value: 900}
"""


@pytest.mark.parametrize("change, field", [
    (("https://example.org/t", "http://example.org/t"), "source.url"),
    (("source: {url: https://example.org/t}, ", ""), "source.url"),
    (("gpu: H100", "gpu: B300"), "gpu"),
    (("tp: 1", "tp: 0"), "tp"),
    (("kind: batch", "kind: replay"), "workload.kind"),
    (("batch: 8", "batch: -8"), "workload.batch"),
    (("metric: e2e_latency_ms", "metric: vibes"), "metric"),
    (("value: 900", "value: 0"), "value"),
    (("value: 900", "value: true"), "value"),
    (("tp: 1,", "tp: 1, flags: {disable_everything: true},"), "flags"),
])
def test_a_bad_fixture_row_is_refused_naming_the_row_and_field(tmp_path, change, field):
    path = tmp_path / "m.yaml"
    path.write_text(GOOD_ROW)
    assert [r.id for r in fidelity.load(path)] == ["r1"]
    path.write_text(GOOD_ROW.replace(*change))
    with pytest.raises(ValueError, match=f"row r1: {field}:"):
        fidelity.load(path)


def test_a_duplicate_row_id_is_refused(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(GOOD_ROW + GOOD_ROW.split("rows:")[1])
    with pytest.raises(ValueError, match="row r1: id: duplicate"):
        fidelity.load(path)
