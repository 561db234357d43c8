"""report.md and results.json carry goodput and what made a request good; a report
rebuilt from results.json shows the same, and a forged per-request bound is refused."""

from __future__ import annotations

import dataclasses
import json

from tuneops.runner.report import write_report

from tests.runner.report_helpers import make_exp, make_results
from tuneops.cli import main
from tuneops.metrics import GOOD_FRACTION, GOODPUT_OUTPUT_TOKENS, GOODPUT_REQUESTS, RequestSlo


def _written(tmp_path):
    exp = dataclasses.replace(make_exp(), request_slos=(RequestSlo("ttft", 250),
                                                        RequestSlo("tpot", 40)))
    results = make_results(exp)
    for i, r in enumerate(results):
        r.trial_id = f"{0xabc000 + i:012x}"
        for by_c in r.metrics.values():
            for m in by_c.values():
                m.update({GOODPUT_REQUESTS: 3.5, GOODPUT_OUTPUT_TOKENS: 35.0,
                          GOOD_FRACTION: 0.875})
    return write_report(tmp_path / "r" / exp.name / "run1", exp, results, run_id="run1",
                        manifests_root=None)


def test_report_shows_goodput_and_rebuilds_it(tmp_path):
    out = _written(tmp_path)
    doc = json.loads((out / "results.json").read_text())
    assert doc["request_slos"] == [{"metric": "ttft", "max": 250, "perRequest": True},
                                   {"metric": "tpot", "max": 40, "perRequest": True}]
    md = (out / "report.md").read_text()
    assert "**Goodput:** a request is good when it succeeded and its own `ttft ≤ 250 ms` " \
           "and `tpot ≤ 40 ms`" in md
    assert "good req/s" in md and "| 3.5 |" in md.replace("3.50", "3.5")
    (out / "report.md").unlink()
    assert main(["report", str(out), "--manifests", ""]) == 0
    assert (out / "report.md").read_text() == md


def test_a_forged_per_request_bound_is_refused(tmp_path, capsys):
    out = _written(tmp_path)
    doc = json.loads((out / "results.json").read_text())
    doc["request_slos"][0]["metric"] = "ttft.p99"
    (out / "results.json").write_text(json.dumps(doc))
    assert main(["report", str(out)]) == 2
    assert "request_slos" in capsys.readouterr().err
