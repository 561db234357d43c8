"""report.html: written beside report.md, self-contained, and really rendered by a browser
(Debian's headless Chromium): the Pareto chart and the ranked table are in the DOM after
the page's scripts ran, with no network. A screenshot is kept in the test's tmp folder."""

from __future__ import annotations

import json
import re

import pytest
from tuneops.runner.report import html, write_report

from tests.helpers.chromium import browse, console
from tests.runner.report_helpers import make_exp, make_results, telemetry_for

HOSTILE = "<script>document.title='pwned'</script>"


@pytest.fixture
def report(tmp_path):
    exp = make_exp()
    results = make_results(exp)
    results[0].telemetry = telemetry_for(0.5)
    results[1].telemetry = telemetry_for(0.99)
    results[1].reason = HOSTILE  # reasons, parameters, ids: report input, escaped
    results[1].params = {**results[1].params, "schedule-policy": HOSTILE}
    out = write_report(tmp_path / "reports" / exp.name / "run1", exp, results, run_id="run1",
                       manifests_root=tmp_path / "manifests")
    return out, results


def test_report_html_is_one_self_contained_file(report):
    out, results = report
    page = (out / "report.html").read_text()
    assert (out / "report.md").is_file()
    assert not re.search(r"<script[^>]+src=", page)  # plotly.js inlined, nothing fetched
    assert not re.search(r"<link[^>]+href=\"?https?:", page)
    assert HOSTILE not in page  # escaped, not injected
    assert 'id="load-chart"' not in page and "Latency under load" not in page  # no rates
    doc = json.loads((out / "results.json").read_text())
    assert html.render(doc) == page  # from results.json alone
    assert "KV cache saturated at 99 % from concurrency 1; 24 preemptions" in page


def test_chromium_renders_the_pareto_chart_and_the_table(report, tmp_path):
    out, results = report
    page = out / "report.html"
    dom = browse(page, tmp_path / "profile", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert console(dom) == []  # no script error, no warning
    text = dom.stdout
    # Plotly marks a div it has drawn with js-plotly-plot and fills it with its SVG
    pareto = text[text.index('id="pareto-chart"'):text.index('id="ranked"')]
    assert "js-plotly-plot" in pareto and "main-svg" in pareto
    completed = [r for r in results if r.status == "completed"]
    assert pareto.count('class="trace scatter') >= len(completed)  # one trace per trial
    assert "SLO ttft.p99" in pareto  # the SLO line's label
    rows = re.findall(r'<tr data-trial="([^"]+)"', text)
    assert rows == [r for r in json.loads((out / "results.json").read_text())
                    and [t["trial_id"] for t in json.loads((out / "results.json").read_text())
                         ["trials"]]]
    assert "<title>tuneops report: report-test</title>" in text  # no injected script ran
    assert 'id="telemetry-chart"' in text and text.count("js-plotly-plot") >= 3
    shot = tmp_path / "report.png"
    taken = browse(page, tmp_path / "profile2", "--hide-scrollbars", "--window-size=1400,2600",
                   f"--screenshot={shot}")
    assert taken.returncode == 0 and shot.stat().st_size > 10_000
    print(f"screenshot: {shot}")


def test_cost_vs_throughput_is_drawn_when_the_report_has_cost(report):
    out, _ = report
    doc = json.loads((out / "results.json").read_text())
    assert 'id="no-cost"' in html.render(doc)
    for t in doc["trials"]:
        for by_c in (t.get("metrics") or {}).values():
            for m in by_c.values():
                m["cost_per_million_output_tokens"] = 3.0 / max(m["output_throughput"], 1)
    page = html.render(doc)
    assert 'id="cost-plot"' in page and 'id="no-cost"' not in page
    assert '"xaxis":{"title":{"text":"output_throughput_per_gpu"}' in page.replace(" ", "")
