"""PNG plots for a run report (matplotlib, Agg: no display needed).

File names are fixed so reports diff cleanly: `throughput_vs_latency.png`,
`latency_vs_rate.png` (open-loop runs: latency against the offered rate) and
`objective_vs_<parameter>.png`. Each trial is drawn at its objective's point, marked with
its rank (the report table's `#`), with its 95 % interval as error bars; a legend table
under the axes maps each rank to its parameter values, so labels never overlap points or
each other however close the trials sit. The trade-off plot uses the
ranking's Pareto axes and front (the same as results.json); throughput axes start at 0;
integer and categorical parameters sit on discrete axes (one tick per value tried).
"""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import NullFormatter  # noqa: E402
from tuneops.runner import rankings, score  # noqa: E402
from tuneops.runner.results import COMPLETED, TrialResult  # noqa: E402

from tuneops.metrics import MAX_SLO_RATE, UNITS, Bound, Direction, metric  # noqa: E402
from tuneops.spec import Experiment, Param  # noqa: E402

TRADEOFF_FILE = "throughput_vs_latency.png"


def param_file(name: str) -> str:
    return "objective_vs_" + re.sub(r"[^A-Za-z0-9_.-]+", "_", name) + ".png"


def _label(metric: str) -> str:
    return f"{metric} ({UNITS.get(metric, '')})" if metric in UNITS else metric


def point_label(result: TrialResult) -> str:
    """A trial as its parameter values, e.g. `parallel=1 threads=2`."""
    return " ".join(f"{k}={v}" for k, v in result.params.items()) or result.trial_id[:12]


LEGEND_ROWS = 16  # ranks listed under a plot; more are named in report.md's table


def _rank(ranking: rankings.Ranking, r: TrialResult) -> int:
    return next(i for i, t in enumerate(ranking.trials, 1) if t is r)


