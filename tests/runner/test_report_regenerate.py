"""`tuneops report REPORT_DIR`: every view rebuilt from results.json alone, identical to the
run's; a results.json that is not a tuneops report is refused (exit 2), nothing written."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import threading

import pytest
from prometheus_client.parser import text_string_to_metric_families
from tuneops.runner.report import write_report

from tests.runner.report_helpers import (
    make_exp,
    make_rate_exp,
    make_rate_results,
    make_results,
    telemetry_for,
)
from tuneops import spec
from tuneops.cli import main


def _written(tmp_path):
    exp = make_exp()
    results = make_results(exp)
    for i, r in enumerate(results):  # a report's trial ids are 12 hex digits (the loader)
        r.trial_id = f"{0xabc000 + i:012x}"
    results[1].telemetry = telemetry_for(0.99)  # the best
    out = write_report(tmp_path / "r" / exp.name / "run1", exp, results, run_id="run1",
                       manifests_root=None)
    return out


def test_report_rebuilds_every_view_from_results_json(tmp_path, capsys):
    out = _written(tmp_path)
    before = {n: (out / n).read_bytes() for n in ("report.md", "report.html", "results.json")}
    (out / "report.md").unlink()
    (out / "report.html").unlink()
    shutil.rmtree(out / "plots")
    assert main(["report", str(out), "--manifests", ""]) == 0
    for name, data in before.items():
        assert (out / name).read_bytes() == data, name
    assert sorted(p.name for p in (out / "plots").iterdir())  # the PNGs again
    assert "KV cache saturated at 99 %" in (out / "report.md").read_text()


def test_a_rate_report_rebuilds_as_a_rate_report(tmp_path):
    """results.json keeps benchmark.load; a rebuild that dropped it wrote the offered rates
    back as concurrency levels: no load charts, "at concurrency" in the headline, and a
    results.json without its load (seen on the sim-poisson example's report)."""
    exp = make_rate_exp()
    out = write_report(tmp_path / "r" / exp.name / "run1", exp, make_rate_results(exp),
                       run_id="run1", manifests_root=None)
    before = {n: (out / n).read_bytes() for n in ("report.md", "report.html", "results.json")}
    assert main(["report", str(out), "--manifests", ""]) == 0
    for name, data in before.items():
        assert (out / name).read_bytes() == data, name
    assert "## Under load" in (out / "report.md").read_text()


@pytest.mark.parametrize("load", [
    {"type": "rate", "rates": [1, 2.5], "arrival": "constant", "requests": 50},
    {"type": "rate", "rates": {"search": "capacity", "low": 2, "high": 32},
     "arrival": "poisson", "duration": "90s"},
    {"type": "rate", "rates": [4], "arrival": {"gamma": {"burstiness": 0.5}}, "requests": 10},
    {"type": "trace"},
])
def test_every_load_survives_its_record(load):
    """Load.as_dict (what results.json holds) read back through load_document is the Load
    the experiment declared, for every arrival process, bracket and stop rule."""
    declared = spec._load(load)
    assert spec._load(spec.load_document(declared.as_dict)) == declared


def test_a_report_written_before_telemetry_still_rebuilds(tmp_path):
    out = _written(tmp_path)
    doc = json.loads((out / "results.json").read_text())
    for t in doc["trials"]:
        t.pop("telemetry")
    doc["experiment"].pop("model")
    (out / "results.json").write_text(json.dumps(doc))
    assert main(["report", str(out), "--manifests", ""]) == 0
    assert "report.html" in os.listdir(out)
    assert "## Inside the engine" not in (out / "report.md").read_text()


def test_a_forged_results_json_is_refused_with_its_field(tmp_path, capsys):
    out = _written(tmp_path)
    md = (out / "report.md").read_text()
    doc = json.loads((out / "results.json").read_text())
    doc["trials"][0]["telemetry"][0]["series"]["kv_cache_usage"]["max"] = "<script>"
    (out / "results.json").write_text(json.dumps(doc))
    assert main(["report", str(out)]) == 2
    err = capsys.readouterr().err
    assert "results.json" in err and "trials[0].telemetry[0].series.kv_cache_usage.max" in err
    assert (out / "report.md").read_text() == md  # nothing rewritten


def test_a_symlinked_results_json_is_refused(tmp_path, capsys):
    out = _written(tmp_path)
    real = tmp_path / "elsewhere.json"
    (out / "results.json").rename(real)
    (out / "results.json").symlink_to(real)
    assert main(["report", str(out)]) == 2
    assert "is a symlink" in capsys.readouterr().err


class _Gateway(http.server.BaseHTTPRequestHandler):
    got: list[tuple[str, str, bytes]] = []

    def do_PUT(self):  # noqa: N802 - push_to_gateway PUTs the group
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.got.append((self.command, self.path, body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *a):
        pass


def test_pushgateway_gets_every_trial_by_its_labels(tmp_path, capsys):
    out = _written(tmp_path)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Gateway)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{srv.server_port}"
        assert main(["report", str(out), "--manifests", "", "--pushgateway", url]) == 0
    finally:
        srv.shutdown()
    method, path, body = _Gateway.got[-1]
    assert method == "PUT" and path == "/metrics/job/tuneops/experiment/report-test/run/run1"
    fams = {f.name: f for f in text_string_to_metric_families(body.decode())}
    ranks = {s.labels["trial"]: s.value for s in fams["tuneops_trial_rank"].samples}
    doc = json.loads((out / "results.json").read_text())
    assert ranks == {t["trial_id"]: t["rank"] for t in doc["trials"]}
    kv = [s for s in fams["tuneops_trial_telemetry_max"].samples
          if s.labels["series"] == "kv_cache_usage"]
    assert [s.value for s in kv] == [0.99]


def test_pushgateway_url_with_credentials_is_refused(tmp_path, capsys):
    out = _written(tmp_path)
    assert main(["report", str(out), "--manifests", "",
                 "--pushgateway", "http://user:pw@gw:9091"]) == 2
    err = capsys.readouterr().err
    assert "without credentials" in err and "pw" not in err
    assert main(["report", str(out), "--manifests", "",
                 "--pushgateway", "http://127.0.0.1:9"]) == 2  # nothing listens: exit 2
