"""report.md: a run report people (and a PR bot) read as-is, in GitHub-flavoured Markdown.

Formats the run's one `rankings.Ranking` and ranks nothing itself. Simulated runs open with a
banner that cannot be missed. Values carry their 95 % interval as `value ± half-width`;
the top names the tie set when the best cannot be told apart from others, says when a
percentile SLO was judged from too few requests, and flags trials measured on a contended
host. `summary_table` is the one table the CI bot reuses in pull-request comments.
"""

from __future__ import annotations

import math
import shlex
from pathlib import Path
from typing import Any

from tuneops.runner import rankings, score
from tuneops.runner.report import telemetry_md
from tuneops.runner.results import COMPLETED, INFEASIBLE, UNCERTAIN, VIOLATED, TrialResult

from tuneops.metrics import (
    COST_METRICS,
    GOOD_FRACTION,
    GOODPUT_OUTPUT_TOKENS,
    GOODPUT_REQUESTS,
    MAX_SLO_RATE,
    UNITS,
)
from tuneops.metrics import metric as metric_of
from tuneops.registry import engines
from tuneops.spec import Experiment

BANNER = "SIMULATED RESULTS — not measurements of a real engine"
COARSE_STEP = 0.02  # a throughput step (one request of a run) above 2 % of it gets a note
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


def pm(value: Any, low: Any = None, high: Any = None) -> str:
    """`value ± half-width` when the interval is known, else the value alone."""
    text = fmt(value)
    if value is None or low is None or high is None:
        return text
    try:
        half = (float(high) - float(low)) / 2
    except (TypeError, ValueError):
        return text
    if not math.isfinite(half):
        return text
    return f"{text} ± {fmt(half) if half >= 0.01 or half == 0 else f'{half:.1e}'}"


def spread_of(result: TrialResult, scenario: str, level: int, metric: str) -> dict:
    return ((result.spread.get(scenario) or {}).get(level) or {}).get(metric) or {}


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


VERDICT_MARK = {"met": "✅", VIOLATED: "❌", UNCERTAIN: "❔"}


def _mark(check) -> str:
    return VERDICT_MARK.get(check.verdict) or ("✅" if check.met else "❌")


def _slo_text(result: TrialResult) -> str:
    if result.status != COMPLETED or result.score is None:
        return "—"
    if not result.score.slo_checks:
        return "none"
    return " ".join(_mark(c) + f" {c.metric}" for c in result.score.slo_checks)


def status_text(result: TrialResult) -> str:
    """feasible / infeasible / uncertain for measured trials, the failure otherwise."""
    if result.status != COMPLETED:
        return result.status
    verdict = result.score.verdict if result.score is not None else ""
    text = "feasible" if rankings.is_feasible(result) else "infeasible"
    if verdict == UNCERTAIN or (verdict == INFEASIBLE and rankings.is_feasible(result)):
        text += " (uncertain)"
    if result.contended:
        text += " ⚠️ contended"
    return text


def _params(exp: Experiment | None, results: list[TrialResult]) -> list[str]:
    if exp is not None and exp.parameters:
        return [p.name for p in exp.parameters]
    names: list[str] = []
    for r in results:
        names += [k for k in r.params if k not in names]
    return names


