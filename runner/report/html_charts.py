"""The interactive report's figures (Plotly), each built from the results.json document
alone, so `tuneops report` redraws them for any stored report.

- Pareto: every trial's points across load, throughput (the ranking's x axis) against the
  latency percentile (its y axis); hover shows the parameters and the 95 % intervals;
  SLO limits as lines; the tie set drawn as stars, the Pareto front outlined.
- Curves: throughput and the latency percentile per trial across concurrency.
- Telemetry: the engine's series over time for the best and the runner-up.
- Cost: cost per million output tokens against throughput, where the report has it.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from tuneops.metrics import Slo

TIMELINE_SERIES = ("kv_cache_usage", "running", "queued", "generation_throughput")
COST_METRIC = "cost_per_million_output_tokens"


def _scenario(doc: dict[str, Any], trial: dict[str, Any]) -> str | None:
    want = doc["objective"].get("scenario")
    metrics = trial.get("metrics") or {}
    return want if want in metrics else next(iter(metrics), None)


def _interval(trial: dict[str, Any], sc: str, level: str, metric: str) -> str:
    s = (((trial.get("spread") or {}).get(sc) or {}).get(level) or {}).get(metric)
    if not s or s.get("low") is None or s.get("high") is None:
        return ""
    return f" [{s['low']:.4g}, {s['high']:.4g}]"


def _params(trial: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in (trial.get("params") or {}).items()) or "(defaults)"


def completed(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for t in doc["trials"] if t["status"] == "completed" and t.get("metrics")]


def _levels(trial: dict[str, Any], sc: str) -> list[str]:
    return sorted((trial["metrics"].get(sc) or {}), key=float)


def pareto(doc: dict[str, Any]) -> go.Figure:
    x_m, y_m = doc["pareto"]["x"], doc["pareto"]["y"]
    ties = set(doc["decision"].get("tie_set") or [])
    front = set(doc["pareto"].get("trial_ids") or [])
    # open-loop load (benchmark.load): the levels are offered request rates
    where = "offered rate {} req/s" if (doc.get("benchmark") or {}).get("load") \
        else "concurrency {}"
    fig = go.Figure()
    for t in completed(doc):
        sc = _scenario(doc, t)
        xs, ys, hover = [], [], []
        for level in _levels(t, sc):
            m = t["metrics"][sc][level]
            if x_m not in m or y_m not in m:
                continue
            xs.append(m[y_m])
            ys.append(m[x_m])
            hover.append(f"<b>#{t['rank']} {t['trial_id']}</b><br>{_params(t)}<br>"
                         f"{sc} @ {where.format(level)}<br>"
                         f"{x_m} = {m[x_m]:.4g}{_interval(t, sc, level, x_m)}<br>"
                         f"{y_m} = {m[y_m]:.4g}{_interval(t, sc, level, y_m)}<br>"
                         f"feasible: {t.get('feasible')}")
        tie = t["trial_id"] in ties
        fig.add_trace(go.Scatter(
            x=xs, y=ys, mode="lines+markers", name=f"#{t['rank']} {t['trial_id']}",
            hovertext=hover, hoverinfo="text",
            marker={"symbol": "star" if tie else "circle", "size": 14 if tie else 8,
                    "line": {"width": 2 if t["trial_id"] in front else 0, "color": "black"}},
            line={"width": 3 if tie else 1}, opacity=1.0 if tie or t.get("feasible") else 0.5))
    for entry in doc.get("slos") or []:
        for slo in Slo.from_entry(entry):  # schema-checked by the loader: every entry an SLO
            text = f"SLO {slo.metric} {slo.bound.symbol} {slo.limit:g}"
            if slo.metric == y_m:
                fig.add_vline(x=slo.limit, line_dash="dash", line_color="red",
                              annotation_text=text)
            elif slo.metric == x_m:
                fig.add_hline(y=slo.limit, line_dash="dash", line_color="red",
                              annotation_text=text)
    fig.update_layout(title=f"{x_m} vs {y_m} across load (★ tie set, outlined: Pareto "
                            "front)", xaxis_title=y_m, yaxis_title=x_m, height=520,
                      legend_title="trial")
    return fig


def curves(doc: dict[str, Any]) -> go.Figure:
    x_m, y_m = doc["pareto"]["x"], doc["pareto"]["y"]
    fig = make_subplots(rows=1, cols=2, subplot_titles=(x_m, y_m))
    for i, t in enumerate(completed(doc)):
        sc = _scenario(doc, t)
        levels = _levels(t, sc)
        for col, metric in ((1, x_m), (2, y_m)):
            pts = [(float(c), t["metrics"][sc][c][metric]) for c in levels
                   if metric in t["metrics"][sc][c]]
            fig.add_trace(go.Scatter(
                x=[p[0] for p in pts], y=[p[1] for p in pts], mode="lines+markers",
                name=f"#{t['rank']} {t['trial_id']}", legendgroup=t["trial_id"],
                showlegend=col == 1, line={"color": color(i)},
                hovertext=[f"{_params(t)}<br>{metric} = {v:.4g}"
                           f"{_interval(t, sc, str(c), metric)}" for c, v in pts],
                hoverinfo="text"), row=1, col=col)
    # open-loop load (benchmark.load): the levels are offered request rates
    load = "offered rate (req/s)" if (doc.get("benchmark") or {}).get("load") else "concurrency"
    fig.update_xaxes(title_text=load, type="log")
    fig.update_layout(title=f"Per-trial curves across {load}", height=420)
    return fig


def color(i: int) -> str:
    palette = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
               "#7f7f7f", "#bcbd22", "#17becf")
    return palette[i % len(palette)]


def telemetry(doc: dict[str, Any]) -> go.Figure | None:
    """The last measurement's timeline of the best and the runner-up; None without any."""
    shown = [t for t in completed(doc) if any(m.get("timeline") for m in t.get("telemetry", []))]
    shown = shown[:2]
    if not shown:
        return None
    fig = make_subplots(rows=len(TIMELINE_SERIES), cols=1, shared_xaxes=True,
                        subplot_titles=TIMELINE_SERIES, vertical_spacing=0.06)
    for i, t in enumerate(shown):
        m = [m for m in t["telemetry"] if m.get("timeline")][-1]
        label = ("best" if i == 0 else "runner-up") + f" {t['trial_id']}"
        for row, name in enumerate(TIMELINE_SERIES, 1):
            pts = m["timeline"].get(name) or []
            fig.add_trace(go.Scatter(x=[p[0] for p in pts], y=[p[1] for p in pts],
                                     mode="lines", name=label, legendgroup=label,
                                     showlegend=row == 1, line={"color": color(i)}),
                          row=row, col=1)
            if not pts and name in (m.get("not_exposed") or {}):
                fig.add_annotation(text=m["not_exposed"][name], showarrow=False,
                                   xref="x domain", yref="y domain", x=0.5, y=0.5,
                                   row=row, col=1)
    fig.update_xaxes(title_text="seconds into the measurement", row=len(TIMELINE_SERIES),
                     col=1)
    fig.update_layout(title="Inside the engine while it was measured (last measurement)",
                      height=200 * len(TIMELINE_SERIES))
    return fig


