"""Warm start beyond identical ids: measured levels of related experiments seed the model.

The result store (runner/store.py) reuses a result only for the very trial id it measured.
An experiment that differs in an SLO, its load levels or its grid shares no id with an
earlier one, yet its reports measured the same model on the same hardware: each measured
level says how far the performance model is off there, which is what `search.method:
model` calibrates (runner/search/model.py). `related` picks those levels out of the
reports the store already read and checked.

Reports are untrusted input (a pull request can plant anything under reports/): they are
only ever read through the store (`ResultStore.scan`: the one loader, runner/report/load.py,
and its refusal of reports measured on another host), never opened here. What a report
claims is checked again before use: same engine, same model id, same GPU type; a level is
a whole number, a metric a finite positive number; args the model cannot read skip their
trial (named in `skipped`), never half-used.
"""

from __future__ import annotations

import math
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
    root = "reports"
    seen: set[str] = set()
    for run_dir, report in sorted(store.reports.items(), key=lambda kv: str(kv[0])):
        source = f"{root}/{run_dir.parent.name}/{run_dir.name}"
        doc = report.doc
        model = (doc["experiment"].get("model") or {}).get("id")
        why = None
        if report.engine != exp.engine.name:
            why = f"engine {report.engine}, not {exp.engine.name}"
        elif model != exp.model.id:
            why = f"model {model or 'not recorded'}, not {exp.model.id}"
        elif (recorded := _gpu(report.engine, doc["hardware"].get("gpu_type"))) != gpu:
            why = f"GPU {recorded or 'not recorded'}, not {gpu}"
        if why:
            out.skipped.append(f"{source}: {why}")
            continue
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