def summary_table(
    ranked: rankings.Ranking | list[TrialResult], exp: Experiment | None = None, *,
    limit: int | None = None,
) -> str:
    """All trials, best first, one row each: params, status, objective ± half-width,
    measurements, SLO verdicts. Takes the run's Ranking, or trials already in rank order
    (e.g. read back from results.json); it never ranks them itself."""
    ranking = ranked if isinstance(ranked, rankings.Ranking) else None
    trials = ranking.trials if ranking is not None else list(ranked)
    ties = set(ranking.tie_ids) if ranking is not None and len(ranking.ties) > 1 else set()
    params = _params(exp, trials)
    metric = exp.objective.metric if exp is not None else "objective"
    unit = UNITS.get(metric, "")
    word = "rate" if exp is not None and exp.benchmark.load is not None else "conc."
    headers = ["#", "trial", *params, "status", f"{metric}" + (f" ({unit})" if unit else ""),
               "n", f"at {word}", f"max feasible {word}", "SLOs", "violation"]
    rows = []
    for i, r in enumerate(trials[:limit] if limit else trials, 1):
        s = r.score if r.status == COMPLETED else None
        viol = None if s is None or s.feasible else s.violation
        rows.append([
            f"{i}{' =' if r.trial_id in ties else ''}", f"`{r.trial_id}`",
            *[fmt(r.params.get(p)) for p in params], status_text(r),
            None if s is None else pm(s.objective, s.objective_low, s.objective_high),
            None if s is None else (s.objective_n or 1),
            "mean" if s is not None and s.concurrency is None and s.objective is not None
            else (None if s is None else s.concurrency),
            None if s is None else s.max_feasible_concurrency, _slo_text(r),
            _violation_text(viol),
        ])
    align = ["--:", "---", *["---"] * len(params), "---", "--:", "--:", "--:", "--:", "---",
             "--:"]
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
    if result.command and exp.deployment.mode == "local":
        return ("the command tuneops ran for this trial (local mode; pinned to its CPU set)"
                if result.command[0] == "taskset" else
                "the command tuneops ran for this trial (local mode)"), shlex.join(result.command)
    from tuneops.renderers.command import engine_command

    args = result.args or {**exp.engine.args, **result.params}
    engine = engines()[exp.engine.name]
    argv = engine_command(exp, args, host="0.0.0.0", port=engine.default_port, local=False)
    return "the engine command", shlex.join(argv)


GOODPUT_COLUMNS = (
    (GOODPUT_REQUESTS, "good req/s"),
    (GOODPUT_OUTPUT_TOKENS, "good out tok/s"),
    (GOOD_FRACTION, "good"),
)
# open-loop load (benchmark.load): what was offered, what the generator sent, and the
# capacity search's answer
RATE_METRICS = (("offered_rate", "offered req/s"), ("achieved_rate", "achieved req/s"))
CAPACITY_METRICS = (("max_slo_rate", "max SLO req/s"),)


def detail_metrics(exp: Experiment) -> tuple[tuple[str, str], ...]:
    """The per-level columns: no per-GPU throughput when trials hold no GPU; under an
    open-loop load, the offered and achieved rate (and the capacity found) first; goodput
    when the experiment says what a good request is (slos[].perRequest)."""
    cols = DETAIL_METRICS
    if exp.gpus_per_trial == 0:
        cols = tuple(m for m in cols if not metric_of(m[0]).per_gpu)
    load = exp.benchmark.load
    if load is not None:
        cols = (*RATE_METRICS, *(CAPACITY_METRICS if load.search else ()), *cols)
    return cols + (GOODPUT_COLUMNS if exp.request_slos else ())


def _detail(exp: Experiment, r: TrialResult) -> str:
    slos = {s.metric: s for s in exp.slos}
    cols = detail_metrics(exp)
    rows = []
    for scenario in sorted(r.metrics):
        for level in sorted(r.metrics[scenario]):
            m = r.metrics[scenario][level]
            one = {scenario: {level: m}}
            sp = {scenario: {level: (r.spread.get(scenario) or {}).get(level) or {}}}
            checks = score.checks_at(one, exp.slos, level, scenario, sp)
            marks = " ".join(_mark(c) for c in checks)
            n = max([int(v.get("n", 1)) for k, v in sp[scenario][level].items()
                     if v.get("method") in ("repeats", "single")] or [1])
            rows.append([scenario, level, n, *[
                pm(m.get(k), spread_of(r, scenario, level, k).get("low"),
                   spread_of(r, scenario, level, k).get("high")) for k, _ in cols],
                marks if slos else "—"])
    level = "rate" if exp.benchmark.load is not None else "conc."
    headers = ["scenario", level, "runs", *[h for _, h in cols], "SLOs"]
    return table(headers, rows, ["---", "--:", "--:", *["--:"] * len(cols), "---"])


LOAD_TOP = 4  # configurations side by side in the load section (the HTML charts' TOP)


def _scenario_of(exp: Experiment, r: TrialResult) -> str:
    want = exp.objective.scenario
    return want if want in r.metrics else sorted(r.metrics)[0]


