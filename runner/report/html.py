"""report.html: the interactive report beside report.md, one self-contained file.

Built from the results.json document alone (so `tuneops report` rebuilds it for any stored
report). Plotly draws the charts (runner/report/html_charts.py; an open-loop run's load
charts: rate_charts.py); plotly.js is vendored from the `plotly` package and inlined once
(``include_plotlyjs=True``), so the file opens with no network. The ranked table filters
by text and by feasibility with a few lines of inline script. Every string from the report
(parameters, reasons, trial ids) is escaped by Jinja's autoescaping: a report is input
like any other.
"""

from __future__ import annotations

from typing import Any

import plotly.io as pio
from jinja2 import Environment, StrictUndefined
from tuneops.runner.report import html_charts, rate_charts
from tuneops.runner.telemetry.explain import saturation

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>tuneops report: {{ name }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
.banner { background: #fde2e1; border: 2px solid #c00; padding: .6em; font-weight: bold; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: right; }
th { background: #f3f3f3; cursor: default; } td.l { text-align: left; }
tr.tie td { background: #fff7d6; } tr.infeasible td { color: #888; }
.note { color: #555; }
</style></head><body>
{% if simulated %}<p class="banner" id="simulated">SIMULATED: every number comes from the
tuneops engine simulator (a performance model), never from real hardware.</p>{% endif %}
<h1>tuneops report: {{ name }}</h1>
<p>Run <code>{{ run_id }}</code> · objective: {{ direction }} <code>{{ objective }}</code> ·
best: <code>{{ best or "none" }}</code> · tie set: {{ ties|join(", ") or "—" }}</p>
{% if saturation %}<p id="saturation"><b>Inside the engine (best trial):</b>
{{ saturation }}</p>{% endif %}
<h2>Pareto chart</h2><div id="pareto-chart">{{ pareto|safe }}</div>
<h2>Ranked trials</h2>
<p><input id="filter" placeholder="filter: parameter, id, status" size="40">
<label><input type="checkbox" id="feasible-only"> feasible only</label></p>
<table id="ranked"><thead><tr><th>#</th><th>trial</th>
{% for p in params %}<th>{{ p }}</th>{% endfor %}<th>status</th><th>{{ objective }}</th>
<th>95 % interval</th><th>{{ "at rate" if rate else "at conc." }}</th>
<th>saturating resource</th></tr></thead><tbody>
{% for r in rows %}<tr data-trial="{{ r.id }}" data-feasible="{{ r.feasible }}"
 class="{{ r.cls }}"><td>{{ r.rank }}</td><td class="l"><code>{{ r.id }}</code></td>
{% for v in r.params %}<td>{{ v }}</td>{% endfor %}<td class="l">{{ r.status }}</td>
<td>{{ r.objective }}</td><td>{{ r.interval }}</td><td>{{ r.level }}</td>
<td class="l">{{ r.saturation }}</td></tr>
{% endfor %}</tbody></table>
<h2>Per-trial curves</h2><div id="curves-chart">{{ curves|safe }}</div>
{% if rate %}<h2>Latency under load</h2>
<p class="note">The top {{ top }} configurations at each offered rate (95 % intervals as
error bars); red: the SLO limits; dotted, in each trial's colour: its capacity
(max_slo_rate), its interval shaded.</p>
{% if load %}<div id="load-chart">{{ load|safe }}</div>{% else %}<p class="note">No trial
was measured.</p>{% endif %}
<h2>Goodput under load</h2>{% if goodput %}<div id="goodput-chart">{{ goodput|safe }}</div>
{% else %}<p class="note" id="no-goodput">No goodput in this report: set
<code>slos[].perRequest</code> to count the requests that met their own limits.</p>{% endif %}
<h2>Pareto across load</h2>{% if load_pareto %}<div id="load-pareto-chart">
{{ load_pareto|safe }}</div>{% else %}<p class="note">No throughput and latency measured at
the same rates.</p>{% endif %}
{% endif %}
<h2>Engine telemetry</h2>{% if telemetry %}<div id="telemetry-chart">{{ telemetry|safe }}</div>
{% else %}<p class="note">No engine telemetry in this report.</p>{% endif %}
<h2>Cost</h2>{% if cost %}<div id="cost-chart">{{ cost|safe }}</div>
{% else %}<p class="note" id="no-cost">No cost in this report: set GPU prices to compare
configurations by cost per million tokens.</p>{% endif %}
<script>
(function () {
  var box = document.getElementById("filter"), only = document.getElementById("feasible-only");
  function apply() {
    var q = box.value.toLowerCase();
    document.querySelectorAll("#ranked tbody tr").forEach(function (tr) {
      var ok = tr.textContent.toLowerCase().indexOf(q) >= 0 &&
               (!only.checked || tr.dataset.feasible === "true");
      tr.style.display = ok ? "" : "none";
    });
  }
  box.addEventListener("input", apply); only.addEventListener("change", apply);
})();
</script></body></html>
"""

_ENV = Environment(autoescape=True, undefined=StrictUndefined)


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    return f"{v:,.4g}" if isinstance(v, float) else str(v)


def _rows(doc: dict[str, Any], params: list[str]) -> list[dict[str, Any]]:
    ties = set(doc["decision"].get("tie_set") or [])
    rows = []
    for t in doc["trials"]:
        s = t.get("score") or {}
        low, high = s.get("objective_low"), s.get("objective_high")
        v = saturation(t.get("telemetry") or []) if t["status"] == "completed" else None
        rows.append({
            "rank": t["rank"], "id": t["trial_id"],
            "params": [_fmt((t.get("params") or {}).get(p)) for p in params],
            "status": t["status"] if t["status"] != "completed"
            else ("feasible" if t.get("feasible") else "infeasible"),
            "feasible": "true" if t.get("feasible") else "false",
            "objective": _fmt(s.get("objective")),
            "interval": f"[{_fmt(low)}, {_fmt(high)}]" if low is not None else "—",
            "level": _fmt(s.get("concurrency")),
            "saturation": f"{v.resource}: {v.sentence}" if v else "—",
            "cls": "tie" if t["trial_id"] in ties else ("" if t.get("feasible")
                                                        else "infeasible"),
        })
    return rows


def render(doc: dict[str, Any]) -> str:
    """The whole report.html for a results.json document."""
    first = [True]

    def div(fig, name: str) -> str:
        if fig is None:
            return ""
        # fixed ids: the same results.json gives the same file (reports are committed)
        out = pio.to_html(fig, full_html=False, include_plotlyjs=first[0], div_id=name,
                          config={"displaylogo": False})
        first[0] = False
        return out

    params = [p for p in doc.get("parameters") or []]
    best = next((t for t in doc["trials"] if t["trial_id"] == doc.get("best_trial_id")), None)
    v = saturation(best.get("telemetry") or []) if best else None
    rate = rate_charts.is_rate(doc)
    return _ENV.from_string(PAGE).render(
        name=doc["experiment"]["name"] if isinstance(doc.get("experiment"), dict) else "",
        run_id=(doc.get("run") or {}).get("id", ""), simulated=bool(doc.get("simulated")),
        objective=doc["objective"]["metric"], direction=doc["objective"]["direction"],
        best=doc.get("best_trial_id"), ties=doc["decision"].get("tie_set") or [],
        saturation=f"{v.resource}: {v.sentence}" if v else "",
        pareto=div(html_charts.pareto(doc), "pareto-plot"), params=params,
        rows=_rows(doc, params), curves=div(html_charts.curves(doc), "curves-plot"),
        telemetry=div(html_charts.telemetry(doc), "telemetry-plot"),
        rate=rate, top=rate_charts.TOP,
        load=div(rate_charts.latency(doc), "load-plot") if rate else "",
        goodput=div(rate_charts.goodput(doc), "goodput-plot") if rate else "",
        load_pareto=div(rate_charts.pareto(doc), "load-pareto-plot") if rate else "",
        cost=div(html_charts.cost(doc), "cost-plot"))
