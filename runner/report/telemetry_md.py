"""report.md's "Inside the engine" section: what the engine's telemetry says.

Formats the trials' stored telemetry summaries (results.json `telemetry`, read back by
runner.telemetry.explain); the best trial's saturating resource is named first, then one
table per level for the best and the runner-up. A series the engine does not serve is
named with its reason ("not exposed by llama.cpp"), never shown as a zero.
"""

from __future__ import annotations

from tuneops.runner import rankings
from tuneops.runner.report import markdown  # its table(); read at call time (a cycle)
from tuneops.runner.results import COMPLETED, TrialResult
from tuneops.runner.telemetry import explain

COLUMNS = (("kv_cache_usage", "max", "KV cache max", "pct"),
           ("running", "max", "running max", "n"),
           ("queued", "mean", "queued mean", "f"),
           ("preemptions", "total", "preemptions", "n"),
           ("cache_hit_rate", "mean", "cache hit", "pct"),
           ("generation_throughput", "mean", "gen tok/s", "n"))


def _cell(value: float | None, how: str) -> str:
    if value is None:
        return "—"
    if how == "pct":
        return explain.pct(value)
    return f"{value:.1f}" if how == "f" else f"{value:.0f}"


def _gpu_line(r: TrialResult) -> str:
    gpus = [m.get("gpu") for m in r.telemetry if m.get("gpu")]
    if not gpus:
        return ""
    g = gpus[-1]
    if "not_measured" in g:
        return f"GPU (NVML): not measured ({g['not_measured']}); energy per token: not measured."
    parts = [f"{label} {g[k]['mean']:.2f}{unit} mean, {g[k]['max']:.2f}{unit} max"
             for k, label, unit in (("gpu_utilization", "utilization", ""),
                                    ("gpu_memory_used", "memory", " GiB"),
                                    ("gpu_power", "power", " W")) if isinstance(g.get(k), dict)]
    e = g.get("energy_per_output_token_j", "not measured")
    parts.append("energy per output token " + (f"{e:.4f} J" if isinstance(e, float) else e))
    return "GPU (NVML): " + "; ".join(parts) + "."


def trial_table(r: TrialResult, scenario: str | None) -> list[str]:
    levels = explain.pooled_levels(r.telemetry, scenario)
    if not levels:
        return []
    missing = explain.not_exposed(r.telemetry)
    rows = [[level, *[_cell(s.get(name, {}).get(stat), how) if name not in missing
                      else "n/e" for name, stat, _, how in COLUMNS]]
            for level, s in levels.items()]
    out = [markdown.table(["concurrency", *[c[2] for c in COLUMNS]], rows,
                 ["--:"] * (len(COLUMNS) + 1)), ""]
    if missing:
        out += ["n/e: " + "; ".join(f"`{k}` {v}" for k, v in sorted(missing.items())), ""]
    gpu = _gpu_line(r)
    if gpu:
        out += [gpu, ""]
    return out


def section(ranking: rankings.Ranking, scenario: str | None) -> list[str]:
    """The section's lines; [] when no trial was scraped."""
    done = [r for r in ranking.trials if r.status == COMPLETED and r.telemetry]
    if not any(explain.pooled_levels(r.telemetry, scenario) for r in done):
        return []
    out = ["## Inside the engine", "",
           "The engine's Prometheus endpoint, scraped while each measurement ran (series per "
           "level pooled over measurements; `schemas/engines.yaml` maps its names).", ""]
    best = ranking.best or (done[0] if done else None)
    if best is not None:
        v = explain.saturation(best.telemetry, scenario)
        if v is not None:
            out += [f"**Saturating resource for the best trial `{best.trial_id}`: "
                    f"{v.resource}** — {v.sentence}.", ""]
    shown = [r for r in done if r is best] + [r for r in done if r is not best][:1]
    for r, label in zip(shown, ("best", "runner-up"), strict=False):
        body = trial_table(r, scenario)
        if body:
            if label == "runner-up":
                v = explain.saturation(r.telemetry, scenario)
                out += [f"### Runner-up `{r.trial_id}`" + (f": {v.resource} — {v.sentence}"
                                                           if v else ""), ""]
            else:
                out += [f"### Best `{r.trial_id}`", ""]
            out += body
    return out