def _rate_grid(exp: Experiment, shown: list[TrialResult], name: str) -> list[list[Any]]:
    """One row per offered rate: `name` ± half-width for each trial, with its SLO's mark
    where an SLO bounds it (judged as the per-rate detail judges it)."""
    bounded = [s for s in exp.slos if s.metric == name]
    rates = sorted({lv for r in shown for lv in r.metrics[_scenario_of(exp, r)]})
    rows = []
    for rate in rates:
        row: list[Any] = [f"{float(rate):.3g}"]  # 8.35, not 8.3542; 2, not 2.00
        for r in shown:
            sc = _scenario_of(exp, r)
            m = r.metrics[sc].get(rate)
            if m is None or name not in m:
                row.append("—")
                continue
            sp = spread_of(r, sc, rate, name)
            text = pm(m[name], sp.get("low"), sp.get("high"))
            if bounded:
                checks = score.checks_at({sc: {rate: m}}, bounded, rate, sc,
                                         {sc: {rate: (r.spread.get(sc) or {}).get(rate) or {}}})
                text += " " + " ".join(_mark(c) for c in checks)
            row.append(text)
        rows.append(row)
    return rows


def load_section(exp: Experiment, ranking: rankings.Ranking) -> list[str]:
    """## Under load (open-loop runs): the latency the ranking plots at each offered rate,
    the top LOAD_TOP configurations side by side, their capacity (max_slo_rate) under
    it; good requests per second the same way when the experiment counts goodput. The
    curves themselves are report.html's load charts."""
    if exp.benchmark.load is None:
        return []
    shown = [r for r in ranking.trials if r.status == COMPLETED and r.metrics][:LOAD_TOP]
    if not shown:
        return []
    lat = ranking.pareto_axes[1]
    heads = ["offered req/s", *[f"#{ranking.rank_of(r.trial_id)} `{r.trial_id}`"
                                for r in shown]]
    align = ["--:"] * len(heads)
    rows = _rate_grid(exp, shown, lat)
    if exp.benchmark.load.search:
        caps = []
        for r in shown:
            sc = _scenario_of(exp, r)
            level = next(iter(r.metrics[sc]))
            sp = spread_of(r, sc, level, MAX_SLO_RATE)
            caps.append(pm(r.metrics[sc][level].get(MAX_SLO_RATE), sp.get("low"),
                           sp.get("high")))
        rows.append(["**capacity** (max SLO req/s)", *caps])
    out = ["## Under load", "",
           f"`{lat}` ({UNITS.get(lat, '')}) at each offered rate, top {len(shown)} "
           "configuration(s); the charts are in report.html.", "", table(heads, rows, align),
           ""]
    if exp.request_slos:
        out += [f"`{GOODPUT_REQUESTS}` (good req/s) at each offered rate:", "",
                table(heads, _rate_grid(exp, shown, GOODPUT_REQUESTS), align), ""]
    return out


def _cost_cell(r: TrialResult, name: str, scenario: str | None) -> str:
    """A tied trial's cost with its interval's upper bound, which orders the tie set."""
    value = rankings.point_value(r, name, scenario)
    low, high = rankings.point_bounds(r, name, scenario)
    return pm(value, low, high) + (f" (at most {fmt(high)})" if high is not None else "")


