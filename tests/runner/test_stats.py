"""Spread of measurements: intervals over repeats, bootstrapped percentiles, host load."""

from __future__ import annotations

import math

import numpy as np
import pytest
from tuneops.runner import hostload, stats

from tuneops.metrics import min_requests


def test_mean_interval_is_student_t_over_repeats():
    sp = stats.mean_interval([100.0, 110.0, 90.0])
    sd = 10.0  # sample standard deviation of 90, 100, 110
    assert sp.mean == pytest.approx(100.0)
    assert sp.half_width == pytest.approx(4.303 * sd / math.sqrt(3))  # t(0.975, df=2)
    assert (sp.n, sp.method) == (3, "repeats")


def test_one_measurement_has_no_interval():
    sp = stats.mean_interval([42.0])
    assert (sp.mean, sp.low, sp.high, sp.half_width, sp.method) == (42.0, None, None, None,
                                                                     "single")


def test_percentile_bootstrap_is_seeded_and_brackets_the_value():
    rng = np.random.default_rng(7)
    records = list(rng.exponential(100.0, size=400))
    a = stats.percentile_interval(records, 99)
    b = stats.percentile_interval(records, 99)
    assert a == b  # reproducible reports
    assert a.mean == pytest.approx(float(np.percentile(records, 99)))
    assert a.low <= a.mean <= a.high and a.half_width > 0
    assert (a.n, a.method) == (400, "bootstrap")
    # more requests, narrower interval
    wide = stats.percentile_interval(records[:50], 90)
    narrow = stats.percentile_interval(records, 90)
    assert narrow.half_width < wide.half_width


def test_summarize_pools_requests_for_percentiles_and_averages_the_rest():
    reps = [{"output_throughput": 100.0, "ttft.p50": 11.0, "num_completed_requests": 3},
            {"output_throughput": 120.0, "ttft.p50": 13.0, "num_completed_requests": 3}]
    records = {"ttft": [10.0, 11.0, 12.0, 12.0, 13.0, 14.0]}
    values, spreads = stats.summarize_point(reps, records)
    assert values["output_throughput"] == pytest.approx(110.0)
    assert spreads["output_throughput"].method == "repeats"
    assert values["ttft.p50"] == pytest.approx(12.0)  # the pooled requests' median
    assert spreads["ttft.p50"].method.startswith("bootstrap")
    assert spreads["ttft.p50"].n == 6


def test_records_missing_requests_are_not_used():
    """A trimmed file (fewer records than completed requests) would move the percentile."""
    reps = [{"ttft.p99": 50.0, "num_completed_requests": 28}]
    values, spreads = stats.summarize_point(reps, {"ttft": [1.0, 2.0, 3.0]})
    assert values["ttft.p99"] == 50.0 and spreads["ttft.p99"].method == "single"


@pytest.mark.parametrize(("stat", "need"), [("p99", 100), ("p95", 20), ("p90", 10),
                                            ("p50", 2), ("mean", 2)])
def test_requests_a_percentile_needs(stat, need):
    assert min_requests(stat) == need


def _snap(cpu, ours, load=1.0):
    return {"cpu": cpu, "loadavg_1m": load, "ours": ours, "ncpu": 2}


def test_host_load_window_splits_ours_from_others():
    # 1000 ticks in all: 300 idle, 20 steal, 680 busy of which 200 ours -> 480 others
    before = _snap([0, 0, 0, 0, 0, 0, 0, 0], 0)
    after = _snap([600, 0, 80, 300, 0, 0, 0, 20], 200)
    w = hostload.window(before, after)
    assert w["steal_fraction"] == pytest.approx(0.02)
    assert w["others_cpu_share"] == pytest.approx(0.48)
    assert w["ours_cpu_share"] == pytest.approx(0.2)
    assert w["contended"] is True


def test_quiet_host_is_not_contended():
    w = hostload.window(_snap([0] * 8, 0), _snap([190, 0, 10, 800, 0, 0, 0, 0], 190))
    assert w["others_cpu_share"] == pytest.approx(0.01) and w["contended"] is False


def test_snapshot_reads_this_machine():
    s = hostload.snapshot()
    assert len(s["cpu"]) >= 8 and s["ours"] > 0 and s["ncpu"] >= 1