def cost(doc: dict[str, Any]) -> go.Figure | None:
    """Cost per million output tokens vs throughput at the objective's point; None when the
    report has no cost metric. Throughput per GPU on x (whatever the ranking's axes: with
    cost as the objective, the Pareto chart already plots cost)."""
    x_m = "output_throughput_per_gpu"
    xs, ys, hover = [], [], []
    for t in completed(doc):
        sc = _scenario(doc, t)
        level = str((t.get("score") or {}).get("concurrency") or (_levels(t, sc) or [""])[-1])
        m = (t["metrics"].get(sc) or {}).get(level) or {}
        if COST_METRIC in m and x_m in m:
            xs.append(m[x_m])
            ys.append(m[COST_METRIC])
            hover.append(f"#{t['rank']} {t['trial_id']}<br>{_params(t)}<br>"
                         f"{COST_METRIC} = {m[COST_METRIC]:.4g}"
                         f"{_interval(t, sc, level, COST_METRIC)}")
    if not xs:
        return None
    fig = go.Figure(go.Scatter(x=xs, y=ys, mode="markers", hovertext=hover, hoverinfo="text",
                               marker={"size": 10}))
    fig.update_layout(title="Cost vs throughput", xaxis_title=x_m,
                      yaxis_title=f"{COST_METRIC} ($)", height=420)
    return fig