def _decision(exp: Experiment, ranking: rankings.Ranking, doc: dict[str, Any]) -> list[str]:
    """The top of the report: one winner, or the tie set, and how sure that is."""
    o = exp.objective
    best = ranking.best
    if best is None:
        return ["## Best configuration", "",
                "No trial met every SLO. The closest trials are at the top of the table below.",
                ""]
    out: list[str] = []
    if len(ranking.ties) > 1:
        out += [f"## Tie set: {len(ranking.ties)} configurations within the noise", "",
                f"These trials' 95 % intervals of `{o.metric}` overlap the best's: the "
                "measurements cannot tell them apart, so pick among them on other grounds "
                "(fewer threads, less memory), or measure more (`benchmark.repeats`, "
                "`search.confirm`).", ""]
        cost_name = o.metric if o.metric in COST_METRICS else rankings.COST_TIE_METRIC
        by_cost = ranking.tie_break == "cost" and cost_name != o.metric  # a column of its own
        rows = [[f"`{r.trial_id}`", ", ".join(f"{k}={fmt(v)}" for k, v in r.params.items()),
                 pm(r.score.objective, r.score.objective_low, r.score.objective_high),
                 r.score.objective_n, status_text(r)]
                + ([_cost_cell(r, cost_name, o.scenario)] if by_cost else [])
                for r in ranking.ties]
        out += [table(["trial", "parameters", o.metric, "n", "status"]
                      + ([cost_name] if by_cost else []), rows,
                      ["---", "---", "--:", "--:", "---"] + (["--:"] if by_cost else [])), ""]
        out += ["Ordered cheaper first (`objective.tieBreak: cost`: the lower upper bound of "
                f"`{cost_name}`'s interval; unknown cost last). Below: the cheapest of them."
                if ranking.tie_break == "cost" else "Below: the first of them by point value.",
                ""]
    out += ["## Best configuration", ""]
    s = best.score
    at, unit = ("rate ", " req/s") if exp.benchmark.load is not None else ("concurrency ", "")
    out += [f"Trial `{best.trial_id}`: **{o.metric} = "
            f"{pm(s.objective, s.objective_low, s.objective_high)}**"
            + (f" at {at}{fmt(s.concurrency)}{unit}" if s.concurrency is not None else "")
            + (f"; meets every SLO up to {at}{fmt(s.max_feasible_concurrency)}{unit}"
               if s.max_feasible_concurrency is not None else ""), ""]
    if ranking.separated:
        out += ["Ahead of every other feasible trial beyond the noise (95 % intervals do not "
                "overlap).", ""]
    elif not ranking.spread_known:
        out += ["> [!NOTE]",
                "> Spread unknown: one measurement per trial, so the ranking cannot be told "
                "from noise. Set `benchmark.repeats` (e.g. `{min: 3, max: 5, "
                "targetRelativeCI: 0.05}`) or keep `search.confirm` on.", ""]
    return out


def _warnings(exp: Experiment, ranking: rankings.Ranking) -> list[str]:
    """Contended measurements, coarse throughputs, percentile SLOs judged from too few
    requests."""
    out: list[str] = []
    contended = [r for r in ranking.trials if r.contended]
    if contended:
        worst = max((w.get("others_cpu_share") or 0) for r in contended for w in r.host_load)
        out += ["> [!WARNING]",
                f"> **Contended host.** {len(contended)} of {len(ranking.trials)} trial(s) "
                "were measured while other processes used the CPU (up to "
                f"{worst * 100:.0f} % of the machine; marked ⚠️ below). Their numbers, and "
                "the ranking, may reflect the host's load rather than the configuration: "
                "rerun on a quiet machine.", ""]
    few: dict[str, tuple[int, int]] = {}
    for r in ranking.trials:
        for c in (r.score.slo_checks if r.score is not None and r.status == COMPLETED else []):
            if c.requests is not None and c.min_requests and c.requests < c.min_requests:
                have, need = few.get(c.metric, (c.requests, c.min_requests))
                few[c.metric] = (min(have, c.requests), need)
    out += _throughput_steps(exp, ranking)
    for metric, (have, need) in sorted(few.items()):
        out += ["> [!WARNING]",
                f"> `{metric}` was judged from as few as {have} request(s); a "
                f"{metric_of(metric).statistic} needs at least {need}, so below that it is the "
                "sample's extreme and its verdict is uncertain (❔). Raise "
                "`benchmark.maxRequestsPerRun` or `repeats`.", ""]
    return out


