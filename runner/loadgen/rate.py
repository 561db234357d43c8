"""Measure one trial at open-loop request rates with AIPerf: listed rates, a capacity
search (capacity.py), or a trace replayed at its own timestamps; every point one
`aiperf profile` run read back by aiperf.py.

The outcome has genai-bench's shape (runner.bench.BenchOutcome), so repeats, scoring and
reports take it unchanged: metrics[scenario][rate] instead of [scenario][concurrency]. A
point where the load generator fell behind is not scored: it is left out of the metrics
and named in `not_run` with the reason, and the rates above it are not measured (the
generator cannot offer them either).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from tuneops.runner.bench import levels
from tuneops.runner.bench.command import LOG_FILE, resolve_tokenizer
from tuneops.runner.bench.parse import BenchOutcome
from tuneops.runner.bench.process import BenchProcess, log_tail
from tuneops.runner.loadgen import aiperf, capacity, venv
from tuneops.runner.loadgen.warm import WarmAIPerf, WarmFailure, WarmPool

from tuneops.checks_benchmark import TRACE
from tuneops.metrics import MAX_SLO_RATE, Verdict
from tuneops.spec import Experiment, Load
from tuneops.workloads import mean_rate, read_trace, span_s
from tuneops.workloads.paths import find_local

FIXED_SLACK_S = 240.0  # AIPerf's start-up and teardown: 30 s idle, up to 110 s at load 20
GRACE_S = 30.0  # AIPerf's --benchmark-grace-period


def point_timeout(load: Load, rate: float, send_s: float | None = None) -> float:
    """Hard limit for one run: its sending time (a trace's span; its duration, or its
    requests at the offered rate, doubled for Poisson and gamma bursts), then the last
    request's own time limit (an overloaded server's backlog ends as errors,
    aiperf.REQUEST_TIMEOUT_S), the grace period and AIPerf's start-up."""
    if send_s is None:
        send_s = load.duration_s if load.duration_s is not None else 2.0 * load.requests / rate
    return send_s + aiperf.REQUEST_TIMEOUT_S + GRACE_S + FIXED_SLACK_S


