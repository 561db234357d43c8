"""Reports show load: an open-loop report draws latency and goodput against the offered rate
for its top configurations (intervals, SLO limits, each capacity marked) and the Pareto
chart across load; report.md gets the compact per-rate table and latency_vs_rate.png. The
input is fabricated, schema-valid results (tests/runner/report_helpers.py): no AIPerf."""

from __future__ import annotations

import copy
import json

import pytest
from tuneops.runner.report import html, rate_charts, write_report
from tuneops.runner.report.plots import RATE_FILE

from tests.helpers.chromium import browse, console
from tests.runner.report_helpers import (
    CAPACITIES,
    RATE_SCENARIO,
    RATES,
    make_rate_exp,
    make_rate_results,
)

HOSTILE = "<img src=x onerror=\"document.title='pwned'\">"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """Written once for the module (a report takes seconds); tests read copies."""
    exp = make_rate_exp()
    results = make_rate_results(exp)
    results[1].params = {"max-running-requests": HOSTILE}  # report input: escaped
    out = write_report(tmp_path_factory.mktemp("rates") / "reports" / exp.name / "run1", exp,
                       results, run_id="run1", manifests_root=None)
    return out, (out / "results.json").read_text()


@pytest.fixture
def written(report):
    out, text = report
    return out, json.loads(text)


def _shapes(fig, kind: str) -> list:
    return [s for s in fig.layout.shapes if s.type == kind]


def test_latency_chart_has_a_curve_per_top_trial_with_intervals_slos_and_capacities(written):
    _, doc = written
    fig = rate_charts.latency(doc)
    best = doc["trials"][0]
    assert best["trial_id"] == "000000feed00"  # ranked by max_slo_rate
    curves = [t for t in fig.data if t.name == f"#1 {best['trial_id']}"]
    assert len(curves) == len(rate_charts.LATENCY_PANELS)  # TTFT/TPOT p50/p99
    ttft99 = curves[1]  # panels in LATENCY_PANELS order
    by_rate = best["metrics"][RATE_SCENARIO]
    assert list(ttft99.x) == [float(r) for r in RATES]
    assert list(ttft99.y) == [by_rate[str(r)]["ttft.p99"] for r in RATES]
    spread = best["spread"][RATE_SCENARIO]["8"]["ttft.p99"]
    assert ttft99.error_y.array[-1] == pytest.approx(spread["high"] - by_rate["8"]["ttft.p99"])
    assert ttft99.error_y.arrayminus[-1] == pytest.approx(by_rate["8"]["ttft.p99"]
                                                         - spread["low"])
    # the SLO limits on their panels, each capacity dotted with its interval shaded
    assert sorted(s.y0 for s in _shapes(fig, "line") if s.line.dash == "dash") == [60, 500]
    caps = sorted({s.x0 for s in _shapes(fig, "line") if s.line.dash == "dot"})
    assert caps == sorted(CAPACITIES)
    rects = {(round(s.x0, 6), round(s.x1, 6)) for s in _shapes(fig, "rect")}
    assert (round(best["score"]["objective_low"], 6),
            round(best["score"]["objective_high"], 6)) in rects
    assert "#1: 6 [5.7, 6.3]" in fig.layout.title.text


def test_only_the_top_configurations_are_drawn(written):
    _, doc = written
    done = [t for t in doc["trials"] if t["status"] == "completed"]
    for k in range(3):  # three more measured trials, ranked below the rest
        doc["trials"].append({**copy.deepcopy(done[-1]), "rank": len(doc["trials"]) + 1,
                              "trial_id": f"{0xbeef00 + k:012x}"})
    names = {t.name for t in rate_charts.latency(doc).data}
    shown = sorted((t for t in doc["trials"] if t["status"] == "completed"),
                   key=lambda t: t["rank"])[:rate_charts.TOP]
    assert len(shown) == rate_charts.TOP
    assert names == {f"#{t['rank']} {t['trial_id']}" for t in shown}


