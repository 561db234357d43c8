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

Report files are read only when they are regular files (never through a symlink) inside
the reports folder: a pull request can plant anything under reports/.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuneops.runner import score
from tuneops.runner.report_trust import ReportTrust
from tuneops.runner.results import COMPLETED, FAILED_CONFIG, TrialResult

from tuneops.plan import Trial
from tuneops.spec import Experiment

REUSABLE = (COMPLETED, FAILED_CONFIG)
# What a results.json trial entry carries over into the reused result as it is.
_KEPT = ("spread", "samples", "measurements", "confirmations", "host_load", "contended",
         "cpus", "command", "not_run", "placement")
RESULTS = "results.json"
MAX_REPORT_BYTES = 64 * 1024 * 1024


def read_regular(path: str | os.PathLike, root: str | os.PathLike | None = None) -> bytes:
    """The bytes of `path`, refusing symlinks (at the file and, with `root`, on the way
    from `root` down to it) and anything that is not a regular file. Raises OSError."""
    path = Path(path)
    if root is not None:
        root = Path(root)
        rel = path.relative_to(root)  # ValueError if outside: a bug in the caller
        here = root
        for part in rel.parts[:-1]:
            here = here / part
            if not stat.S_ISDIR(os.lstat(here).st_mode):
                raise OSError(f"{here} is not a plain folder")
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(f"{path} is not a regular file")
        if info.st_size > MAX_REPORT_BYTES:
            raise OSError(f"{path} is larger than {MAX_REPORT_BYTES} bytes")
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read()
    finally:
        os.close(fd)


def load_report(path: str | os.PathLike, root: str | os.PathLike | None = None) -> dict | None:
    """A results.json document, or None when it is missing, not a regular file or not a
    JSON object with trials (a broken report is skipped, never fatal)."""
    try:
        doc = json.loads(read_regular(path, root))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("trials"), list):
        return None
    return doc


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


@dataclass
class Found:
    entry: dict[str, Any]  # the trial as results.json lists it
    source: str  # the report that measured it: reports/<experiment>/<run-id>


@dataclass
class ResultStore:
    """trial id → the newest measured result of that id among the reports."""

    found: dict[str, Found] = field(default_factory=dict)
    reports: dict[Path, dict] = field(default_factory=dict)  # run dir → results.json

    @classmethod
    def scan(cls, reports_root: str | os.PathLike, trust: ReportTrust | None = None
             ) -> ResultStore:
        """`trust`: the provenance policy (runner/report_trust.py); None trusts the checkout."""
        store = cls()
        root = Path(reports_root)
        for run_dir in trust.filter(report_dirs(root)) if trust else report_dirs(root):
            doc = load_report(run_dir / RESULTS, root)
            if doc is None:
                continue
            store.reports[run_dir] = doc
            here = f"{root.name}/{run_dir.parent.name}/{run_dir.name}"
            for entry in doc["trials"]:
                if not isinstance(entry, dict) or entry.get("status") not in REUSABLE:
                    continue
                tid = entry.get("trial_id")
                if isinstance(tid, str) and tid:
                    # named by the (trusted) report that holds it, never by the `reused_from`
                    # a file claims; the report that measured it wins over one that reused it
                    prev = store.found.get(tid)
                    if prev is None or not entry.get("reused_from") or prev.entry.get(
                            "reused_from"):
                        store.found[tid] = Found(entry, here)
        return store

    def lookup(self, exp: Experiment, trial: Trial) -> TrialResult | None:
        """The stored result of `trial`, as a result of this experiment (its index, params
        and score), or None."""
        hit = self.found.get(trial.id)
        if hit is None:
            return None
        e = hit.entry
        durations = e.get("durations") or {}
        result = TrialResult.from_dict({
            "trial_id": trial.id, "index": trial.index, "params": dict(trial.params),
            "args": dict(trial.args), "status": e["status"], "reason": e.get("reason") or "",
            "attempts": int(e.get("attempts") or 1), "metrics": e.get("metrics") or {},
            "gpus": list(e.get("gpus") or []), "started_at": e.get("started_at") or "",
            "finished_at": e.get("finished_at") or "",
            "startup_s": float(durations.get("startup_s") or 0.0),
            "warmup_s": float(durations.get("warmup_s") or 0.0),
            "benchmark_s": float(durations.get("benchmark_s") or 0.0),
            "total_s": float(durations.get("total_s") or 0.0),
            "log_dir": e.get("log_dir") or "", "simulated": bool(e.get("simulated")),
            "reused_from": hit.source,
            # The noise as measured: a reused trial keeps its intervals (the tie set and
            # SLO verdicts are decided from them) and its samples (a confirmation round
            # merges new measurements with them), and says how its host was loaded.
            **{k: e[k] for k in _KEPT if e.get(k)},
        })
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
            doc = self.reports[run_dir]
            if run_dir.parent.name != exp.name:
                continue
            if sha256 is None or (doc.get("experiment") or {}).get("sha256") != sha256:
                continue
            if {t.get("trial_id") for t in doc["trials"] if isinstance(t, dict)} == trial_ids:
                return run_dir
        return None