def _throughput_steps(exp: Experiment, ranking: rankings.Ranking) -> list[str]:
    """genai-bench ends a run at a whole second (its run loop looks at the request count
    once a second) and divides the tokens of the requests done by then: a throughput moves
    in steps of one request, 1/N of its value for N requests a run."""
    metric = exp.objective.metric
    if "throughput" not in metric and metric != "requests_per_s":
        return []
    done = [rankings.point_value(r, "num_completed_requests", exp.objective.scenario)
            for r in ranking.trials if r.status == COMPLETED]
    done = [n for n in done if n]
    if not done or 1.0 / min(done) <= COARSE_STEP:
        return []
    n = min(done)
    return ["> [!NOTE]",
            f"> **Coarse throughput.** genai-bench times a run in whole seconds, so "
            f"`{metric}` moves in steps of one request: with as few as {n:.0f} requests a run, "
            f"one step is {100 / n:.0f} % of the value. Raise `benchmark.maxRequestsPerRun` "
            "(or `maxTimePerRun`) for finer steps.", ""]


def model_search_lines(search: dict[str, Any] | None) -> list[str]:
    """The search method's own record (results.json `search`): which reports seeded its
    calibration (model) or its sampler (bayesian), how many points it never started, and
    its prediction error per trial."""
    if not search:
        return []
    out = []
    if seeded := search.get("seeded_from") or []:
        out += ["**Sampler seeded:** the Bayesian sampler's history started from related "
                "experiments' measured trials (same engine, model and GPU type, this host), "
                "judged under this experiment's objective and SLOs; they are not this run's "
                "measurements and are not ranked here:"
                if search.get("method") == "bayesian" else
                "**Model search seeded:** the calibration started from related experiments' "
                "measurements (same engine, model and GPU type, this host), not this run's:",
                "", *[f"- seeded from report `{s['report']}` ({s['trials']} trial(s))"
                      for s in seeded], ""]
    if left := search.get("left_out"):
        out += [f"**Never started:** {len(left)} point(s) the memory plan or a measured "
                "start failure says cannot start (`tuneops plan` lists the plan's).", ""]
    rows = [e for e in search.get("prediction_errors") or [] if e.get("error_before") is not None]
    if rows:
        def pct(v: float | None) -> str:
            return "—" if v is None else f"{v:+.1%}"

        out += ["**Model prediction error** (objective, predicted before the trial vs "
                "measured; after: the calibrated model's):", "",
                table(["trial", "predicted", "measured", "error before", "error after"],
                      [[f"`{e['trial_id']}`", fmt(e.get("predicted")), fmt(e.get("measured")),
                        pct(e.get("error_before")), pct(e.get("error_after"))] for e in rows]),
                ""]
    return out


