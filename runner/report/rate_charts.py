"""The interactive report's load figures for open-loop experiments (benchmark.load), built
from the results.json document alone like the other charts (html_charts.py).

An open-loop run measures each trial at offered request rates; the question it answers is
"up to what rate does this configuration hold its SLOs?". So:

- Latency under load: TTFT and TPOT p50/p99 against the offered rate, one curve per top
  configuration (the first TOP of the ranking), each point with its 95 % interval as error
  bars, the SLO limits as red lines, and each trial's capacity (max_slo_rate) as a dotted
  line in its colour with its interval shaded.
- Goodput under load: good requests per second against the offered rate, beside the
  diagonal a server that kept every request good would follow; capacities marked too.
- Pareto across load: throughput against the latency percentile at every (trial, rate)
  point, the points no other point beats on both outlined: which configuration at which
  rate is worth running.
"""

from __future__ import annotations

import math
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots
from tuneops.runner.report.html_charts import color, completed

from tuneops.metrics import GOODPUT_REQUESTS, MAX_SLO_RATE, Slo

TOP = 4  # configurations drawn: more curves than this read as noise
LATENCY_PANELS = ("ttft.p50", "ttft.p99", "tpot.p50", "tpot.p99")
RATE_AXIS = "offered rate (req/s)"


def is_rate(doc: dict[str, Any]) -> bool:
    """Was the report measured under an open-loop load (its levels are offered rates)?"""
    return bool((doc.get("benchmark") or {}).get("load"))


