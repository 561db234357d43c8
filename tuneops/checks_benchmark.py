"""Benchmark, objective and SLO checks: what genai-bench would reject, caught before a run.

genai-bench validates traffic scenarios only once it starts (after the engine took minutes
to load), so the same grammar is checked here: D/N/U for text generation, E for
embeddings, R for rerank, I for images, A for speech, and `dataset`.
"""

from __future__ import annotations

import importlib.util
import math
import re

from tuneops.checks_base import Context
from tuneops.checks_schema import did_you_mean
from tuneops.metrics import GOODPUT_METRICS, MAX_SLO_CONCURRENCY, MAX_SLO_RATE, METRICS, Slo

TRACE = "trace"  # the scenario (and load type) replaying benchmark.trace

# scenario letter -> (regex, what it means), mirroring genai_bench/scenarios/*.py
SCENARIOS = {
    "D": (r"^D\((\d+),(\d+)\)$", "D(input,output)"),
    "N": (r"^N\((\d+),(\d+)\)/\((\d+),(\d+)\)$", "N(mean_in,sd_in)/(mean_out,sd_out)"),
    "U": (r"^U\((\d+),(\d+)\)(?:/\((\d+),(\d+)\))?$", "U(min_in,max_in)/(min_out,max_out)"),
    "E": (r"^E\((\d+)\)$", "E(tokens)"),
    "R": (r"^R\((\d+),(\d+)\)$", "R(doc_tokens,query_tokens)"),
    "I": (r"^I\((\d+),(\d+)(?:,(\d+))?\)$", "I(width,height[,images])"),
    "A": (r"^A\((\d+)\)$", "A(chars)"),
}
TASK_SCENARIOS = {
    "text-to-text": "DNU",
    "text-to-embeddings": "E",
    "text-to-rerank": "R",
    "text-to-image": "I",
    "image-text-to-text": "I",
    "image-to-embeddings": "I",
    "text-to-speech": "A",
}


def scenario_problem(text: str, task: str) -> tuple[str, str] | None:
    """(message, hint) when `text` is not a scenario genai-bench accepts for `task`."""
    if text in ("dataset", TRACE):  # a trace without its open-loop load: check_trace
        return None
    letter = text[:1]
    allowed = TASK_SCENARIOS.get(task, "")
    forms = " or ".join(SCENARIOS[c][1] for c in allowed)
    if letter not in SCENARIOS:
        return f"{text!r} is not a traffic scenario", f"for {task}: {forms} or dataset"
    pattern, form = SCENARIOS[letter]
    m = re.fullmatch(pattern, text)  # not re.match: `$` also matches before a final newline
    if not m:
        hint = "no spaces inside" if text.strip() != text or " " in text else f"write it as {form}"
        return f"{text!r} is not a valid {letter} scenario", hint
    if letter not in allowed:
        return (
            f"{letter} scenarios ({form}) do not fit task {task}",
            f"{task} takes {forms} or dataset",
        )
    nums = [int(g) for g in m.groups() if g is not None]
    if letter == "U" and len(nums) == 4 and (nums[0] > nums[1] or nums[2] > nums[3]):
        return f"{text!r}: a uniform range needs min <= max", ""
    if letter == "N":
        sizes = (nums[0], nums[2])  # means; a standard deviation may be 0
    elif letter == "U":
        sizes = (nums[1], nums[3]) if len(nums) == 4 else tuple(nums)
    else:
        sizes = tuple(nums)
    if 0 in sizes:
        return f"{text!r} asks for zero tokens or a zero size", "every size must be at least 1"
    return None


def rate_scenario_lengths(text: str) -> tuple[int, int, int, int] | None:
    """(input mean, input sd, output mean, output sd) of a scenario an open-loop load can
    send (D and N: AIPerf's --isl/--isl-stddev/--osl/--osl-stddev), None for any other.
    The one place that maps genai-bench's scenario grammar onto AIPerf's lengths."""
    for letter in "DN":
        m = re.fullmatch(SCENARIOS[letter][0], text)
        if m:
            n = [int(g) for g in m.groups()]
            return (n[0], 0, n[1], 0) if letter == "D" else (n[0], n[1], n[2], n[3])
    return None