def _mark(ax, x: float, y: float, rank: int) -> None:
    ax.annotate(str(rank), (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")


def _legend_table(fig, ax, rows: list[tuple[int, str]]) -> None:
    """The rank → parameters table under the axes (sorted by rank)."""
    rows = sorted(set(rows))
    shown = rows[:LEGEND_ROWS]
    cells = [[f"#{k}", text] for k, text in shown]
    if len(rows) > len(shown):
        cells.append(["…", f"{len(rows) - len(shown)} more in report.md"])
    if not cells:
        return
    h = fig.get_figheight()
    extra = 0.22 * (len(cells) + 1) + 0.5  # inches: one row each, the header, a margin
    fig.set_figheight(h + extra)
    total = h + extra
    box = ax.get_position()  # the axes keep their size in inches; the table goes below
    ax.set_position([box.x0, (box.y0 * h + extra) / total, box.width, box.height * h / total])
    holder = fig.add_axes([box.x0, 0.1 / total, box.width, (extra - 0.45) / total])
    holder.axis("off")
    table = holder.table(cellText=cells, colLabels=["#", "parameters"], colLoc="left",
                         cellLoc="left", colWidths=[0.08, 0.92], bbox=[0, 0, 1, 1])
    table.auto_set_font_size(False)
    table.set_fontsize(7)


def _completed(results: list[TrialResult]) -> list[TrialResult]:
    return [r for r in results if r.status == COMPLETED and r.metrics]


def _from_zero(name: str) -> bool:
    """A higher-is-better axis (a throughput, a speed) reads best from 0."""
    return metric(name).direction is Direction.MAXIMIZE


def _err(value: float, bounds: score.Bounds) -> list[float]:
    lo, hi = bounds
    if lo is None or hi is None:
        return [0.0, 0.0]
    return [max(value - lo, 0.0), max(hi - value, 0.0)]


def tradeoff_plot(path: Path, exp: Experiment, ranking: rankings.Ranking, title: str) -> None:
    tput, lat = ranking.pareto_axes
    sc = exp.objective.scenario
    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=100)
    done = _completed(ranking.trials)
    legend: list[tuple[int, str]] = []
    for feasible, style in ((True, dict(marker="o", color="tab:blue", label="feasible")),
                            (False, dict(marker="x", color="tab:red", label="violates an SLO"))):
        pts = [(rankings.point_value(r, lat, sc), rankings.point_value(r, tput, sc), r)
               for r in done if rankings.is_feasible(r) == feasible]
        pts = [p for p in pts if p[0] is not None and p[1] is not None]
        if not pts:
            continue
        xerr = [_err(px, rankings.point_bounds(r, lat, sc)) for px, _, r in pts]
        yerr = [_err(py, rankings.point_bounds(r, tput, sc)) for _, py, r in pts]
        ax.errorbar([p[0] for p in pts], [p[1] for p in pts],
                    xerr=list(zip(*xerr, strict=True)), yerr=list(zip(*yerr, strict=True)),
                    linestyle="none", capsize=3, elinewidth=0.8, **style)
        for px, py, r in pts:
            _mark(ax, px, py, _rank(ranking, r))
            legend.append((_rank(ranking, r), point_label(r)))
    fpts = sorted((rankings.point_value(r, lat, sc), rankings.point_value(r, tput, sc))
                  for r in ranking.pareto)
    fpts = [p for p in fpts if p[0] is not None and p[1] is not None]
    if fpts:
        ax.plot([p[0] for p in fpts], [p[1] for p in fpts], "--", color="tab:green",
                marker="s", markerfacecolor="none", markersize=10, label="Pareto front")
    xs = [rankings.point_value(r, lat, sc) for r in done]
    xs = [v for v in xs if v is not None and v > 0]
    if xs and max(xs) / min(xs) > 100:
        ax.set_xscale("log")  # one trial far off (e.g. saturated) would flatten the rest
    for slo in exp.slos:  # the limits that cut the axes: a latency's max, a throughput's min
        label = f"SLO {slo.metric} {slo.bound.symbol} {slo.limit:g}"
        if slo.metric == lat and slo.bound is Bound.MAX:
            ax.axvline(slo.limit, color="grey", linestyle=":", label=label)
        if slo.metric == tput and slo.bound is Bound.MIN:
            ax.axhline(slo.limit, color="grey", linestyle=":", label=label)
    if _from_zero(tput):
        ax.set_ylim(bottom=0)
    ax.set_xlabel(_label(lat))
    ax.set_ylabel(_label(tput))
    _finish(fig, ax, path, title, legend)


def _finish(fig, ax, path: Path, title: str, legend: list[tuple[int, str]]) -> None:
    """Title, grid, legend, the rank table and a deterministic PNG (no software stamp)."""
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    fig.tight_layout()
    _legend_table(fig, ax, legend)  # after tight_layout: it places the table itself
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


def discrete(param: Param | None, values: list) -> bool:
    """One tick per value: categorical, boolean and integer parameters."""
    if param is not None and param.kind in ("values", "bool", "int"):
        return True
    return not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def param_plot(
    path: Path, exp: Experiment, ranking: rankings.Ranking, param: str, title: str
) -> None:
    obj = exp.objective.metric
    spec_param = next((p for p in exp.parameters if p.name == param), None)
    done = [r for r in _completed(ranking.trials) if r.score is not None
            and r.score.objective is not None and param in r.params]
    values = [r.params[param] for r in done]
    if discrete(spec_param, values):
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        cats = sorted(set(values)) if numeric else sorted({str(v) for v in values})
        pos = {c: i for i, c in enumerate(cats)}
        xs = [pos[v if numeric else str(v)] for v in values]
        ticks = [str(c) for c in cats]
    else:
        xs = [float(v) for v in values]
        ticks = None
    # trials sharing a value spread out a little, so their error bars stay readable
    seen: dict[float, int] = {}
    jitter = []
    for x in xs:
        k = seen.get(x, 0)
        seen[x] = k + 1
        jitter.append(x + (0.08 * (k - 0.5 * (xs.count(x) - 1)) if ticks is not None else 0.0))
    fig, ax = plt.subplots(figsize=(6.5, 4.2), dpi=100)
    legend: list[tuple[int, str]] = []
    for feasible, style in ((True, dict(marker="o", color="tab:blue", label="feasible")),
                            (False, dict(marker="x", color="tab:red", label="violates an SLO"))):
        sel = [(x, r) for x, r in zip(jitter, done, strict=True)
               if rankings.is_feasible(r) == feasible]
        if not sel:
            continue
        ys = [r.score.objective for _, r in sel]
        err = [_err(r.score.objective, rankings.objective_interval(r)) for _, r in sel]
        ax.errorbar([x for x, _ in sel], ys, yerr=list(zip(*err, strict=True)),
                    linestyle="none", capsize=3, elinewidth=0.8, **style)
        for (x, r), y in zip(sel, ys, strict=True):
            _mark(ax, x, y, _rank(ranking, r))
            legend.append((_rank(ranking, r), point_label(r)))
    if ticks:
        ax.set_xticks(range(len(ticks)), ticks)
        ax.set_xlim(-0.5, len(ticks) - 0.5)
    if _from_zero(obj):
        ax.set_ylim(bottom=0)
    ax.set_xlabel(param)
    ax.set_ylabel(_label(obj))
    _finish(fig, ax, path, title, legend)


RATE_FILE = "latency_vs_rate.png"
RATE_TOP = 4  # configurations drawn (report.html's load charts draw as many)
RATE_PANELS = ("ttft.p99", "tpot.p99")


def _rate_points(r: TrialResult, sc: str, name: str) -> list[tuple[float, float, list[float]]]:
    out = []
    for level in sorted(r.metrics.get(sc) or {}):
        value = r.metrics[sc][level].get(name)
        if value is not None:
            sp = ((r.spread.get(sc) or {}).get(level) or {}).get(name) or {}
            out.append((float(level), value, _err(value, (sp.get("low"), sp.get("high")))))
    return out


def rate_plot(path: Path, exp: Experiment, ranking: rankings.Ranking, title: str) -> None:
    """Open-loop runs: p99 TTFT and TPOT against the offered rate for the top RATE_TOP
    configurations, intervals as error bars, SLO limits dashed, each trial's capacity
    (max_slo_rate) dotted in its colour."""
    shown = _completed(ranking.trials)[:RATE_TOP]
    fig, axes = plt.subplots(1, len(RATE_PANELS), figsize=(10, 4.2), dpi=100)
    for i, r in enumerate(shown):  # few curves: each labelled with its parameters
        sc = exp.objective.scenario if exp.objective.scenario in r.metrics else min(r.metrics)
        rank, colour = _rank(ranking, r), f"C{i}"
        cap = next((m.get(MAX_SLO_RATE) for m in r.metrics[sc].values()), None)
        for ax, name in zip(axes, RATE_PANELS, strict=True):
            pts = _rate_points(r, sc, name)
            if pts:
                ax.errorbar([p[0] for p in pts], [p[1] for p in pts],
                            yerr=list(zip(*[p[2] for p in pts], strict=True)), marker="o",
                            capsize=3, elinewidth=0.8, color=colour,
                            label=f"#{rank} {point_label(r)}")
            if cap is not None:
                ax.axvline(cap, color=colour, linestyle=":", linewidth=1.5)
    for ax, name in zip(axes, RATE_PANELS, strict=True):
        for slo in exp.slos:
            if slo.metric == name:
                ax.axhline(slo.limit, color="red", linestyle="--",
                           label=f"SLO {slo.bound.symbol} {slo.limit:g}")
        ax.set_xscale("log")
        rates = sorted({float(lv) for r in shown for by in r.metrics.values() for lv in by})
        # the rates measured, not 10^k; a capacity search's close steps (16, 16.7, 17.4)
        # get a tick each but a label only 25 % past the last one labelled
        labels, last = [], None
        for x in rates:
            keep = last is None or x >= 1.25 * last
            labels.append(f"{x:.3g}" if keep else "")
            last = x if keep else last
        ax.set_xticks(rates, labels)
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("offered rate (req/s)")
        ax.set_ylabel(_label(name))
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.suptitle(title + " (dotted: capacity, max_slo_rate)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


def write_plots(out_dir: Path, exp: Experiment, ranking: rankings.Ranking,
                simulated: bool = False) -> list[Path]:
    """Write every plot into out_dir; returns their paths (tradeoff first)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tag = " [SIMULATED]" if simulated else ""
    paths = [out_dir / TRADEOFF_FILE]
    tradeoff_plot(paths[0], exp, ranking, f"{exp.name}: trials at their objective point{tag}")
    if exp.benchmark.load is not None:
        paths.append(out_dir / RATE_FILE)
        rate_plot(paths[-1], exp, ranking, f"{exp.name}: latency under load{tag}")
    for p in exp.parameters:
        path = out_dir / param_file(p.name)
        param_plot(path, exp, ranking, p.name, f"{exp.objective.metric} vs {p.name}{tag}")
        paths.append(path)
    return paths