def _pooled(runs: list[aiperf.Point]) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Several runs at one rate as one measurement: counts summed, the rest averaged,
    requests pooled."""
    counts = {"num_requests", "num_completed_requests", "num_error_requests"}
    names = {k for p in runs for k in p.metrics}
    out: dict[str, float] = {}
    for name in names:
        vals = [p.metrics[name] for p in runs if name in p.metrics]
        out[name] = sum(vals) if name in counts else sum(vals) / len(vals)
    records: dict[str, list[float]] = {}
    for p in runs:
        for name, vals in p.records.items():
            records.setdefault(name, []).extend(vals)
    return out, records


class _Stop(Exception):
    def __init__(self, outcome: BenchOutcome) -> None:
        super().__init__(outcome.reason)
        self.outcome = outcome


def run(exp: Experiment, base_url: str, out_dir: str | os.PathLike, *, gpu_count: int,
        cancel: threading.Event | None = None, watch: Callable[[], str | None] | None = None,
        cpus: Sequence[int] = (), aiperf_cli: str | None = None,
        warm: WarmPool | None = None) -> BenchOutcome:
    """Every scenario of the trial at its rates; never raises for a failed measurement.
    With a `warm` pool, each point is forked by a warm AIPerf parent (warm.py) leased for
    the whole trial; without one, or when the parent fails, the `aiperf` CLI runs it."""
    if warm is None:
        return _run(exp, base_url, out_dir, gpu_count=gpu_count, cancel=cancel, watch=watch,
                    cpus=cpus, aiperf_cli=aiperf_cli, parent=None)
    with warm.lease() as parent:
        return _run(exp, base_url, out_dir, gpu_count=gpu_count, cancel=cancel, watch=watch,
                    cpus=cpus, aiperf_cli=aiperf_cli, parent=parent)


def _start(cmd: list[str], folder: Path, cpus: Sequence[int], parent: WarmAIPerf | None):
    """One AIPerf run of `cmd`: forked by the warm parent, or the CLI when there is none
    or it failed (its failure is noted in the point's log; the numbers are the run's)."""
    if parent is not None and parent.alive:
        folder.mkdir(parents=True, exist_ok=True)
        log = folder / LOG_FILE
        try:
            with open(log, "ab") as f:
                f.write(("$ " + " ".join(cmd) + f"\n# forked by the warm AIPerf parent "
                         f"{parent.proc.pid}\n").encode())
            return parent.start(cmd[1:], folder, log, cpus)
        except (WarmFailure, OSError) as e:
            with open(log, "ab") as f:
                f.write(f"# the warm AIPerf parent failed ({e}); the CLI runs it\n".encode())
    return BenchProcess(cmd, folder, aiperf.env(), cpus)


def _run(exp: Experiment, base_url: str, out_dir: str | os.PathLike, *, gpu_count: int,
         cancel: threading.Event | None, watch: Callable[[], str | None] | None,
         cpus: Sequence[int], aiperf_cli: str | None, parent: WarmAIPerf | None
         ) -> BenchOutcome:
    load = exp.benchmark.load
    assert load is not None
    t0 = time.monotonic()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cli = aiperf_cli or (str(venv.executable()) if venv.ready() else None)
    if cli is None or not (Path(cli).exists() or shutil.which(cli)):
        return BenchOutcome(ok=False, infra=True, reason=venv.missing_message())
    tokenizer = resolve_tokenizer(exp)
    outcome = BenchOutcome(ok=True, folder=str(out_dir))
    seq = [0]

    def measure(scenario: str, rate: float, schedule: Path | None = None,
                send_s: float | None = None) -> aiperf.Point:
        seq[0] += 1
        folder = out_dir / f"aiperf-{seq[0]:02d}-{_safe(scenario)}-{rate:g}"
        if schedule is not None:
            cmd = aiperf.build_trace_command(exp, base_url, folder, schedule=schedule,
                                             aiperf=cli, tokenizer=tokenizer, seed=seq[0])
        else:
            cmd = aiperf.build_command(exp, base_url, folder, scenario=scenario, rate=rate,
                                       aiperf=cli, tokenizer=tokenizer, seed=seq[0])
        try:
            proc = _start(cmd, folder, cpus, parent)
        except OSError as e:
            raise _Stop(BenchOutcome(ok=False, infra=True,
                                     reason=f"could not start AIPerf: {e}")) from e
        try:
            rc, why = proc.wait(point_timeout(load, rate, send_s), cancel, watch)
        except WarmFailure as e:  # the parent died with the run: no result, the runner's fault
            raise _Stop(BenchOutcome(ok=False, infra=True,
                                     reason=f"AIPerf at {rate:g} req/s: {e}")) from e
        outcome.log_path = str(proc.log_path)
        if why == "cancelled":
            raise _Stop(BenchOutcome(ok=False, cancelled=True, reason="benchmark cancelled"))
        if why.startswith("engine died"):
            raise _Stop(BenchOutcome(ok=False, engine_died=True,
                                     reason=f"{why} while AIPerf ran; AIPerf stopped"))
        point = aiperf.read_point(folder, load, rate, gpu_count=gpu_count,
                                  request_slos=exp.request_slos)
        if why == "timeout" or (rc != 0 and not point.ok):
            tail = log_tail(proc.log_path)
            what = "did not finish in time" if why == "timeout" else f"exited with {rc}"
            point = aiperf.Point(ok=False, reason=f"AIPerf {what} at {rate:g} req/s"
                                 + (f"; {point.reason}" if point.reason else "")
                                 + (f"\n{tail}" if tail else ""))
        outcome.files.append(str(folder / aiperf.SUMMARY))
        return point

    try:
        if load.type == TRACE:
            _replay(exp, out_dir, measure, outcome)
        elif load.search == "capacity":
            for scenario in exp.benchmark.traffic_scenarios:
                _search(exp, scenario, measure, outcome)
        else:
            for scenario in exp.benchmark.traffic_scenarios:
                _sweep(exp, scenario, measure, outcome)
    except _Stop as stop:
        stop.outcome.duration_s = round(time.monotonic() - t0, 3)
        stop.outcome.log_path = outcome.log_path
        return stop.outcome
    outcome.duration_s = round(time.monotonic() - t0, 3)
    if not outcome.metrics:
        outcome.ok = False
        outcome.reason = outcome.reason or "no rate was measured: " + "; ".join(outcome.not_run)
    return outcome


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text).strip("_")


def _record(outcome: BenchOutcome, scenario: str, rate: float,
            runs: list[aiperf.Point]) -> None:
    metrics, records = _pooled(runs)
    outcome.metrics.setdefault(scenario, {})[rate] = metrics
    outcome.records.setdefault(scenario, {})[rate] = records


def _unusable(outcome: BenchOutcome, scenario: str, rate: float, point: aiperf.Point,
              later: list[float]) -> None:
    """A point that is no measurement of the server: why, and the rates not run after it."""
    why = point.behind or point.reason
    outcome.not_run.append(f"{scenario}@{rate:g}: not scored: {why}")
    outcome.not_run += [f"{scenario}@{r:g}: not run: the load generator fell behind at "
                        f"{rate:g}" for r in later if point.behind]
    if not point.behind and not outcome.reason:
        outcome.reason = f"{scenario}@{rate:g}: {point.reason}"


def _replay(exp: Experiment, out_dir: Path, measure, outcome: BenchOutcome) -> None:
    """benchmark.trace, replayed once at its own timestamps (AIPerf's fixed schedule): one
    point, offered at the trace's mean rate, flagged like any other when AIPerf fell behind
    its schedule."""
    path = find_local(exp.benchmark.trace or "", exp.source_file)
    rows, problems = read_trace(path) if path is not None else ([], [])
    offered = mean_rate(rows)
    if path is None or problems or offered is None:
        # validate checked it; the file changed or went away since
        why = (f"line {problems[0].line}: {problems[0].message}" if problems
               else "no such file" if path is None else "no rate (one instant)")
        raise _Stop(BenchOutcome(ok=False, reason=f"the trace {exp.benchmark.trace!r} cannot "
                                 f"be replayed: {why}"))
    offered = round(offered, 6)
    schedule = aiperf.write_schedule(rows, out_dir / "trace-schedule.jsonl")
    point = measure(TRACE, offered, schedule, span_s(rows))
    if not point.ok or point.behind:
        _unusable(outcome, TRACE, offered, point, [])
        return
    _record(outcome, TRACE, offered, [point])


def _sweep(exp: Experiment, scenario: str, measure, outcome: BenchOutcome) -> None:
    """Listed rates, ascending; early stop once an SLO is lost beyond the noise."""
    rates = sorted(exp.benchmark.load.rates)
    stoppable = [s for s in exp.slos if s.can_stop_early]
    for i, rate in enumerate(rates):
        point = measure(scenario, rate)
        if not point.ok or point.behind:
            _unusable(outcome, scenario, rate, point, rates[i + 1:])
            if point.behind:
                return
            continue
        _record(outcome, scenario, rate, [point])
        if exp.benchmark.early_stop and stoppable and capacity.judge(
                stoppable, [point.metrics], point.records) is Verdict.VIOLATED:
            outcome.not_run += [f"{scenario}@{r:g}: not run: SLO lost at {rate:g}"
                                for r in rates[i + 1:]]
            return


def _search(exp: Experiment, scenario: str, measure, outcome: BenchOutcome) -> None:
    """The capacity search: the highest rate holding every SLO, each rate judged by the
    sequential rule over its runs (capacity.py)."""
    low, high = exp.benchmark.load.rates
    slos = [s for s in exp.slos if s.can_stop_early] or list(exp.slos)
    held: dict[float, bool] = {}
    while (rate := capacity.next_rate(low, high, held)) is not None:
        runs: list[aiperf.Point] = []
        verdict: bool | None = None
        behind = 0
        while verdict is None:
            point = measure(scenario, rate)
            if point.ok and point.behind:
                # the generator's failing, not the server's: this run says nothing of the
                # rate; take it again, and give up on the search when it keeps failing
                behind += 1
                outcome.not_run.append(f"{scenario}@{rate:g}: not scored: {point.behind}")
                if behind >= capacity.MOST_RUNS_PER_RATE:
                    raise _Stop(BenchOutcome(
                        ok=False, infra=True, not_run=list(outcome.not_run),
                        reason=f"the load generator fell behind {behind} times at {rate:g} "
                               f"req/s ({point.behind}): no capacity is claimed"))
                continue
            if not point.ok:  # every request errored at this rate: it does not hold
                _unusable(outcome, scenario, rate, point, [])
                verdict = False
                break
            runs.append(point)
            _, records = _pooled(runs)
            verdict = capacity.decided(
                capacity.judge(slos, [p.metrics for p in runs], records), len(runs))
        if runs:
            _record(outcome, scenario, rate, runs)
        held[rate] = verdict
    found = float(levels.max_holding(low, high, held))
    for values in outcome.metrics.get(scenario, {}).values():
        values[MAX_SLO_RATE] = float(found)