def check_load(ctx: Context) -> None:
    """benchmark.load (open-loop rates): every combination the runner cannot honour is
    refused here, with its position."""
    exp = ctx.exp
    bench, obj, load = exp.benchmark, exp.objective, exp.benchmark.load
    if load is None:
        if obj.metric == MAX_SLO_RATE:
            ctx.error(("objective", "metric"), f"{MAX_SLO_RATE} is the answer of a capacity "
                      "search over request rates, and this experiment has no benchmark.load",
                      "add benchmark.load: {type: rate, rates: {search: capacity, low, high}}")
        return
    where = ("benchmark", "load")
    if ctx.get("benchmark", "concurrency") is not None:
        ctx.error(("benchmark", "concurrency"), "benchmark.concurrency (closed loop) and "
                  "benchmark.load (open-loop rates) cannot both load a trial",
                  "keep one of them")
    if bench.task != "text-to-text":
        ctx.error(("benchmark", "task"), f"open-loop rates are measured for text-to-text only, "
                  f"not {bench.task}", "use benchmark.concurrency for other tasks")
    if load.type == TRACE:
        check_trace_load(ctx)
        return
    if not load.rates:
        ctx.error(where + ("type",), "benchmark.load type rate needs rates",
                  "rates: [1, 2, 4] or {search: capacity, low: 1, high: 16}")
    if TRACE in bench.traffic_scenarios:
        ctx.error(("benchmark", "trafficScenarios", bench.traffic_scenarios.index(TRACE)),
                  "the trace scenario replays benchmark.trace at its own timestamps, not at "
                  "offered rates", "benchmark.load: {type: trace}")
    if bench.task == "text-to-text":
        for i, text in enumerate(bench.traffic_scenarios):
            if scenario_problem(text, bench.task) is None and rate_scenario_lengths(text) is None:
                ctx.error(("benchmark", "trafficScenarios", i),
                          f"{text!r} cannot be sent at a request rate",
                          "under benchmark.load use D(input,output) or "
                          "N(mean_in,sd_in)/(mean_out,sd_out)")
    if (load.duration_s is None) == (load.requests is None):
        ctx.error(where, "benchmark.load needs either duration or requests per rate"
                  + (", not both" if load.duration_s is not None else ""),
                  "e.g. requests: 200 (a p99 needs at least 100) or duration: 60s")
    if load.search == "capacity" and len(load.rates) == 2:
        low, high = load.rates
        if low >= high:
            ctx.error(where + ("rates", "high"), f"high ({high:g}) must be more than low "
                      f"({low:g})", "capacity search looks for the rate between low and high")
        if not any(s.can_stop_early for s in exp.slos):
            ctx.error(where + ("rates",), "a capacity search needs an SLO that load makes "
                      "worse (a latency or the per-request speed): without one every rate holds",
                      "add an SLO, e.g. {metric: ttft.p99, max: 2000}")
    elif obj.metric == MAX_SLO_RATE:
        ctx.error(("objective", "metric"), f"{MAX_SLO_RATE} needs benchmark.load.rates: "
                  "{search: capacity, low, high}", "or pick a measured metric")
    if obj.metric == MAX_SLO_CONCURRENCY:
        ctx.error(("objective", "metric"), f"{MAX_SLO_CONCURRENCY} is found over concurrency "
                  "levels; this experiment loads trials at request rates",
                  f"use {MAX_SLO_RATE} with rates: {{search: capacity, low, high}}")
    if isinstance(obj.concurrency, int):
        ctx.error(("objective", "concurrency"), "objective.concurrency names a concurrency "
                  "level, but this experiment loads trials at request rates",
                  "use best_feasible, mean or max")


