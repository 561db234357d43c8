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
    assert stats.relative_half_width(sp) == math.inf


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
    """Busy processes that are not ours (own session, not reaped yet), one per CPU: the
    window counts them as others and flags it."""
    import os
    import subprocess
    import sys
    import time

    n = len(os.sched_getaffinity(0))
    before = hostload.snapshot()
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"],
                             start_new_session=True) for _ in range(n)]
    try:
        time.sleep(1.5)
        w = hostload.window(before, hostload.snapshot())
    finally:
        for h in hogs:
            h.kill()
            h.wait()
    assert w["others_cpu_share"] > hostload.OTHERS_SHARE_LIMIT and w["contended"] is True


def test_an_engine_we_cannot_count_does_not_read_as_contention():
    """A container's engine is not in our process groups: its CPU time lands in others'
    share, so only steal may flag such a window."""
    before = _snap([0] * 8, 0)
    after = _snap([600, 0, 80, 300, 0, 0, 0, 20], 200)
    assert hostload.window(before, after, engine_known=False)["contended"] is False
    stolen = _snap([600, 0, 80, 200, 0, 0, 0, 120], 200)
    assert hostload.window(before, stolen, engine_known=False)["contended"] is True