def render(
    exp: Experiment,
    ranking: rankings.Ranking,
    doc: dict[str, Any],
    plots: list[str],
    manifests_root: Path | None = None,
) -> str:
    """The whole report.md from the run's ranking and the results.json document."""
    ranked = ranking.trials
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
    at = "offered rate" if exp.benchmark.load is not None else "concurrency"
    out += [f"**Objective:** {o.direction} `{o.metric}` at {at} `{o.concurrency}`"
            + (f" in scenario `{o.scenario}`" if o.scenario else " (mean over scenarios)"), ""]
    if exp.slos:
        out += ["**SLOs:** " + ", ".join(
            f"`{s.metric}` {s.limit_text()}" for s in exp.slos), ""]
    if exp.request_slos:
        out += ["**Goodput:** a request is good when it succeeded and its own "
                + " and ".join(f"`{s.text()}`" for s in exp.request_slos)
                + " (good req/s, good out tok/s: per second of the run; good: their share)", ""]
    summ = doc["summary"]
    b = exp.benchmark
    reps = (f"{b.repeats}" if b.repeats_max is None
            else f"{b.repeats}–{b.repeats_max} (until ± {b.target_relative_ci * 100:g} %)")
    if b.fresh_engine_per_repeat:
        reps += ", each on a fresh engine"
    out += [f"**Trials:** {summ['trials']} · completed {summ['completed']} · feasible "
            f"{summ['feasible']} · failed {summ['failed']} · measurements per point: {reps}"
            " · intervals: 95 %", ""]
    conf = doc.get("confirmation")
    if conf and conf.get("measurements"):
        out += [f"**Confirmation:** {conf['measurements']} re-measurement(s) of the top "
                f"{len(conf['candidates'])} candidates in alternation, fresh engine each "
                "(a candidate out of the best's reach drops out of the race), "
                f"{conf['seconds']:.0f} s; stopped: {conf['stopped_by']}.", ""]
    reused = [r for r in ranking.trials if r.reused_from]
    if reused:  # runner/store.py: same trial id, measured by an earlier run
        out += [f"**Reused:** {len(reused)} of {len(ranking.trials)} trial(s) were not measured "
                "in this run; their results come from earlier reports:", "",
                *[f"- `{r.trial_id}` ← `{r.reused_from}`" for r in reused], ""]
    out += model_search_lines(doc.get("search"))
    out += _warnings(exp, ranking)
    out += _decision(exp, ranking, doc)
    best = ranking.best
    if best is not None:
        s = best.score
        out += [table(["parameter", "value"], [[f"`{k}`", fmt(v)] for k, v in best.params.items()]),
                ""]
        if s.slo_checks:
            out += [table(["SLO", "limit", "value", "requests", "verdict"],
                          [[f"`{c.metric}`", f"{c.bound.symbol} {c.limit:g}",
                            pm(c.value, c.low, c.high),
                            "—" if c.requests is None else f"{c.requests}"
                            + (f" (needs {c.min_requests})" if c.min_requests
                               and c.requests < c.min_requests else ""),
                            f"{_mark(c)} {c.verdict or ('met' if c.met else 'violated')}"]
                           for c in s.slo_checks]), ""]
        how, text = deploy_command(exp, best, manifests_root)
        out += [f"Deploy it with {how}:", "", "```sh", text, "```", ""]

    out += telemetry_md.section(ranking, exp.objective.scenario)
    out += ["## All trials", "",
            "`=` marks the tie set; `n` counts measurements behind the objective; ❔ an SLO "
            "whose interval straddles its limit (or too few requests).", "",
            summary_table(ranking, exp), ""]
    out += load_section(exp, ranking)
    if plots:
        out += ["## Plots", ""]
        out += [*[f"![{Path(p).stem}]({p})" for p in plots], ""]
    completed = [r for r in ranked if r.status == COMPLETED and r.metrics]
    if completed:
        out += ["## Per-rate detail" if exp.benchmark.load is not None
                else "## Per-concurrency detail", ""]
        for i, r in enumerate(ranked, 1):
            if r in completed:
                params = ", ".join(f"{k}={fmt(v)}" for k, v in r.params.items())
                out += [f"### #{i} `{r.trial_id}` ({params})", "", _detail(exp, r), ""]
                if r.not_run:  # early stop or pruning: levels left out on purpose, and why
                    out += ["Not measured:", "", *[f"- {why}" for why in r.not_run], ""]
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


def pr_summary(exp: Experiment, ranking: rankings.Ranking, doc: dict[str, Any]) -> str:
    """summary.md: the block the CI bot posts on a pull request for this run."""
    out = [f"### `{exp.name}` — run `{doc['run']['id']}`", ""]
    if doc.get("simulated"):
        out += [f"> [!WARNING]\n> **{BANNER}.**", ""]
    best = ranking.best
    o = exp.objective
    if best is None:
        out += ["**No trial met every SLO.**", ""]
    else:
        def one(r: TrialResult) -> str:
            params = ", ".join(f"`{k}={fmt(v)}`" for k, v in r.params.items())
            s = r.score
            return (f"`{r.trial_id}` ({params}) — {o.metric} = "
                    f"**{pm(s.objective, s.objective_low, s.objective_high)}**")
        if len(ranking.ties) > 1:
            out += [f"**Tie set ({len(ranking.ties)}, within the noise):**", ""]
            out += [f"- {one(r)}" for r in ranking.ties] + [""]
        else:
            out += [f"**Best:** {one(best)}"
                    + ("" if ranking.spread_known else " (spread unknown: one measurement)"), ""]
    contended = sum(r.contended for r in ranking.trials)
    if contended:
        out += [f"> [!WARNING]\n> {contended} trial(s) measured on a contended host.", ""]
    summ = doc["summary"]
    out += [f"{summ['trials']} trial(s): {summ['completed']} completed, {summ['feasible']} "
            f"feasible, {summ['failed']} failed.", "", summary_table(ranking, exp, limit=20),
            ""]
    return "\n".join(out)