def check_trace_load(ctx: Context) -> None:
    """benchmark.load type trace: the trace's timestamps are the load, so nothing else may
    shape it; the trace itself is read and checked in checks_workloads.check_trace."""
    exp = ctx.exp
    where = ("benchmark", "load")
    for key in ("rates", "arrival", "duration", "requests"):
        if ctx.get(*where, key) is not None:
            ctx.error(where + (key,), f"a trace replay sends each request at its own timestamp:"
                      f" {key} has no meaning there", f"remove benchmark.load.{key}")
    if not exp.benchmark.trace:
        ctx.error(where + ("type",), "benchmark.load type trace replays benchmark.trace, which "
                  "is not given", "trace: a JSONL of {timestamp, input_tokens, output_tokens}")
    if list(exp.benchmark.traffic_scenarios) != [TRACE]:
        ctx.error(("benchmark", "trafficScenarios"), "a trace replay sends the trace's own "
                  "requests: trafficScenarios must be [trace]", "trafficScenarios: [trace]")
    if exp.objective.metric in (MAX_SLO_RATE, MAX_SLO_CONCURRENCY):
        ctx.error(("objective", "metric"), f"{exp.objective.metric} is found by a search over "
                  "load levels; a trace replay is one point at the trace's own rate",
                  "pick a measured metric, e.g. goodput_requests_per_s or ttft.p99")
    if isinstance(exp.objective.concurrency, int):
        ctx.error(("objective", "concurrency"), "objective.concurrency names a concurrency "
                  "level, but this experiment replays a trace", "use best_feasible")
    if exp.search.pruning_margin is not None:
        ctx.error(("search", "pruning"), "pruning stops a trial after its first load level; a "
                  "trace replay is one point", "remove search.pruning")


# what each search.sampler imports beyond Optuna (runner/search/samplers.py)
SAMPLER_NEEDS = {"gp": ("torch", "scipy"), "qmc": ("scipy",), "cmaes": ("cmaes",)}


def check_sampler(ctx: Context) -> None:
    """search.sampler: only Bayesian search (or model's fallback to it) asks a sampler, and
    the sampler's own libraries must be installed before the first trial, not after."""
    s = ctx.exp.search
    if s.sampler is None:
        return
    if s.method not in ("bayesian", "model"):
        ctx.error(("search", "sampler"),
                  f"sampler needs search.method bayesian (this experiment uses {s.method})",
                  "remove search.sampler, or search with method bayesian")
        return
    missing = [m for m in SAMPLER_NEEDS.get(s.sampler, ())
               if importlib.util.find_spec(m) is None]
    if missing:
        ctx.error(("search", "sampler"),
                  f"sampler {s.sampler} needs {' and '.join(missing)}, not installed here",
                  "pip install 'tuneops[search]', or use sampler tpe")


def check(ctx: Context) -> None:
    check_noise(ctx)
    check_goodput(ctx)
    check_load(ctx)
    exp = ctx.exp
    bench, obj = exp.benchmark, exp.objective
    for i, text in enumerate(bench.traffic_scenarios):
        problem = scenario_problem(text, bench.task)
        if problem:
            ctx.error(("benchmark", "trafficScenarios", i), *problem)
    needs_data = "dataset" in bench.traffic_scenarios or bench.task.startswith("image-")
    if needs_data and not bench.dataset:
        why = "the dataset scenario" if "dataset" in bench.traffic_scenarios else bench.task
        ctx.error(
            ("benchmark",),
            f"{why} needs benchmark.dataset",
            "a dataset path or hub id for genai-bench",
        )
    if exp.search.pruning_margin is not None and exp.search.method != "bayesian":
        ctx.error(
            ("search", "pruning"),
            f"pruning needs search.method bayesian (this experiment uses {exp.search.method})",
            "remove search.pruning, or search with method bayesian",
        )
    check_sampler(ctx)
    if bench.concurrency_search and bench.concurrency[0] >= bench.concurrency[1]:
        ctx.error(
            ("benchmark", "concurrency", "high"),
            f"high ({bench.concurrency[1]}) must be more than low ({bench.concurrency[0]})",
            "bisect searches the levels between low and high",
        )
    if bench.concurrency_search and isinstance(obj.concurrency, int):
        ctx.error(
            ("objective", "concurrency"),
            "a fixed objective level cannot be used with a concurrency search: which levels "
            "are measured depends on each trial",
            "use best_feasible, mean or max",
        )
    elif isinstance(obj.concurrency, int) and obj.concurrency not in bench.concurrency \
            and bench.load is None:
        levels = ", ".join(map(str, bench.concurrency))
        ctx.error(
            ("objective", "concurrency"),
            f"concurrency {obj.concurrency} is not benchmarked (benchmark.concurrency: {levels})",
            "pick one of those levels, or best_feasible, mean or max",
        )
    if obj.scenario is not None and obj.scenario not in bench.traffic_scenarios:
        ctx.error(
            ("objective", "scenario"),
            f"scenario {obj.scenario!r} is not among benchmark.trafficScenarios",
            did_you_mean(obj.scenario, bench.traffic_scenarios)
            or "choose one of " + ", ".join(bench.traffic_scenarios),
        )
    natural = METRICS[obj.metric].direction if obj.metric in METRICS else None
    if ctx.get("objective", "direction") and natural and obj.direction != natural:
        ctx.error(
            ("objective", "direction"),
            f"{obj.metric} is better when {natural.word}; {obj.direction} would pick the "
            "worst trial",
            f"use direction: {natural}, or leave direction out",
        )
    if obj.metric in METRICS and METRICS[obj.metric].per_gpu and exp.gpus_per_trial == 0:
        ctx.error(
            ("objective", "metric"),
            f"{obj.metric} needs GPUs, but trials get none",
            "set deployment.gpus, or use a metric that is not per GPU",
        )
    for i, raw in enumerate(ctx.plain.get("slos") or []):  # an entry bounding both sides
        if raw.get("perRequest"):
            continue  # check_goodput
        both = Slo.from_entry(raw)
        if len(both) == 2 and not both[1].holds(both[0].limit):
            ctx.error(("slos", i), f"min {both[1].limit:g} is above max {both[0].limit:g}: "
                      "no trial can pass", "")


