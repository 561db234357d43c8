"""Goodput end to end: the simulator served, genai-bench measured, the report shows it.

One trial, two repeats: goodput comes from genai-bench's own individual_request_metrics,
carries an interval over the repeats, ranks trials as the objective, and report.md says
what a good request was.
"""

from __future__ import annotations

import pytest

from tests import e2e_helpers as h
from tuneops.metrics import GOOD_FRACTION, GOODPUT_OUTPUT_TOKENS, GOODPUT_REQUESTS

pytestmark = [pytest.mark.genai_bench, pytest.mark.slow]


def test_goodput_is_measured_with_an_interval_and_reported(tmp_path, marker):
    exp_path = h.write_experiment(
        tmp_path, "goodput",
        parameters={"max-running-requests": [8]},
        benchmark={"repeats": 2},
        objective={"metric": GOODPUT_OUTPUT_TOKENS, "direction": "maximize"},
        # loose enough that every request the simulator serves is good: goodput must then
        # equal genai-bench's own request rate, counted another way
        slos=[{"metric": "ttft", "max": 600000, "perRequest": True},
              {"metric": "e2e_latency", "max": 600000, "perRequest": True},
              {"metric": GOOD_FRACTION, "min": 0.5}])
    cli = h.Cli(exp_path, tmp_path, marker=marker)
    rc, out = cli.wait()
    assert rc == 0, cli.stderr()
    [report_dir] = (tmp_path / "reports" / "goodput").iterdir()
    doc = h.check_report(report_dir)
    assert doc["request_slos"] == [
        {"metric": "ttft", "max": 600000, "perRequest": True},
        {"metric": "e2e_latency", "max": 600000, "perRequest": True}]
    [trial] = doc["trials"]
    [(level, m)] = trial["metrics"]["D(32,32)"].items()
    assert m[GOOD_FRACTION] == 1.0
    assert m[GOODPUT_REQUESTS] == pytest.approx(m["requests_per_s"], rel=1e-6)
    assert m[GOODPUT_OUTPUT_TOKENS] == pytest.approx(m["output_throughput"], rel=1e-6)
    spread = trial["spread"]["D(32,32)"][level][GOODPUT_REQUESTS]
    assert spread["n"] == 2 and spread["method"] == "repeats"
    assert spread["low"] <= m[GOODPUT_REQUESTS] <= spread["high"]
    report = (report_dir / "report.md").read_text()
    assert "**Goodput:** a request is good when it succeeded and its own `ttft ≤ 600000 ms`" \
        in report
    assert "good req/s" in report and "good out tok/s" in report
    assert not h.marked(marker), "the run left processes behind"