def test_goodput_chart_follows_good_requests_and_says_when_there_are_none(written):
    _, doc = written
    fig = rate_charts.goodput(doc)
    worst = [t for t in fig.data if t.name.startswith("#3 ")][0]
    by_rate = doc["trials"][2]["metrics"][RATE_SCENARIO]
    assert list(worst.y) == [by_rate[str(r)]["goodput_requests_per_s"] for r in RATES]
    assert any(t.name == "every request good" for t in fig.data)
    for t in doc["trials"]:
        for m in (t.get("metrics") or {}).get(RATE_SCENARIO, {}).values():
            m.pop("goodput_requests_per_s")
    assert rate_charts.goodput(doc) is None
    assert 'id="no-goodput"' in html.render(doc)


def test_the_front_across_load_keeps_the_points_nothing_beats_on_both_axes():
    pts = [(100.0, 50.0), (150.0, 40.0), (200.0, 100.0), (300.0, 90.0), (90.0, 10.0)]
    assert rate_charts.front(pts) == [(90.0, 10.0), (100.0, 50.0), (200.0, 100.0)]


def test_pareto_across_load_outlines_the_front_of_every_trial_and_rate(written):
    _, doc = written
    fig = rate_charts.pareto(doc)
    traces = {t.name: t for t in fig.data}
    front = traces.pop("Pareto front across load")
    every = [(x, y) for t in traces.values() for x, y in zip(t.x, t.y, strict=True)]
    assert len(every) == len(RATES) * len(CAPACITIES)
    assert list(zip(front.x, front.y, strict=True)) == rate_charts.front(every)
    assert list(traces[f"#1 {doc['trials'][0]['trial_id']}"].text) == \
        [f"{r:g}/s" for r in RATES]


def test_report_md_has_the_compact_per_rate_table_and_the_rate_plot(written):
    out, doc = written
    md = (out / "report.md").read_text()
    section = md[md.index("## Under load"):md.index("## Plots")]
    ids = [t["trial_id"] for t in doc["trials"][:3]]
    assert f"| offered req/s | #1 `{ids[0]}` | #2 `{ids[1]}` | #3 `{ids[2]}` |" in section
    # trial #2 (capacity 3.5) holds ttft.p99 at 2 req/s and loses it at 4
    latency = section[:section.index("`goodput_requests_per_s`")]
    rows = {ln.split(" | ")[0].lstrip("| "): ln for ln in latency.splitlines()
            if ln.startswith("| ")}
    assert rows["2"].split(" | ")[2].endswith("✅") and rows["4"].split(" | ")[2].endswith("❌")
    assert "| **capacity** (max SLO req/s) | 6.00 ± 0.3 | 3.50 ± 0.175 | 1.50 ± 0.075 |" \
        in section
    assert "`goodput_requests_per_s` (good req/s)" in section
    assert f"![latency_vs_rate](plots/{RATE_FILE})" in md
    assert (out / "plots" / RATE_FILE).stat().st_size > 10_000
    assert "at rate" in md and "max feasible rate" in md


def test_chromium_renders_the_load_charts_without_console_errors(written, tmp_path):
    out, doc = written
    page = out / "report.html"
    assert HOSTILE not in page.read_text()
    dom = browse(page, tmp_path / "profile", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert console(dom) == []  # no script error, no warning
    text = dom.stdout
    assert "<title>tuneops report: rate-report</title>" in text  # nothing injected ran

    def drawn(div: str) -> str:
        start = text.index(f'id="{div}"')
        return text[start:text.index("<h2>", start)]

    load = drawn("load-chart")
    assert "js-plotly-plot" in load and "main-svg" in load  # Plotly drew it
    done = len(CAPACITIES)
    assert load.count('class="trace scatter') >= done * len(rate_charts.LATENCY_PANELS)
    assert "SLO ttft.p99 ≤ 500" in load and "SLO tpot.p99 ≤ 60" in load
    for div in ("goodput-chart", "load-pareto-chart"):
        assert "main-svg" in drawn(div)
    assert "SLO ttft.p99 ≤ 500" in drawn("load-pareto-chart")
