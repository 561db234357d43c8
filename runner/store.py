"""Results already measured, found by trial id in the reports of the checkout.

A trial id hashes everything that determines a measurement (tuneops.plan.trial_id), so a
result in any committed report — of this experiment or of another name — is the result a
new measurement of the same id would give. Before running, the runner asks this store for
every planned trial and takes what it finds instead of measuring again (unless `--fresh`);
the result keeps `reused_from`, the report it came from, so reports say what was measured
in this run and what was not.

Only outcomes of the trial itself are reused: `completed` and `failed_config` (settings
that cannot work). Infrastructure and benchmark failures are measured again. A reused
result is scored again under the experiment that takes it (its SLOs may differ).

A pull request can plant anything under reports/, so every report is read through the one
loader (runner/report/load.py: regular files only, schema and consistency checked); a
report it refuses is skipped whole and named in the run's notes, never half-used. Reports
of an older measurement procedure (tuneops/identity.py) stay as history: their ids cannot
come up again, and they are not even candidates. Which report folders are candidates at
all is decided in one function, `candidate_reports`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuneops.runner import score
from tuneops.runner.report import load as report_load
from tuneops.runner.report import provenance
from tuneops.runner.report.load import RESULTS, Report
from tuneops.runner.report_trust import ReportTrust
from tuneops.runner.results import COMPLETED, FAILED_CONFIG, TrialResult

from tuneops import identity
from tuneops.errors import TuneopsError
from tuneops.plan import Trial
from tuneops.spec import Experiment

REUSABLE = (COMPLETED, FAILED_CONFIG)
# What a results.json trial entry carries over into the reused result as it is.
_KEPT = ("spread", "samples", "measurements", "confirmations", "host_load", "contended",
         "cpus", "command", "not_run", "placement", "telemetry")


def report_dirs(reports_root: str | os.PathLike) -> list[Path]:
    """reports/<experiment>/<run-id>/ folders holding a results.json, oldest run first
    (run ids start with a UTC timestamp); symlinked folders are skipped."""
    root = Path(reports_root)
    out = []
    if not root.is_dir() or root.is_symlink():
        return out
    for exp_dir in root.iterdir():
        if exp_dir.is_symlink() or not exp_dir.is_dir():
            continue
        for run_dir in exp_dir.iterdir():
            if run_dir.is_symlink() or not run_dir.is_dir() or run_dir.name.startswith("."):
                continue
            if (run_dir / RESULTS).is_file():
                out.append(run_dir)
    return sorted(out, key=lambda p: (p.name, p.parent.name))


def candidate_reports(reports_root: str | os.PathLike, trust: ReportTrust | None = None
                      ) -> list[Path]:
    """The report folders the store may take results from, oldest first: the one place the
    policy on which reports to trust (runner/report_trust.py) plugs in."""
    dirs = report_dirs(reports_root)
    return list(trust.filter(dirs)) if trust else dirs


def result_from_entry(e: dict[str, Any], *, trial_id: str, index: int, params: dict,
                      args: dict, reused_from: str) -> TrialResult:
    """A schema-checked results.json trial entry (runner/report/load.py) as a TrialResult,
    its stored score left out: the caller scores it under its own experiment, or takes the
    stored one (`tuneops report`)."""
    durations = e["durations"]
    return TrialResult.from_dict({
        "trial_id": trial_id, "index": index, "params": params, "args": args,
        "status": e["status"], "reason": e["reason"],
        "attempts": max(e["attempts"], 1), "metrics": e["metrics"],
        "gpus": list(e.get("gpus", [])), "started_at": e.get("started_at", ""),
        "finished_at": e.get("finished_at", ""),
        "startup_s": float(durations["startup_s"]),
        "warmup_s": float(durations.get("warmup_s", 0.0)),
        "benchmark_s": float(durations["benchmark_s"]),
        "total_s": float(durations["total_s"]),
        "log_dir": e.get("log_dir", ""), "simulated": e["simulated"],
        "reused_from": reused_from,
        # The noise as measured: a reused trial keeps its intervals (the tie set and
        # SLO verdicts are decided from them) and its samples (a confirmation round
        # merges new measurements with them), and says how its host was loaded.
        **{k: e[k] for k in _KEPT if e.get(k)},
    })


@dataclass
class Found:
    entry: dict[str, Any]  # the trial as results.json lists it
    source: str  # the report that measured it: reports/<experiment>/<run-id>


@dataclass
class ResultStore:
    """trial id → the newest measured result of that id among the reports."""

    found: dict[str, Found] = field(default_factory=dict)
    reports: dict[Path, Report] = field(default_factory=dict)  # run dir → its checked report
    refused: list[str] = field(default_factory=list)  # why each refused report was skipped

    @classmethod
    def scan(cls, reports_root: str | os.PathLike, trust: ReportTrust | None = None,
             host: dict[str, Any] | None = None) -> ResultStore:
        """Every candidate report, each read through the one loader (runner/report/load.py):
        a report it refuses is skipped whole and named in `refused`, and one measured by an
        older procedure (tuneops/identity.py) stays history, never reused. `trust`: the
        provenance policy (runner/report_trust.py); None trusts the checkout. `host`: this
        machine's facts (provenance.host_facts); a report measured on another processor is
        skipped and named in `refused` (its numbers are another machine's)."""
        store = cls()
        root = Path(reports_root)
        for run_dir in candidate_reports(root, trust):
            try:
                report = report_load.load(run_dir / RESULTS, root)
            except TuneopsError as exc:
                store.refused.append(str(exc))
                continue
            if report.procedure != identity.MEASUREMENT_PROCEDURE:
                continue  # same ids cannot come up; no report of it is "current" either
            if host is not None and (why := provenance.other_host(
                    report.doc["hardware"].get("host"), host)):
                store.refused.append(f"{report.where}: measured on another host ({why})")
                continue
            store.reports[run_dir] = report
            here = f"{root.name}/{run_dir.parent.name}/{run_dir.name}"
            for trial in report.trials:
                if trial.status not in REUSABLE:
                    continue
                # named by the (trusted) report that holds it, never by the `reused_from` a
                # file claims; the report that measured it wins over one that reused it
                prev = store.found.get(trial.trial_id)
                if prev is None or not trial.entry.get("reused_from") or \
                        prev.entry.get("reused_from"):
                    store.found[trial.trial_id] = Found(trial.entry, here)
        return store

    def lookup(self, exp: Experiment, trial: Trial) -> TrialResult | None:
        """The stored result of `trial`, as a result of this experiment (its index, params
        and score), or None."""
        hit = self.found.get(trial.id)
        if hit is None:
            return None
        result = result_from_entry(hit.entry, trial_id=trial.id, index=trial.index,
                                   params=dict(trial.params), args=dict(trial.args),
                                   reused_from=hit.source)
        if result.status == COMPLETED:
            result.score = score.score_trial(exp, result.metrics, result.spread)
        return result

    def take(self, exp: Experiment, trials: list[Trial] | tuple[Trial, ...],
             have: dict[str, TrialResult]) -> list[TrialResult]:
        """Stored results for the trials not in `have`, in plan order."""
        out = []
        for trial in trials:
            if trial.id not in have:
                result = self.lookup(exp, trial)
                if result is not None:
                    out.append(result)
        return out

    def current_report(self, exp: Experiment, sha256: str | None,
                       trial_ids: set[str]) -> Path | None:
        """The newest report of this experiment, of this very file, holding exactly these
        trials: a run that measured nothing new writes no second copy of it."""
        for run_dir in sorted(self.reports, key=lambda p: p.name, reverse=True):
            report = self.reports[run_dir]
            if run_dir.parent.name != exp.name:
                continue
            if sha256 is None or report.experiment_sha256 != sha256:
                continue
            if set(report.by_id) == trial_ids:
                return run_dir
        return None