def test_a_real_cpu_hog_reads_as_contention():
    """A busy process that is not ours (own session, not reaped yet): the window counts it
    as others and flags it. Polled until the window says so (a deadline bounds a hang)."""
    import subprocess
    import sys

    from tests.helpers.polling import wait_until

    before = hostload.snapshot()
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
    try:
        w = wait_until(lambda: (lambda w: w if w["contended"] else None)(
            hostload.window(before, hostload.snapshot())), timeout=60, interval=0.2,
            what="a CPU hog reading as contention")
    finally:
        hog.kill()
        hog.wait()
    assert w["others_cpu_share"] > hostload.OTHERS_SHARE_LIMIT


def test_an_engine_we_cannot_count_does_not_read_as_contention():
    """A container's engine is not in our process groups: its CPU time lands in others'
    share, so only steal may flag such a window."""
    before = _snap([0] * 8, 0)
    after = _snap([600, 0, 80, 300, 0, 0, 0, 20], 200)
    assert hostload.window(before, after, engine_known=False)["contended"] is False
    stolen = _snap([600, 0, 80, 200, 0, 0, 0, 120], 200)
    assert hostload.window(before, stolen, engine_known=False)["contended"] is True


# ------------------------------------------------- against an independent reference (scipy)


@pytest.mark.parametrize("df", [*range(1, 41), 60, 120, 1000])
def test_t_quantile_matches_scipy(df):
    """The interval's multiplier is Student's two-sided 95 % quantile at every df, including
    beyond the table (1.96 there would understate a 40-repeat interval by 3 %)."""
    sst = pytest.importorskip("scipy.stats")
    # the table is rounded to 3 decimals; the expansion beyond it is within 1e-4
    tolerance = 5e-4 if df <= 30 else 1e-4
    assert stats.t_quantile(df) == pytest.approx(float(sst.t.ppf(0.975, df)), abs=tolerance)


@pytest.mark.parametrize("values", [[100.0, 110.0, 90.0], [1.0, 1.5], list(range(40)),
                                    [5.0, 5.0, 5.0, 5.1]])
def test_mean_interval_matches_scipy_t_interval(values):
    sst = pytest.importorskip("scipy.stats")
    sp = stats.mean_interval(values)
    lo, hi = sst.t.interval(0.95, len(values) - 1, loc=np.mean(values),
                            scale=sst.sem(values))
    assert (sp.low, sp.high) == (pytest.approx(lo, rel=1e-3), pytest.approx(hi, rel=1e-3))


@pytest.mark.parametrize(("q", "n"), [(50, 101), (90, 40), (99, 400)])
def test_percentile_interval_matches_scipy_bootstrap(q, n):
    """The percentile and its percentile-bootstrap interval, against numpy and scipy's own
    bootstrap drawing the same seeded resamples: a one-sided alpha (a 90 % interval
    labelled 95 %) or another percentile rule would move the bounds."""
    sst = pytest.importorskip("scipy.stats")
    x = np.random.default_rng(q).exponential(100.0, size=n)
    sp = stats.percentile_interval(list(x), q)
    ref = sst.bootstrap((x,), lambda a, axis: np.percentile(a, q, axis=axis),
                        n_resamples=stats.BOOTSTRAP_RESAMPLES, method="percentile",
                        confidence_level=0.95, vectorized=True,
                        random_state=np.random.default_rng(stats.BOOTSTRAP_SEED))
    assert sp.mean == pytest.approx(float(np.percentile(x, q)))
    # the value itself is always inside: the bounds are widened to it when the bootstrap
    # distribution misses it
    assert sp.low == pytest.approx(min(ref.confidence_interval.low, sp.mean))
    assert sp.high == pytest.approx(max(ref.confidence_interval.high, sp.mean))


def _covers_about_95(hits: int, runs: int) -> bool:
    """A 95 % interval's coverage over `runs` seeded draws: within 3.5 binomial standard
    deviations of 0.95."""
    sd = math.sqrt(0.95 * 0.05 / runs)
    return abs(hits / runs - 0.95) <= 3.5 * sd


def test_repeat_intervals_cover_the_true_mean_95_percent_of_the_time():
    rng = np.random.default_rng(11)
    runs, hits, hits_90 = 4000, 0, 0
    for _ in range(runs):
        x = rng.normal(100.0, 10.0, size=4)
        sp = stats.mean_interval(list(x))
        hits += sp.low <= 100.0 <= sp.high
        # the same interval built with the one-sided quantile t(0.95) is a 90 % interval
        half = 2.353 * np.std(x, ddof=1) / 2  # t(0.95, df=3) * sd / sqrt(4)
        hits_90 += abs(x.mean() - 100.0) <= half
    assert _covers_about_95(hits, runs), hits / runs
    assert not _covers_about_95(hits_90, runs), hits_90 / runs  # the check can tell


