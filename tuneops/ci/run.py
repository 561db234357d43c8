"""`tuneops ci run PATH --out DIR`: run one changed experiment and leave what the later jobs
read, and nothing else, in DIR (uploaded as the job's artifact):

    DIR/<experiment>/status.json    path, name, file sha256, passed|failed, reason, report,
                                    whether the report is new, trials measured / reused
    DIR/<experiment>/results.json   the report the comment shows (copied as a regular file)
    DIR/reports/<experiment>/<run>/ a report written by this run, for `ci publish` to commit

A run whose every trial was reused writes no new report (runner/store.py): results.json is
then the committed report it found current, and there is nothing to publish.

Only reports the provenance policy trusts are reused (runner/report_trust.py: published by
the bot on this branch's history, unchanged since). A new report is `publishable` only
when a trial measured in this run ended as an outcome of its settings (completed, or
failed_config); a run whose new trials all failed for infrastructure or benchmark reasons
is reported with those reasons and retried next time, never committed, so the bot cannot
loop on it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from pathlib import Path

from tuneops.ci.plan import check_path
from tuneops.errors import TuneopsError, UserError
from tuneops.runner.report.load import RESULTS, read_regular
from tuneops.runner.report_trust import ReportTrust, attest_key
from tuneops.runner.results import COMPLETED, FAILED_CONFIG
from tuneops.runner.run import RunOptions, run_experiment
from tuneops.validate import load_experiment

PASSED, FAILED = "passed", "failed"


def copy_plain_tree(src: Path, dst: Path) -> None:
    """Copy regular files and folders only: a symlink anywhere is refused (a pull request
    may plant one under reports/ pointing at the runner's secrets)."""
    for here, dirs, files in os.walk(src, followlinks=False):
        rel = Path(here).relative_to(src)
        (dst / rel).mkdir(parents=True, exist_ok=True)
        for d in dirs:
            if Path(here, d).is_symlink():
                raise OSError(f"{Path(here, d)} is a symlink")
        for f in files:
            (dst / rel / f).write_bytes(read_regular(Path(here, f)))


def write_status(out: Path, name: str, status: dict) -> None:
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "status.json").write_text(json.dumps(status, indent=2) + "\n")


def failure_reason(summary) -> str:
    """Why the run has no best configuration, in the trials' own words: "engine did not
    serve … within 1s" is an infrastructure failure, not an SLO miss."""
    if summary.best is not None:
        return ""
    if summary.interrupted:
        return "the run was interrupted"
    failed = [r for r in summary.results if r.status not in (COMPLETED,)]
    if failed and len(failed) == len(summary.results):
        reasons: dict[str, list[str]] = {}
        for r in failed:
            reasons.setdefault(f"{r.status}: {r.reason or 'no reason recorded'}", []).append(
                r.trial_id)
        return "; ".join(f"{len(ids)} trial(s) {why}" for why, ids in reasons.items())
    return (f"no trial met every SLO ({len(summary.results)} trial(s), {len(failed)} "
            f"failed)")


def ci_run(path: str, out: Path, *, reports: Path = Path("reports"), runs: Path = Path("runs"),
           fresh: bool = False) -> dict:
    check_path(path)
    if not stat.S_ISREG(os.lstat(path).st_mode):
        raise UserError(summary=f"{path}: not a regular file")
    exp = load_experiment(Path(path))
    status = {"path": path, "name": exp.name,
              "sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest()}
    trust = ReportTrust.from_git(Path.cwd())
    attested = trust.add_attested(reports, attest_key())  # the branch's attested reports
    try:
        summary = run_experiment(exp, RunOptions(runs_root=runs, reports_root=reports,
                                                 fresh=fresh, quiet=True, report_trust=trust))
    except TuneopsError as exc:  # the comment shows why (e.g. a mode this runner cannot run)
        write_status(out, exp.name, {**status, "status": FAILED, "reason": str(exc).strip(),
                                     "report": None, "new_report": False})
        raise
    print(summary.describe())
    fresh_results = [r for r in summary.results if not r.reused_from]
    status.update(status=PASSED if summary.best is not None else FAILED,
                  reason=failure_reason(summary))
    report = summary.report_dir
    new = report is not None and report.name == summary.run_id
    # a report is committed only for outcomes of the settings themselves: an infrastructure
    # or benchmark failure is retried on the next pass, never published (no bot loop)
    publishable = new and any(r.status in (COMPLETED, FAILED_CONFIG) for r in fresh_results)
    status.update(report=f"{reports.name}/{exp.name}/{report.name}" if report else None,
                  new_report=new, publishable=publishable, measured=len(fresh_results),
                  reused=summary.reused, trials=len(summary.results),
                  untrusted_reports=sorted(trust.refused.items()), attested=attested)
    out.mkdir(parents=True, exist_ok=True)
    if report is not None:
        (out / exp.name).mkdir(parents=True, exist_ok=True)
        (out / exp.name / RESULTS).write_bytes(read_regular(report / RESULTS, reports))
        if publishable:
            dst = out / "reports" / exp.name / report.name
            shutil.rmtree(dst, ignore_errors=True)
            copy_plain_tree(report, dst)
    write_status(out, exp.name, status)
    return status
