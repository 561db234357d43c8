"""report.md: a run report people (and a PR bot) read as-is, in GitHub-flavoured Markdown.

Simulated runs open with a banner that cannot be missed. `summary_table` is the one table
the CI bot reuses in pull-request comments.
"""

from __future__ import annotations

import math
import shlex
from pathlib import Path
from typing import Any

from tuneops.runner import score
from tuneops.runner.results import COMPLETED, TrialResult

from tuneops.metrics import UNITS
from tuneops.registry import engines
from tuneops.spec import Experiment

BANNER = "SIMULATED RESULTS — not measurements of a real engine"
DETAIL_METRICS = (
    ("output_throughput", "out tok/s"),
    ("output_throughput_per_gpu", "out tok/s/GPU"),
    ("requests_per_s", "req/s"),
    ("ttft.p50", "TTFT p50 ms"),
    ("ttft.p99", "TTFT p99 ms"),
    ("tpot.p50", "TPOT p50 ms"),
    ("e2e_latency.p99", "E2E p99 ms"),
    ("error_rate", "errors"),
)


def fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        a = abs(value)
        if a >= 1000:
            return f"{value:,.0f}"
        if a >= 10:
            return f"{value:.1f}"
        if a >= 0.01 or a == 0:
            return f"{value:.3g}" if a < 1 else f"{value:.2f}"
        return f"{value:.2e}"
    return str(value)


def cell(value: Any) -> str:
    text = value if isinstance(value, str) else fmt(value)
    return text.replace("|", "\\|").replace("\n", " ").strip() or " "