def test_bootstrap_percentile_intervals_cover_about_95_percent():
    """The median of 101 normal requests: the seeded percentile bootstrap covers the true
    median about 95 % of the time; the one-sided alpha (5 %/95 % quantiles) does not."""
    rng = np.random.default_rng(5)
    runs, hits, hits_90 = 600, 0, 0
    for _ in range(runs):
        x = rng.normal(0.0, 1.0, size=101)
        sp = stats.percentile_interval(list(x), 50, seed=int(rng.integers(1 << 30)))
        hits += sp.low <= 0.0 <= sp.high
        boot = np.percentile(x[np.random.default_rng(1).integers(0, 101, (400, 101))], 50,
                             axis=1)
        lo, hi = np.quantile(boot, [0.05, 0.95])
        hits_90 += lo <= 0.0 <= hi
    assert _covers_about_95(hits, runs), hits / runs
    assert not _covers_about_95(hits_90, runs), hits_90 / runs


def _point(ttft_p50s, records):
    reps = [{"ttft.p50": v, "num_completed_requests": len(records) / len(ttft_p50s)}
            for v in ttft_p50s]
    return stats.summarize_point(reps, {"ttft": records})[1]["ttft.p50"]


def test_wider_of_two_keeps_the_repeats_when_they_disagree_more():
    """Repeats 10 vs 30 ms (t-interval half-width ~127 ms) over requests that agree closely:
    the repeats' width is kept, centred on the pooled percentile."""
    records = [20.0 + 0.01 * i for i in range(100)]
    sp = _point([10.0, 30.0], records)
    repeats = stats.mean_interval([10.0, 30.0]).half_width
    assert sp.method == "bootstrap+repeats"
    assert sp.half_width == pytest.approx(repeats)
    assert sp.mean == pytest.approx(float(np.percentile(records, 50)))
    assert sp.n == 100


def test_wider_of_two_keeps_the_bootstrap_when_requests_disagree_more():
    records = list(np.random.default_rng(3).exponential(100.0, size=100))
    boot = stats.percentile_interval(records, 50)
    sp = _point([70.0, 70.1], records)  # repeats agree within 0.1 ms
    assert stats.mean_interval([70.0, 70.1]).half_width < boot.half_width
    assert sp == boot  # untouched: the bootstrap's own bounds and method


def test_records_are_trimmed_per_field():
    """A field with fewer records than completed requests is never bootstrapped, even when
    another field is complete (its percentile would move)."""
    reps = [{"ttft.p50": 5.0, "tpot.p50": 7.0, "num_completed_requests": 4},
            {"ttft.p50": 6.0, "tpot.p50": 8.0, "num_completed_requests": 4}]
    complete = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
    _, spreads = stats.summarize_point(reps, {"ttft": complete, "tpot": [1.0, 2.0]})
    assert spreads["tpot.p50"].method == "repeats"
    assert spreads["tpot.p50"].mean == pytest.approx(7.5)
    _, both = stats.summarize_point(reps, {"ttft": complete, "tpot": complete})
    assert both["tpot.p50"].method.startswith("bootstrap")


def test_missing_and_non_finite_repeats_are_left_out():
    sp = stats.mean_interval([None, 100.0, float("nan"), 110.0, float("inf"), 90.0])
    assert (sp.n, sp.mean) == (3, pytest.approx(100.0))
    with pytest.raises(ValueError):
        stats.mean_interval([None, float("nan")])


def test_one_repeat_with_its_requests_keeps_the_bootstrap_interval():
    """One repeat has no repeat interval: the pooled requests' bootstrap stands alone."""
    records = [float(v) for v in range(1, 101)]
    sp = _point([50.0], records)
    assert sp == stats.percentile_interval(records, 50)
    assert sp.method == "bootstrap" and sp.half_width > 0


def test_summarize_covers_every_scenario_and_level_and_skips_empty_ones():
    samples = {"A": {1: [{"x": 1.0}, {"x": 3.0}], 4: []},
               "B": {2: [{"ttft.p50": 9.0, "num_completed_requests": 3}]}}
    records = {"B": {2: {"ttft": [8.0, 9.0, 10.0]}}}
    metrics, spread = stats.summarize(samples, records)
    assert metrics == {"A": {1: {"x": 2.0}},
                       "B": {2: {"ttft.p50": 9.0, "num_completed_requests": 3.0}}}
    assert spread["A"][1]["x"].method == "repeats"
    assert spread["B"][2]["ttft.p50"].method == "bootstrap"  # its own records, found
    assert stats.summarize({}) == ({}, {})


