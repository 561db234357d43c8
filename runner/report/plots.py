"""PNG plots for a run report (matplotlib, Agg: no display needed).

File names are fixed so reports diff cleanly: `throughput_vs_latency.png` and
`objective_vs_<parameter>.png`. Each trial is drawn at its objective's point.
"""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from tuneops.runner import score  # noqa: E402
from tuneops.runner.results import COMPLETED, TrialResult  # noqa: E402

from tuneops.metrics import LATENCIES, UNITS  # noqa: E402
from tuneops.spec import Experiment  # noqa: E402

TRADEOFF_FILE = "throughput_vs_latency.png"


def latency_metric(exp: Experiment) -> str:
    """The first latency SLO's metric, else ttft.p99."""
    for slo in exp.slos:
        if slo.metric.split(".")[0] in LATENCIES:
            return slo.metric
    return "ttft.p99"


def tradeoff_axes(exp: Experiment) -> tuple[str, str]:
    """(x, y) of the trade-off plot: latency across, the objective (or throughput) up."""
    lat = latency_metric(exp)
    obj = exp.objective.metric
    y = obj if obj.split(".")[0] not in LATENCIES else "output_throughput_per_gpu"
    return lat, y


def param_file(name: str) -> str:
    return "objective_vs_" + re.sub(r"[^A-Za-z0-9_.-]+", "_", name) + ".png"


def _label(metric: str) -> str:
    return f"{metric} ({UNITS.get(metric, '')})" if metric in UNITS else metric


def _completed(results: list[TrialResult]) -> list[TrialResult]:
    return [r for r in results if r.status == COMPLETED and r.metrics]


def tradeoff_plot(path: Path, exp: Experiment, results: list[TrialResult], title: str) -> None:
    x, y = tradeoff_axes(exp)
    sc = exp.objective.scenario
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
    for feasible, style in ((True, dict(marker="o", color="tab:blue", label="feasible")),
                            (False, dict(marker="x", color="tab:red", label="violates an SLO"))):
        pts = [(score.point_value(r, x, sc), score.point_value(r, y, sc), r)
               for r in _completed(results) if score.is_feasible(r) == feasible]
        pts = [p for p in pts if p[0] is not None and p[1] is not None]
        if pts:
            ax.scatter([p[0] for p in pts], [p[1] for p in pts], linestyle="none", **style)
            for px, py, r in pts:
                ax.annotate(r.trial_id[:12], (px, py), fontsize=7, xytext=(3, 3),
                            textcoords="offset points")
    front = score.pareto_front(results, x, y, scenario=sc)
    fpts = sorted((score.point_value(r, x, sc), score.point_value(r, y, sc)) for r in front)
    if fpts:
        ax.plot([p[0] for p in fpts], [p[1] for p in fpts], "--", color="tab:green",
                marker="s", markerfacecolor="none", markersize=10, label="Pareto front")
    xs = [score.point_value(r, x, sc) for r in _completed(results)]
    xs = [v for v in xs if v is not None and v > 0]
    if xs and max(xs) / min(xs) > 100:
        ax.set_xscale("log")  # one trial far off (e.g. saturated) would flatten the rest
    for slo in exp.slos:
        if slo.metric == x and slo.max is not None:
            ax.axvline(slo.max, color="grey", linestyle=":", label=f"SLO {x} ≤ {slo.max:g}")
        if slo.metric == y and slo.min is not None:
            ax.axhline(slo.min, color="grey", linestyle=":", label=f"SLO {y} ≥ {slo.min:g}")
    ax.set_xlabel(_label(x))
    ax.set_ylabel(_label(y))
    _finish(fig, ax, path, title)


def _finish(fig, ax, path: Path, title: str) -> None:
    """Title, grid, legend and a deterministic PNG (no software/version stamp)."""
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


def param_plot(
    path: Path, exp: Experiment, results: list[TrialResult], param: str, title: str
) -> None:
    obj = exp.objective.metric
    done = [r for r in _completed(results) if r.score is not None and r.score.objective is not None
            and param in r.params]
    values = [r.params[param] for r in done]
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    if numeric:
        xs = [float(v) for v in values]
        ticks = None
    else:
        cats = sorted({str(v) for v in values})
        xs = [cats.index(str(v)) for v in values]
        ticks = cats
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    for feasible, style in ((True, dict(marker="o", color="tab:blue", label="feasible")),
                            (False, dict(marker="x", color="tab:red", label="violates an SLO"))):
        sel = [(x, r.score.objective) for x, r in zip(xs, done, strict=True)
               if score.is_feasible(r) == feasible]
        if sel:
            ax.scatter([s[0] for s in sel], [s[1] for s in sel], **style)
    if ticks is not None:
        ax.set_xticks(range(len(ticks)), ticks)
    ax.set_xlabel(param)
    ax.set_ylabel(_label(obj))
    _finish(fig, ax, path, title)


def write_plots(out_dir: Path, exp: Experiment, ranked: list[TrialResult],
                simulated: bool = False) -> list[Path]:
    """Write every plot into out_dir; returns their paths (tradeoff first)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tag = " [SIMULATED]" if simulated else ""
    paths = [out_dir / TRADEOFF_FILE]
    tradeoff_plot(paths[0], exp, ranked, f"{exp.name}: trials at their objective point{tag}")
    for p in exp.parameters:
        path = out_dir / param_file(p.name)
        param_plot(path, exp, ranked, p.name, f"{exp.objective.metric} vs {p.name}{tag}")
        paths.append(path)
    return paths