def top(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The measured trials in rank order, the first TOP of them."""
    return sorted(completed(doc), key=lambda t: t["rank"])[:TOP]


def scenario(doc: dict[str, Any], trial: dict[str, Any]) -> str | None:
    want = doc["objective"].get("scenario")
    metrics = trial.get("metrics") or {}
    return want if want in metrics else next(iter(sorted(metrics)), None)


def spread(trial: dict[str, Any], sc: str, level: str, name: str) -> tuple[Any, Any]:
    s = (((trial.get("spread") or {}).get(sc) or {}).get(level) or {}).get(name) or {}
    return s.get("low"), s.get("high")


def points(trial: dict[str, Any], sc: str, name: str) -> list[tuple[float, float, Any, Any]]:
    """(offered rate, value, low, high) of `name` at each rate measured, ascending."""
    by_rate = (trial.get("metrics") or {}).get(sc) or {}
    out = []
    for level in sorted(by_rate, key=float):
        value = by_rate[level].get(name)
        if isinstance(value, (int, float)):
            out.append((float(level), float(value), *spread(trial, sc, level, name)))
    return out


def capacity(doc: dict[str, Any], trial: dict[str, Any]) -> tuple[float, Any, Any] | None:
    """The trial's max_slo_rate and its interval (over repeats), None when not searched.
    As the objective, the score's interval is the one the ranking used."""
    sc = scenario(doc, trial)
    pts = points(trial, sc, MAX_SLO_RATE) if sc else []
    if not pts:
        return None
    _, value, low, high = pts[0]  # the same value at every rate of the scenario
    s = trial.get("score") or {}
    if doc["objective"]["metric"] == MAX_SLO_RATE and s.get("objective") is not None:
        value, low, high = s["objective"], s.get("objective_low"), s.get("objective_high")
    return value, low, high


def label(trial: dict[str, Any]) -> str:
    return f"#{trial['rank']} {trial['trial_id']}"


def params(trial: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in (trial.get("params") or {}).items()) or "(defaults)"


def _bounds(low: Any, high: Any) -> str:
    return f" [{low:.4g}, {high:.4g}]" if low is not None and high is not None else ""


def _errors(pts: list[tuple[float, float, Any, Any]]) -> dict[str, Any]:
    """Asymmetric error bars from each point's interval (0 where none was recorded)."""
    return {"type": "data", "symmetric": False, "thickness": 1,
            "array": [max(h - v, 0.0) if h is not None else 0.0 for _, v, _, h in pts],
            "arrayminus": [max(v - lo, 0.0) if lo is not None else 0.0 for _, v, lo, _ in pts]}


def _curve(trial: dict[str, Any], i: int, pts, name: str, *, legend: bool) -> go.Scatter:
    return go.Scatter(
        x=[p[0] for p in pts], y=[p[1] for p in pts], mode="lines+markers",
        name=label(trial), legendgroup=trial["trial_id"], showlegend=legend,
        line={"color": color(i)}, error_y=_errors(pts), hoverinfo="text",
        hovertext=[f"<b>{label(trial)}</b><br>{params(trial)}<br>offered {r:g} req/s<br>"
                   f"{name} = {v:.4g}{_bounds(lo, hi)}" for r, v, lo, hi in pts])


def _mark_capacities(fig: go.Figure, doc: dict[str, Any], shown: list[dict[str, Any]],
                     **where: Any) -> None:
    """Each trial's capacity as a dotted line in its colour, its interval shaded."""
    for i, t in enumerate(shown):
        cap = capacity(doc, t)
        if cap is None:
            continue
        value, low, high = cap
        if low is not None and high is not None and high > low:
            fig.add_vrect(x0=low, x1=high, fillcolor=color(i), opacity=0.12, line_width=0,
                          layer="below", **where)
        fig.add_vline(x=value, line_dash="dot", line_color=color(i), line_width=2, **where)


def _capacity_note(doc: dict[str, Any], shown: list[dict[str, Any]]) -> str:
    caps = [(t, capacity(doc, t)) for t in shown]
    text = [f"#{t['rank']}: {c[0]:.3g}{_bounds(c[1], c[2])}" for t, c in caps if c]
    return ("capacity (max_slo_rate, dotted): " + ", ".join(text)) if text else ""


def latency(doc: dict[str, Any]) -> go.Figure | None:
    """TTFT and TPOT p50/p99 against the offered rate; None when no trial was measured."""
    shown = top(doc)
    if not shown:
        return None
    fig = make_subplots(rows=2, cols=2, subplot_titles=[f"{m} (ms)" for m in LATENCY_PANELS],
                        horizontal_spacing=0.08, vertical_spacing=0.14)
    cells = {m: (1 + k // 2, 1 + k % 2) for k, m in enumerate(LATENCY_PANELS)}
    for i, t in enumerate(shown):
        sc = scenario(doc, t)
        for k, (name, (row, col)) in enumerate(cells.items()):
            fig.add_trace(_curve(t, i, points(t, sc, name), name, legend=k == 0),
                          row=row, col=col)
    for entry in doc.get("slos") or []:
        for slo in Slo.from_entry(entry):  # schema-checked by the loader
            if slo.metric in cells:
                row, col = cells[slo.metric]
                fig.add_hline(y=slo.limit, line_dash="dash", line_color="red", row=row,
                              col=col, annotation_text=f"SLO {slo.metric} "
                                                       f"{slo.bound.symbol} {slo.limit:g}")
    _mark_capacities(fig, doc, shown, row="all", col="all")
    fig.update_xaxes(title_text=RATE_AXIS, type="log")
    fig.update_layout(title="Latency under load, top configurations<br><sup>"
                            f"{_capacity_note(doc, shown)}</sup>", height=720,
                      legend_title="trial")
    return fig


def goodput(doc: dict[str, Any]) -> go.Figure | None:
    """Good requests per second against the offered rate; None without goodput
    (the experiment set no slos[].perRequest)."""
    shown = [t for t in top(doc) if points(t, scenario(doc, t), GOODPUT_REQUESTS)]
    if not shown:
        return None
    fig = go.Figure()
    rates: list[float] = []
    for i, t in enumerate(shown):
        pts = points(t, scenario(doc, t), GOODPUT_REQUESTS)
        rates += [p[0] for p in pts]
        fig.add_trace(_curve(t, i, pts, GOODPUT_REQUESTS, legend=True))
    ends = [min(rates), max(rates)]
    fig.add_trace(go.Scatter(x=ends, y=ends, mode="lines", name="every request good",
                             line={"dash": "dash", "color": "grey"}, hoverinfo="skip"))
    _mark_capacities(fig, doc, shown)
    fig.update_xaxes(title_text=RATE_AXIS, type="log")
    fig.update_layout(title="Goodput under load (requests meeting every per-request SLO)"
                            f"<br><sup>{_capacity_note(doc, shown)}</sup>",
                      yaxis_title=f"{GOODPUT_REQUESTS} (req/s)", height=460,
                      legend_title="trial")
    return fig


def front(pts: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The (latency, throughput) points no other point beats on both: lower latency and
    higher throughput. Ascending latency."""
    out: list[tuple[float, float]] = []
    for lat, tput in sorted(pts, key=lambda p: (p[0], -p[1])):
        if not out or tput > out[-1][1]:
            out.append((lat, tput))
    return out


def pareto(doc: dict[str, Any]) -> go.Figure | None:
    """Throughput against the latency percentile at every measured rate of the top
    configurations; the front across all of those points outlined."""
    lat_m = doc["pareto"]["y"]
    gpus = (doc.get("hardware") or {}).get("gpu_count")
    tput_m = "output_throughput_per_gpu" if gpus else "output_throughput"
    shown = top(doc)
    fig = go.Figure()
    everything: list[tuple[float, float]] = []
    for i, t in enumerate(shown):
        sc = scenario(doc, t)
        lat = {r: (v, lo, hi) for r, v, lo, hi in points(t, sc, lat_m)}
        tp = {r: (v, lo, hi) for r, v, lo, hi in points(t, sc, tput_m)}
        rates = sorted(set(lat) & set(tp))
        if not rates:
            continue
        everything += [(lat[r][0], tp[r][0]) for r in rates]
        fig.add_trace(go.Scatter(
            x=[lat[r][0] for r in rates], y=[tp[r][0] for r in rates],
            mode="lines+markers+text", text=[f"{r:g}/s" for r in rates],
            textposition="top center", name=label(t), line={"color": color(i)},
            hoverinfo="text", hovertext=[
                f"<b>{label(t)}</b><br>{params(t)}<br>offered {r:g} req/s<br>"
                f"{lat_m} = {lat[r][0]:.4g}{_bounds(*lat[r][1:])}<br>"
                f"{tput_m} = {tp[r][0]:.4g}{_bounds(*tp[r][1:])}" for r in rates]))
    if not everything:
        return None
    best = front(everything)
    fig.add_trace(go.Scatter(
        x=[p[0] for p in best], y=[p[1] for p in best], mode="lines+markers",
        name="Pareto front across load", hoverinfo="skip",
        line={"dash": "dash", "color": "black", "width": 1},
        marker={"symbol": "circle-open", "size": 16, "color": "black",
                "line": {"width": 2}}))
    for entry in doc.get("slos") or []:
        for slo in Slo.from_entry(entry):
            if slo.metric == lat_m and slo.limit > 0:
                fig.add_vline(x=slo.limit, line_dash="dash", line_color="red")
                # on a log axis an annotation's x is the exponent (the line's is the value)
                fig.add_annotation(x=math.log10(slo.limit), y=1.0, yref="paper",
                                   showarrow=False, xanchor="left", yanchor="top",
                                   text=f"SLO {slo.metric} {slo.bound.symbol} {slo.limit:g}")
    fig.update_xaxes(type="log")
    fig.update_layout(title=f"{tput_m} vs {lat_m} at each offered rate (labels: req/s; "
                            "outlined: Pareto front across load)",
                      xaxis_title=f"{lat_m} (ms)", yaxis_title=tput_m, height=520,
                      legend_title="trial")
    return fig