def test_missing_and_non_finite_requests_are_left_out_of_a_percentile():
    sp = stats.percentile_interval([None, 1.0, float("nan"), 2.0, 3.0], 50)
    assert (sp.mean, sp.n) == (2.0, 3)


def test_a_mean_is_never_bootstrapped_even_with_records():
    reps = [{"ttft.mean": 10.0, "num_completed_requests": 2},
            {"ttft.mean": 12.0, "num_completed_requests": 2}]
    _, spreads = stats.summarize_point(reps, {"ttft": [9.0, 11.0, 11.0, 13.0]})
    assert spreads["ttft.mean"].method == "repeats"


def test_an_interval_missing_either_bound_has_no_half_width():
    """Rule: a half width needs both bounds; one missing is an unknown spread, not a number."""
    assert stats.Spread(1.0, 0.5, None, 2, "repeats").half_width is None
    assert stats.Spread(1.0, None, 1.5, 2, "repeats").half_width is None
    assert stats.Spread(1.0, 0.5, 1.5, 2, "repeats").half_width == 0.5


def test_one_request_is_a_single_measurement_of_n_one():
    """Rule: `n` counts the requests pooled for a percentile, so one request is n = 1."""
    sp = stats.percentile_interval([5.0, float("nan")], 99)
    assert (sp.mean, sp.low, sp.high, sp.n, sp.method) == (5.0, None, None, 1, "single")


def test_no_degrees_of_freedom_is_an_error_not_a_table_entry():
    """Rule: df < 1 (fewer than two repeats) has no t quantile; it never reads the table
    from its end."""
    for df in (0, -1):
        with pytest.raises(ValueError):
            stats.t_quantile(df)


def test_a_metric_whose_repeats_are_no_numbers_has_no_value():
    """Rule: a metric is summarized from its finite numeric repeats only; one with none
    (every repeat NaN, infinite, or not a number at all) is left out, not an error."""
    values, spreads = stats.summarize_point(
        [{"x": float("nan"), "y": "fast", "z": 2.0}, {"x": float("inf"), "y": "slow", "z": 4.0}],
        None)
    assert values == {"z": 3.0} and set(spreads) == {"z"}


def test_summarize_without_any_records_uses_the_repeats():
    """Rule: no request records at all (older genai-bench output) leaves every metric,
    percentiles included, to its repeats."""
    samples = {"A": {1: [{"ttft.p50": 9.0}, {"ttft.p50": 11.0}]}}
    metrics, spread = stats.summarize(samples)
    assert metrics == {"A": {1: {"ttft.p50": 10.0}}}
    assert spread["A"][1]["ttft.p50"].method == "repeats"
    # records of another scenario only: this one still summarizes from its repeats
    _, spread = stats.summarize(samples, {"B": {1: {"ttft": [1.0, 2.0]}}})
    assert spread["A"][1]["ttft.p50"].method == "repeats"


# ------------------------------------------------- session 30: the full sweep's survivors


def test_an_empty_level_does_not_stop_the_others():
    """Rule: a level with no repeats is left out, and every level after it is still
    summarized (in whatever order the levels come)."""
    samples = {"A": {4: [], 1: [{"x": 1.0}, {"x": 3.0}]}}
    metrics, spread = stats.summarize(samples)
    assert metrics == {"A": {1: {"x": 2.0}}} and spread["A"][1]["x"].n == 2


def test_records_with_nothing_finite_are_refused():
    """Rule: a percentile needs at least one finite record; none is an error, never numpy's
    answer for an empty array."""
    for records in ([], [None, float("nan"), float("inf")]):
        with pytest.raises(ValueError, match="no records"):
            stats.percentile_interval(records, 99)


def test_one_repeat_is_one_measurement():
    """Rule: `n` counts repeats: a single one is n = 1 (never 0, never 2)."""
    sp = stats.mean_interval([42.0])
    assert (sp.n, sp.method) == (1, "single")


