"""Goodput read from genai-bench's own result files (individual_request_metrics)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from tuneops.runner import bench

from tests.paths import TESTS
from tuneops.metrics import GOOD_FRACTION, GOODPUT_OUTPUT_TOKENS, GOODPUT_REQUESTS, RequestSlo

FIXTURES = TESTS / "fixtures" / "genai_bench"


def _raw(folder: str, pattern: str) -> dict:
    return json.loads(next((FIXTURES / folder).glob(pattern)).read_text())


def _whole(tmp_path, folder: str) -> Path:
    """The fixture folder with each file's counts made those of the requests it keeps (the
    fixtures trim individual_request_metrics to three; genai-bench writes every one)."""
    out = tmp_path / folder
    shutil.copytree(FIXTURES / folder, out)
    for path in out.glob("*_time_*.json"):
        data = json.loads(path.read_text())
        reqs, agg = data["individual_request_metrics"], data["aggregated_metrics"]
        agg["num_error_requests"] = sum(r["error_code"] is not None for r in reqs)
        agg["num_completed_requests"] = len(reqs) - agg["num_error_requests"]
        path.write_text(json.dumps(data))
    return out


def test_goodput_counts_the_requests_of_the_file_within_every_limit(tmp_path):
    raw = _raw("ok", "D20_10_*_2_time_*.json")
    reqs = raw["individual_request_metrics"]
    ttfts = sorted(r["ttft"] * 1000 for r in reqs)  # seconds in the file
    limit = ttfts[len(ttfts) // 2]  # the median request: about half are good
    good = [r for r in reqs if r["ttft"] * 1000 <= limit]
    assert 0 < len(good) < len(reqs)
    folder = _whole(tmp_path, "ok")
    out = bench.parse_results(folder, request_slos=(RequestSlo("ttft", limit),))
    got = out.metrics["D(20,10)"][2]
    duration = raw["aggregated_metrics"]["run_duration"]
    assert got[GOODPUT_REQUESTS] == pytest.approx(len(good) / duration)
    assert got[GOODPUT_OUTPUT_TOKENS] == pytest.approx(
        sum(r["num_output_tokens"] for r in good) / duration)
    assert got[GOOD_FRACTION] == pytest.approx(len(good) / len(reqs))
    # every request good: goodput is genai-bench's own request rate
    loose = bench.parse_results(folder, request_slos=(RequestSlo("ttft", 1e9),))
    all_good = loose.metrics["D(20,10)"][2]
    assert all_good[GOODPUT_REQUESTS] == pytest.approx(len(reqs) / duration)
    assert all_good[GOOD_FRACTION] == 1.0


def test_ms_files_are_judged_in_ms_too(tmp_path):
    raw = _raw("ms", "D20_*.json")
    limit = max(r["ttft"] for r in raw["individual_request_metrics"])  # already ms
    out = bench.parse_results(_whole(tmp_path, "ms"), request_slos=(RequestSlo("ttft", limit),))
    assert out.metrics["D(20,10)"][1][GOOD_FRACTION] == 1.0


def test_bad_day_failed_requests_are_never_good(tmp_path):
    """A run where the server answered some requests with 503: however loose the limits,
    the failed ones do not count."""
    raw = _raw("errors", "D20_*.json")
    reqs = raw["individual_request_metrics"]
    failed = sum(r["error_code"] is not None for r in reqs)
    assert failed > 0
    slos = (RequestSlo("ttft", 1e9), RequestSlo("tpot", 1e9), RequestSlo("e2e_latency", 1e9))
    got = bench.parse_results(_whole(tmp_path, "errors"), request_slos=slos
                              ).metrics["D(20,10)"][2]
    assert got[GOOD_FRACTION] == pytest.approx((len(reqs) - failed) / len(reqs))
    assert got[GOODPUT_REQUESTS] == pytest.approx(
        (len(reqs) - failed) / raw["aggregated_metrics"]["run_duration"])


def test_no_per_request_slo_no_goodput():
    got = bench.parse_results(FIXTURES / "ok").metrics["D(20,10)"][2]
    assert GOODPUT_REQUESTS not in got and GOOD_FRACTION not in got


def test_bad_day_a_file_missing_requests_gives_no_goodput():
    """The committed fixtures keep 3 of each run's requests: a goodput from them would be a
    sample passed off as the rate, so none is given (the other metrics still are)."""
    out = bench.parse_results(FIXTURES / "ok", request_slos=(RequestSlo("ttft", 1e9),))
    got = out.metrics["D(20,10)"][2]
    assert got["num_requests"] > len(_raw("ok", "D20_10_*_2_time_*.json")
                                     ["individual_request_metrics"])
    assert GOODPUT_REQUESTS not in got and "output_throughput" in got