def table(headers: list[str], rows: list[list[Any]], align: list[str] | None = None) -> str:
    align = align or ["---"] * len(headers)
    lines = ["| " + " | ".join(cell(h) for h in headers) + " |",
             "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _violation_text(v: float | None) -> str:
    """Relative violation as a percentage over the limit(s)."""
    if v is None:
        return "—"
    if not math.isfinite(v):
        return "unmeasured"
    return f"+{v * 100:,.0f} %" if v >= 0.01 else f"+{v * 100:.2g} %"


def _slo_text(result: TrialResult) -> str:
    if result.status != COMPLETED or result.score is None:
        return "—"
    if not result.score.slo_checks:
        return "none"
    return " ".join(("✅" if c.met else "❌") + f" {c.metric}" for c in result.score.slo_checks)


def _params(exp: Experiment | None, results: list[TrialResult]) -> list[str]:
    if exp is not None and exp.parameters:
        return [p.name for p in exp.parameters]
    names: list[str] = []
    for r in results:
        names += [k for k in r.params if k not in names]
    return names


def summary_table(
    results: list[TrialResult], exp: Experiment | None = None, *, limit: int | None = None
) -> str:
    """All trials, best first, one row each: params, status, objective, SLO pass/fail.

    With `exp` the trials are ranked here; without it they are taken in the order given
    (already ranked, e.g. read back from results.json)."""
    ranked = score.rank(results, exp) if exp is not None else list(results)
    params = _params(exp, ranked)
    metric = exp.objective.metric if exp is not None else "objective"
    unit = UNITS.get(metric, "")
    headers = ["#", "trial", *params, "status", f"{metric}" + (f" ({unit})" if unit else ""),
               "at conc.", "max feasible conc.", "SLOs", "violation"]
    rows = []
    for i, r in enumerate(ranked[:limit] if limit else ranked, 1):
        s = r.score if r.status == COMPLETED else None
        status = r.status if r.status != COMPLETED else (
            "feasible" if score.is_feasible(r) else "infeasible")
        viol = None if s is None or s.feasible else s.violation
        rows.append([
            i, f"`{r.trial_id}`", *[fmt(r.params.get(p)) for p in params], status,
            None if s is None else s.objective,
            "mean" if s is not None and s.concurrency is None and s.objective is not None
            else (None if s is None else s.concurrency),
            None if s is None else s.max_feasible_concurrency, _slo_text(r),
            _violation_text(viol),
        ])
    align = ["--:", "---", *["---"] * len(params), "---", "--:", "--:", "--:", "---", "--:"]
    return table(headers, rows, align)


def deploy_command(
    exp: Experiment, result: TrialResult, manifests_root: Path | None = None
) -> tuple[str, str]:
    """(how, text) to deploy a trial: the rendered docker run line, the OME manifests, or
    the engine argv."""
    if manifests_root is not None:
        folder = Path(manifests_root) / exp.name / result.trial_id
        script = folder / "docker-run.sh"
        if script.is_file():
            lines = [ln for ln in script.read_text().splitlines() if ln.startswith("docker run")]
            if lines:
                return f"the rendered docker run line, `{script}`", "\n".join(lines)
        yamls = sorted(folder.glob("*.yaml")) if folder.is_dir() else []
        if yamls:
            return "the rendered OME manifests", f"kubectl apply -f {folder}/"
    from tuneops.renderers.command import engine_command

    args = result.args or {**exp.engine.args, **result.params}
    engine = engines()[exp.engine.name]
    argv = engine_command(exp, args, host="0.0.0.0", port=engine.default_port, local=False)
    return "the engine command", shlex.join(argv)


def _detail(exp: Experiment, r: TrialResult) -> str:
    slos = {s.metric: s for s in exp.slos}
    rows = []
    for scenario in sorted(r.metrics):
        for level in sorted(r.metrics[scenario]):
            m = r.metrics[scenario][level]
            checks = score.checks_at({scenario: {level: m}}, exp.slos, level, scenario)
            ok = all(c.met for c in checks)
            rows.append([scenario, level, *[m.get(k) for k, _ in DETAIL_METRICS],
                         ("✅" if ok else "❌") if slos else "—"])
    headers = ["scenario", "conc.", *[h for _, h in DETAIL_METRICS], "SLOs"]
    return table(headers, rows, ["---", "--:", *["--:"] * len(DETAIL_METRICS), "---"])


def render(
    exp: Experiment,
    ranked: list[TrialResult],
    doc: dict[str, Any],
    plots: list[str],
    manifests_root: Path | None = None,
) -> str:
    """The whole report.md from the ranked trials and the results.json document."""
    simulated = bool(doc.get("simulated"))
    out: list[str] = []
    if simulated:
        out += [f"# ⚠️ {BANNER}", "",
                "> [!WARNING]",
                f"> **{BANNER}.** Every number below comes from the tuneops engine simulator "
                "(a performance model). Do not use them to size or deploy real hardware.", ""]
    run = doc["run"]
    out += [f"# tuneops report: {exp.name}", "",
            f"Run `{run['id']}` · finished {run.get('finished_at') or '—'}"
            + (" · **interrupted** (partial results)" if run.get("interrupted") else ""), ""]
    if exp.description:
        out += [exp.description, ""]
    out += [f"**Measured on:** {hardware_line(doc)}", ""]
    out += placement_lines(doc)
    o = exp.objective
    out += [f"**Objective:** {o.direction} `{o.metric}` at concurrency `{o.concurrency}`"
            + (f" in scenario `{o.scenario}`" if o.scenario else " (mean over scenarios)"), ""]
    if exp.slos:
        out += ["**SLOs:** " + ", ".join(
            f"`{s.metric}` {'≤ ' if s.max is not None else '≥ '}"
            f"{s.max if s.max is not None else s.min:g}"
            + (f" {UNITS[s.metric]}" if UNITS.get(s.metric, "fraction") != "fraction" else "")
            for s in exp.slos), ""]
    summ = doc["summary"]
    out += [f"**Trials:** {summ['trials']} · completed {summ['completed']} · feasible "
            f"{summ['feasible']} · failed {summ['failed']}", ""]
    reused = [r for r in ranked if r.reused_from]
    if reused:  # runner/store.py: same trial id, measured by an earlier run
        out += [f"**Reused:** {len(reused)} of {len(ranked)} trial(s) were not measured in this "
                "run; their results come from earlier reports:", "",
                *[f"- `{r.trial_id}` ← `{r.reused_from}`" for r in reused], ""]

    best = score.best(ranked)
    out += ["## Best configuration", ""]
    if best is None:
        out += ["No trial met every SLO. The closest trials are at the top of the table below.",
                ""]
    else:
        s = best.score
        out += [f"Trial `{best.trial_id}`: **{o.metric} = {fmt(s.objective)}**"
                + (f" at concurrency {s.concurrency}" if s.concurrency is not None else "")
                + (f"; meets every SLO up to concurrency {s.max_feasible_concurrency}"
                   if s.max_feasible_concurrency is not None else ""), ""]
        out += [table(["parameter", "value"], [[f"`{k}`", fmt(v)] for k, v in best.params.items()]),
                ""]
        if s.slo_checks:
            out += [table(["SLO", "limit", "value", "met"],
                          [[f"`{c.metric}`", f"{'≤' if c.bound == 'max' else '≥'} {c.limit:g}",
                            c.value, "✅" if c.met else "❌"] for c in s.slo_checks]), ""]
        how, text = deploy_command(exp, best, manifests_root)
        out += [f"Deploy it with {how}:", "", "```sh", text, "```", ""]

    out += ["## All trials", "", summary_table(ranked, exp), ""]
    if plots:
        out += ["## Plots", ""]
        out += [f"![{Path(p).stem}]({p})" for p in plots]
        out += [""]
    completed = [r for r in ranked if r.status == COMPLETED and r.metrics]
    if completed:
        out += ["## Per-concurrency detail", ""]
        for i, r in enumerate(ranked, 1):
            if r in completed:
                params = ", ".join(f"{k}={fmt(v)}" for k, v in r.params.items())
                out += [f"### #{i} `{r.trial_id}` ({params})", "", _detail(exp, r), ""]
    failed = [(i, r) for i, r in enumerate(ranked, 1) if r.status != COMPLETED]
    if failed:
        out += ["## Failures", ""]
        for i, r in failed:
            params = ", ".join(f"{k}={fmt(v)}" for k, v in r.params.items())
            params = f" ({params})" if params else ""
            reason = (r.reason or "no reason recorded").strip()
            out += [f"- #{i} `{r.trial_id}`{params}: **{r.status}** after {r.attempts} "
                    f"attempt(s)", "", "  ```text",
                    *["  " + ln for ln in reason.splitlines()[-20:]], "  ```", ""]
    out += ["## Provenance", "", _provenance(doc), ""]
    if simulated:
        out += [f"_{BANNER}._", ""]
    return "\n".join(out)


def hardware_line(doc: dict[str, Any]) -> str:
    """Where the numbers were measured, in one line (simulated GPUs say so)."""
    hw = doc["hardware"]
    host = hw.get("host") or {}
    mem = host.get("memory_bytes")
    cpu = (f"{host.get('cpu_model') or 'unknown CPU'}, {host.get('cpu_cores') or '?'} cores"
           + (f", {mem / 2**30:.0f} GiB" if mem else ""))
    if hw.get("gpu_count"):
        gpus = f"{hw['gpu_count']} × {hw.get('gpu_type') or 'GPU'} per trial"
        if doc.get("simulated"):
            gpus += " (simulated)"
        return f"{gpus}; host {cpu}"
    return f"CPU only: {cpu}"


def placement_lines(doc: dict[str, Any]) -> list[str]:
    """What the platform gave the trials (node, GPU product label), beside the declared
    GPU type; nothing when no backend reported a placement."""
    got: dict[str, list[str]] = {}
    for t in doc["trials"]:
        p = t.get("placement") or {}
        if p:
            key = f"{p.get('gpu_product') or 'no GPU product label'} on {p.get('node', '?')}"
            got.setdefault(key, []).append(t["trial_id"])
    if not got:
        return []
    declared = doc["hardware"].get("gpu_type") or "none"
    return [f"**Placed on** (declared GPU type: {declared}): " + "; ".join(
        f"{where} ({len(ids)} trial{'s' if len(ids) > 1 else ''})"
        for where, ids in sorted(got.items())), ""]


def _provenance(doc: dict[str, Any]) -> str:
    e, g, eng, hw, tools = doc["experiment"], doc["git"], doc["engine"], doc["hardware"], doc[
        "tools"]
    host = hw.get("host") or {}
    mem = host.get("memory_bytes")
    rows = [
        ["experiment file", f"`{e.get('file') or '—'}`"],
        ["experiment sha256", f"`{e.get('sha256') or '—'}`"],
        ["git commit", f"`{g.get('commit') or '—'}`" + (" (dirty)" if g.get("dirty") else "")],
        ["engine", f"{eng['name']} {eng.get('version') or ''}".strip()
         + (f" · image `{eng['image']}`" if eng.get("image") else "")
         + (" · **simulated**" if eng.get("simulated") else "")],
        ["GPUs per trial", f"{hw.get('gpu_count')} × {hw.get('gpu_type') or '—'}"],
        ["host", f"{host.get('cpu_model') or '—'} · {host.get('cpu_cores') or '—'} cores · "
                 + (f"{mem / 2**30:.0f} GiB" if mem else "—")],
        ["tools", f"tuneops {tools.get('tuneops') or '—'} · genai-bench "
                  f"{tools.get('genai_bench') or '—'} · Python {tools.get('python')}"
                  + (f" · engine package {tools['engine_package']}"
                     if tools.get("engine_package") else "")],
        ["started / finished", f"{doc['run'].get('started_at') or '—'} / "
                               f"{doc['run'].get('finished_at') or '—'}"],
    ]
    return table(["", ""], rows)


def pr_summary(exp: Experiment, ranked: list[TrialResult], doc: dict[str, Any]) -> str:
    """summary.md: the block the CI bot posts on a pull request for this run."""
    out = [f"### `{exp.name}` — run `{doc['run']['id']}`", ""]
    if doc.get("simulated"):
        out += [f"> [!WARNING]\n> **{BANNER}.**", ""]
    best = score.best(ranked)
    o = exp.objective
    if best is None:
        out += ["**No trial met every SLO.**", ""]
    else:
        params = ", ".join(f"`{k}={fmt(v)}`" for k, v in best.params.items())
        out += [f"**Best:** `{best.trial_id}` ({params}) — {o.metric} = "
                f"**{fmt(best.score.objective)}**", ""]
    summ = doc["summary"]
    out += [f"{summ['trials']} trial(s): {summ['completed']} completed, {summ['feasible']} "
            f"feasible, {summ['failed']} failed.", "", summary_table(ranked, exp, limit=20), ""]
    return "\n".join(out)