def test_the_default_bootstrap_is_the_documented_one():
    """Rule: reports are reproducible across versions: the default interval is a percentile
    bootstrap of 1000 resamples drawn by numpy's default generator seeded 0, computed here
    independently of runner.stats."""
    # 200 distinct records and the median: 999 or 1001 resamples move the lower bound
    records = list(np.random.default_rng(11).exponential(100.0, size=200))
    x = np.asarray(records)
    idx = np.random.default_rng(0).integers(0, x.size, size=(1000, x.size))
    boot = np.percentile(x[idx], 50, axis=1)
    lo, hi = np.quantile(boot, [0.025, 0.975])
    sp = stats.percentile_interval(records, 50)
    # to the last bits (numpy may sum in another order); 999 resamples move it by 1e-4
    assert (sp.low, sp.high) == pytest.approx((float(lo), float(hi)), rel=1e-12, abs=0)


def test_a_spread_cannot_change_once_made():
    """Rule: a Spread is a value: the spread map, the score and the report share one object,
    so none of them may change it for the others."""
    import dataclasses

    sp = stats.mean_interval([1.0, 2.0])
    with pytest.raises(dataclasses.FrozenInstanceError):
        sp.low = 0.0


def test_agreeing_repeats_do_not_relabel_an_equally_narrow_bootstrap():
    """Rule: the repeats widen a bootstrap interval only when they disagree MORE than the
    requests do; identical repeats over identical requests (both widths 0) keep the
    bootstrap as it is."""
    sp = _point([20.0, 20.0], [20.0] * 10)
    assert (sp.low, sp.high, sp.method) == (20.0, 20.0, "bootstrap")


def test_one_pooled_request_under_disagreeing_repeats_is_not_a_crash():
    """Rule: a pooled percentile of a single request has no interval, so there is no width to
    compare with the repeats': the pooled value stands, without an interval."""
    reps = [{"ttft.p99": 4.0}, {"ttft.p99": 6.0}]  # no completed counts: nothing trimmed
    _, spreads = stats.summarize_point(reps, {"ttft": [5.0]})
    sp = spreads["ttft.p99"]
    assert (sp.mean, sp.low, sp.high, sp.n, sp.method) == (5.0, None, None, 1, "single")


def test_a_repeat_without_a_completed_count_claims_no_requests():
    """Rule: records are trimmed when fewer than the requests the repeats report completed;
    a repeat that reports no count adds none (not one): 3 completed + a silent repeat over
    2 records is trimmed, and a silent repeat alone over 1 record is not."""
    trimmed = [{"ttft.p50": 5.0, "num_completed_requests": 3}, {"ttft.p50": 6.0}]
    _, spreads = stats.summarize_point(trimmed, {"ttft": [5.0, 6.0]})
    assert spreads["ttft.p50"].method == "repeats"
    silent = [{"ttft.p50": 5.0}, {"ttft.p50": 6.0}]
    _, spreads = stats.summarize_point(silent, {"ttft": [5.0]})
    assert spreads["ttft.p50"].method == "single"  # the one record, pooled


def test_more_records_than_completed_requests_are_not_a_trimmed_file():
    """Rule: only fewer records than completed requests mark a file trimmed; more (a request
    recorded that the count left out) are still pooled."""
    reps = [{"ttft.p50": 5.0, "num_completed_requests": 2},
            {"ttft.p50": 6.0, "num_completed_requests": 2}]
    _, spreads = stats.summarize_point(reps, {"ttft": [4.0, 5.0, 5.5, 6.0, 7.0]})
    assert spreads["ttft.p50"].method.startswith("bootstrap") and spreads["ttft.p50"].n == 5


def test_up_to_30_degrees_of_freedom_the_printed_table_is_used():
    """Rule: df 1..30 take the printed table's value, scipy's quantile rounded to 3 decimals,
    exactly (the expansion is not used at 30, where it is 3e-4 off)."""
    sst = pytest.importorskip("scipy.stats")
    for df in range(1, 31):
        assert stats.t_quantile(df) == round(float(sst.t.ppf(0.975, df)), 3), df


@pytest.mark.parametrize("df", [31, 35, 40, 60, 120, 1000])
def test_the_expansion_beyond_the_table_is_second_order(df):
    """Rule: beyond the table the Cornish-Fisher expansion is carried to second order, so
    its error against scipy falls as 1/df^3: within 1e-4 at 31 and 3e-9 at 1000. A wrong
    first- or second-order coefficient leaves an error falling only as 1/df or 1/df^2."""
    sst = pytest.importorskip("scipy.stats")
    error = abs(stats.t_quantile(df) - float(sst.t.ppf(0.975, df)))
    assert error <= 1e-4 * (31 / df) ** 3