# Tasks whose requests stream output tokens: the others (embeddings, rerank, images,
# speech) have no TPOT, and genai-bench records none (metrics.py OUTPUT_METRICS_FIELDS).
_TEXT_OUT_TASKS = ("text-to-text", "image-text-to-text")


def check_goodput(ctx: Context) -> None:
    """Per-request SLOs (the schema keeps them to ttft, tpot and e2e_latency with a max) and
    the goodput metrics, which mean nothing without them."""
    exp = ctx.exp
    for i, raw in enumerate(ctx.plain.get("slos") or []):
        if not raw.get("perRequest"):
            continue
        if "min" in raw:
            ctx.error(("slos", i, "min"), f"a per-request SLO on {raw['metric']} bounds each "
                      "request's latency from above; min has no meaning there",
                      "remove min (a floor on a statistic is an SLO without perRequest)")
        if raw["metric"] == "tpot" and exp.benchmark.task not in _TEXT_OUT_TASKS:
            ctx.error(("slos", i, "metric"), f"task {exp.benchmark.task} streams no output "
                      "tokens, so no request has a TPOT to judge",
                      "bound ttft or e2e_latency per request")
    named = [(("slos", i, "metric"), raw.get("metric"))
             for i, raw in enumerate(ctx.plain.get("slos") or []) if not raw.get("perRequest")]
    named.append((("objective", "metric"), exp.objective.metric))
    for path, name in named:
        if name in GOODPUT_METRICS and not exp.request_slos:
            ctx.error(path, f"{name} counts the requests that met every per-request SLO, "
                      "but no SLO here has perRequest: true",
                      "add e.g. {metric: ttft, max: 500, perRequest: true} to slos")


def check_noise(ctx: Context) -> None:
    """Repeats make sense, and percentiles are judged from enough requests: a pq from fewer
    than 100/(100-q) requests (p99: 100) is just the sample's extreme. Warnings: it runs,
    and the report says so again next to the verdict."""
    bench = ctx.exp.benchmark
    if bench.repeats_max is not None and bench.repeats_max < bench.repeats:
        ctx.error(("benchmark", "repeats", "max"),
                  f"max {bench.repeats_max} is below min {bench.repeats}", "max >= min")
    per_point = bench.max_requests_per_run * bench.repeats
    judged = [(("slos", i), raw.get("metric")) for i, raw in enumerate(ctx.plain.get("slos") or [])]
    judged.append((("objective", "metric"), ctx.exp.objective.metric))
    for path, metric in judged:
        m = METRICS.get(metric)
        stat = m.statistic if m is not None else None
        if stat is None or stat.percentile is None:
            continue
        need = stat.min_requests
        if per_point < need:
            ctx.warn(path, f"{metric} is judged from at most {per_point} request(s) per point "
                           f"(maxRequestsPerRun {bench.max_requests_per_run} x repeats "
                           f"{bench.repeats}); a {stat} needs at least {need}, below that it "
                           "is the sample's extreme and its verdict is uncertain",
                     f"maxRequestsPerRun >= {math.ceil(need / bench.repeats)}, or a lower "
                     "percentile")

