"""Warm start beyond identical ids: related experiments' measurements seed the search.

The result store (runner/store.py) reuses a result only for the very trial id it measured.
An experiment that differs in an SLO, its load levels or its grid shares no id with an
earlier one, yet its reports measured the same model on the same hardware: each measured
level says how far the performance model is off there, which is what `search.method:
model` calibrates (runner/search/model.py). `related` picks those levels out of the
reports the store already read and checked. `related_trials` picks whole trials for
`search.method: bayesian` (runner/search/bayesian.py), which tells them to its sampler:
only trials that measured every scenario and load level this experiment judges on (a
superset of its levels, e.g.), so that they are judged under this experiment's objective
and SLOs exactly as its own trials are; every other one is named with the reason.

Reports are untrusted input (a pull request can plant anything under reports/): they are
only ever read through the store (`ResultStore.scan`: the one loader, runner/report/load.py,
and its refusal of reports measured on another host), never opened here. What a report
claims is checked again before use: same engine, same model id, same GPU type; a level is
a whole number, a metric a finite positive number (for the sampler: a finite number in [0,
MAX_METRIC]); args the model cannot read, or params outside the space, skip their trial
(named in `skipped`), never half-used.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tuneops.runner.results import COMPLETED
from tuneops.runner.search.predict import request_sizes

from tuneops.spec import Experiment

if TYPE_CHECKING:  # read through the store only; it imports the report writers
    from tuneops.runner.store import ResultStore

MAX_TRIALS = 500  # seeded trials at most: a calibration needs tens, a report may hold thousands


@dataclass(frozen=True)
class Level:
    """One measured load level of a related trial: what the model is calibrated with."""

    source: str  # reports/<experiment>/<run-id>
    trial_id: str
    args: dict[str, Any]
    prompt: int
    output: int
    level: int
    metrics: dict[str, float]


@dataclass
class Related:
    levels: list[Level] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # why a report was passed over

    def sources(self) -> dict[str, int]:
        """report -> how many of its trials seeded the model."""
        out: dict[str, set[str]] = {}
        for lv in self.levels:
            out.setdefault(lv.source, set()).add(lv.trial_id)
        return {k: len(v) for k, v in out.items()}


def related(exp: Experiment, gpu: str, store: ResultStore, own_ids: set[str],
            metrics: list[str]) -> Related:
    """The measured levels of other experiments' trials (not `own_ids`, which the store
    reuses as they are) with the same engine, model id and GPU type `gpu`, from the
    reports `store` read."""
    out = Related()
    seen: set[str] = set()
    for source, report in _related_reports(exp, gpu, store, out.skipped):
        for trial in report.trials:
            if trial.status != COMPLETED or trial.trial_id in own_ids or trial.trial_id in seen:
                continue
            if len(seen) >= MAX_TRIALS:
                return out
            levels = list(_levels(source, trial.trial_id, trial.entry, metrics))
            if levels:
                seen.add(trial.trial_id)
                out.levels += levels
    return out


def _related_reports(exp: Experiment, gpu: str, store: ResultStore,
                     skipped: list[str]) -> Iterator[tuple[str, Any]]:
    """(reports/<experiment>/<run-id>, report) of every report the store read that is of
    the same engine, model id and GPU type, in path order; each other one is named in
    `skipped` with why. Both warm starts (the model's calibration, the sampler's history)
    read reports only through here."""
    for run_dir, report in sorted(store.reports.items(), key=lambda kv: str(kv[0])):
        source = f"reports/{run_dir.parent.name}/{run_dir.name}"
        if why := _unrelated(exp, gpu, report):
            skipped.append(f"{source}: {why}")
            continue
        yield source, report


def _unrelated(exp: Experiment, gpu: str, report: Any) -> str | None:
    """Why a report measured something else (None: same engine, model id and GPU type)."""
    doc = report.doc
    model = (doc["experiment"].get("model") or {}).get("id")
    if report.engine != exp.engine.name:
        return f"engine {report.engine}, not {exp.engine.name}"
    if model != exp.model.id:
        return f"model {model or 'not recorded'}, not {exp.model.id}"
    if (recorded := _gpu(report.engine, doc["hardware"].get("gpu_type"))) != gpu:
        return f"GPU {recorded or 'not recorded'}, not {gpu}"
    return None


def _gpu(engine: str, recorded: Any) -> str | None:
    """The GPU type a report was measured on; the simulator's is its default (H100,
    engines/sim/config.py) when the experiment named none."""
    if isinstance(recorded, str) and recorded:
        return recorded
    return "H100" if engine == "sim" else None


def _levels(source: str, trial_id: str, entry: dict[str, Any], metrics: list[str]):
    args = entry.get("args")
    by_scenario = entry.get("metrics")
    if not isinstance(args, dict) or not isinstance(by_scenario, dict):
        return
    for scenario, by_level in by_scenario.items():
        sizes = request_sizes(str(scenario))
        if sizes is None or not isinstance(by_level, dict):
            continue
        for level, values in by_level.items():
            if not (isinstance(level, str) and level.isdigit() and 0 < int(level) <= 1_000_000):
                continue
            if not isinstance(values, dict):
                continue
            got = {m: float(values[m]) for m in metrics
                   if isinstance(values.get(m), (int, float)) and not isinstance(values[m], bool)
                   and math.isfinite(values[m]) and values[m] > 0}
            if got:
                yield Level(source, trial_id, dict(args), sizes[0], sizes[1], int(level), got)


MAX_METRIC = 1e12  # larger than any real measurement (1e12 ms is 31 years): a forged value


@dataclass(frozen=True)
class Measured:
    """One related trial, judged as this experiment would: what `search.method: bayesian`
    tells its sampler (runner/search/bayesian.py `warm_start`)."""

    source: str  # reports/<experiment>/<run-id>
    trial_id: str
    params: dict[str, Any]
    metrics: dict[str, dict[int, dict[str, float]]]  # this experiment's scenarios x levels


@dataclass
class Trials:
    trials: list[Measured] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # why a report was passed over
    # (report, reason) -> the trials of it passed over for that reason
    passed: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    def pass_over(self, source: str, trial_id: str, why: str) -> None:
        self.passed.setdefault((source, why), []).append(trial_id)

    def reasons(self) -> list[str]:
        """One line per report passed over, and per report and reason trials were: a
        report of hundreds of trials at other levels is one line, not hundreds."""
        return self.skipped + [
            f"{src}: {len(ids)} trial(s) ({', '.join(ids[:3])}{', ...' if len(ids) > 3 else ''})"
            f": {why}" for (src, why), ids in self.passed.items()]


def related_trials(exp: Experiment, gpu: str, store: ResultStore) -> Trials:
    """Completed trials of related reports (same engine, model id and GPU type `gpu`) that
    measured every scenario and load level this experiment judges its objective and SLOs
    on, with every metric they name a finite number in [0, MAX_METRIC]; each other one is
    named in `skipped` with the reason."""
    out = Trials()
    scenarios = [exp.objective.scenario] if exp.objective.scenario \
        else list(exp.benchmark.traffic_scenarios)
    names = sorted({exp.objective.metric, *(s.metric for s in exp.slos)})
    for source, report in _related_reports(exp, gpu, store, out.skipped):
        for trial in report.trials:
            if trial.status != COMPLETED:
                out.pass_over(source, trial.trial_id, f"{trial.status}, not completed")
                continue
            if len(out.trials) >= MAX_TRIALS:
                out.skipped.append(f"{source} from trial {trial.trial_id} on, and any later "
                                   f"report: {MAX_TRIALS} trials seed at most")
                return out
            got = _judgeable(trial.entry.get("metrics"), scenarios,
                             list(exp.benchmark.concurrency), names)
            if isinstance(got, str):
                out.pass_over(source, trial.trial_id, got)
            elif not isinstance(trial.params, dict):
                out.pass_over(source, trial.trial_id, "params not a mapping")
            else:
                out.trials.append(Measured(source, trial.trial_id, dict(trial.params), got))
    return out


def _judgeable(by_scenario: Any, scenarios: list[str], levels: list[int],
               names: list[str]) -> dict[str, dict[int, dict[str, float]]] | str:
    """This experiment's metrics out of a report trial's, or why it cannot be judged."""
    if not isinstance(by_scenario, dict):
        return "no metrics"
    out: dict[str, dict[int, dict[str, float]]] = {}
    for sc in scenarios:
        by_level = by_scenario.get(sc)
        if not isinstance(by_level, dict):
            return f"scenario {sc} not measured"
        for level in levels:
            values = by_level.get(str(level))
            if not isinstance(values, dict):
                return f"level {level} of {sc} not measured"
            for name in names:
                v = values.get(name)
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    return f"{name} at {sc} level {level}: not a number"
                if not (math.isfinite(v) and 0 <= v <= MAX_METRIC):
                    return f"{name} at {sc} level {level}: {v!r} is not a measurement"
            out.setdefault(sc, {})[level] = {n: float(values[n]) for n in names}
    return out
