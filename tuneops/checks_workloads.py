"""Workload checks: shared prefixes, ShareGPT datasets and request traces, caught before a
run. A workload file's problems are reported at that file's line (tuneops/workloads/)."""

from __future__ import annotations

import re

from tuneops.checks_base import Context
from tuneops.checks_benchmark import SCENARIOS, TRACE
from tuneops.errors import Diagnostic
from tuneops.workloads import Problem, mean_rate, read_sharegpt, read_trace
from tuneops.workloads.paths import find_local

SHAREGPT = "sharegpt"


def check(ctx: Context) -> None:
    check_shared_prefix(ctx)
    check_sharegpt(ctx)
    check_trace(ctx)


def _file_problems(ctx: Context, where: str, path: str, problems: list[Problem]) -> None:
    for p in problems:
        ctx.diagnostics.append(Diagnostic(path, p.line, 1, where, p.message, p.hint))


def _local(ctx: Context, field: str, value: str, what: str) -> str | None:
    found = find_local(value, ctx.exp.source_file)
    if found is None or not found.is_file():
        ctx.error(("benchmark", field), f"{value!r} is no local file", f"{what}: a path next "
                  "to the experiment, in the working directory, or under assets/")
        return None
    return str(found)


def check_sharegpt(ctx: Context) -> None:
    b = ctx.exp.benchmark
    if b.multi_turn and b.dataset_format != SHAREGPT:
        ctx.error(("benchmark", "multiTurn"), "multiTurn sends the turns of ShareGPT "
                  "conversations; benchmark.datasetFormat is not sharegpt",
                  "datasetFormat: sharegpt, or remove multiTurn")
    if b.dataset_format != SHAREGPT:
        return
    if not b.dataset:
        ctx.error(("benchmark", "datasetFormat"), "datasetFormat sharegpt reads "
                  "benchmark.dataset, which is not given",
                  "dataset: assets/datasets/sharegpt-sample.json, or your own file")
        return
    path = _local(ctx, "dataset", b.dataset, "a ShareGPT file")
    if path is not None:
        _file_problems(ctx, "benchmark.dataset", path, read_sharegpt(path)[1])


def check_trace(ctx: Context) -> None:
    """benchmark.trace: every row checked at its line, a rate to offer, and a load that can
    honour its arrival times (only the open-loop replay, benchmark.load type trace)."""
    b = ctx.exp.benchmark
    replay = b.load is not None and b.load.type == TRACE
    if TRACE in b.traffic_scenarios and not replay:
        ctx.error(("benchmark", "trafficScenarios", b.traffic_scenarios.index(TRACE)),
                  "the trace scenario replays benchmark.trace, and only an open-loop trace "
                  "load can", "benchmark.load: {type: trace}")
    if not b.trace:
        return
    path = _local(ctx, "trace", b.trace, "a JSONL trace")
    if path is not None:
        rows, problems = read_trace(path)
        _file_problems(ctx, "benchmark.trace", path, problems)
        if rows and not problems and mean_rate(rows) is None:
            ctx.error(("benchmark", "trace"), f"{b.trace}: every request is at one instant, so "
                      "the replay has no rate to report", "at least two distinct timestamps")
    if not replay:
        ctx.error(("benchmark", "trace"), "a trace replays arrival times, and genai-bench's "
                  "closed-loop concurrency sends each request when another finishes: it "
                  "cannot honour them", "replay it with benchmark.load: {type: trace}; for "
                  "a closed-loop request mix use trafficScenarios or a dataset")


def fewest_input_tokens(text: str) -> int | None:
    """The fewest input tokens a scenario draws, as genai-bench bounds them for --prefix-len
    (genai_bench/cli/validation.py `_get_min_input_tokens`): D its input, N mean - 3 sd (at
    least 1), U its min (or 1); None for scenarios without text input."""
    letter = text[:1]
    if letter not in "DNU" or letter not in SCENARIOS:
        return None
    m = re.fullmatch(SCENARIOS[letter][0], text)
    if not m:
        return None
    nums = [int(g) for g in m.groups() if g is not None]
    if letter == "N":
        return max(1, nums[0] - 3 * nums[1])
    if letter == "U":
        return nums[0] or 1
    return nums[0]


def check_shared_prefix(ctx: Context) -> None:
    """benchmark.sharedPrefix, checked as genai-bench's validate_prefix_options does once it
    has started (after the engine loaded): text-to-text only, never the dataset scenario, a
    ratio only over D scenarios, a prefix no longer than the shortest input drawn."""
    b = ctx.exp.benchmark
    if b.prefix_tokens is None and b.prefix_ratio is None:
        return
    path = ("benchmark", "sharedPrefix", "tokens" if b.prefix_tokens is not None else "ratio")
    if b.task != "text-to-text":
        ctx.error(path, f"a shared prefix is for text-to-text, not {b.task}",
                  "remove benchmark.sharedPrefix")
        return
    for i, text in enumerate(b.traffic_scenarios):
        where = ("benchmark", "trafficScenarios", i)
        if text == "dataset":
            ctx.error(where, "the dataset scenario sends the dataset's own prompts: genai-bench "
                      "adds no shared prefix to them", "remove dataset, or sharedPrefix")
        elif b.prefix_ratio is not None and not text.startswith("D("):
            ctx.error(where, f"a prefix ratio needs fixed input lengths; {text!r} draws them",
                      "use D(input,output) scenarios, or sharedPrefix.tokens")
        elif b.prefix_tokens is not None:
            fewest = fewest_input_tokens(text)
            if fewest is not None and fewest < b.prefix_tokens:
                ctx.error(path, f"a {b.prefix_tokens}-token prefix is longer than the "
                          f"{fewest} input tokens {text!r} can draw",
                          f"tokens <= {fewest}, or longer inputs")


