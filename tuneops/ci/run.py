"""`tuneops ci run PATH --out DIR`: run one changed experiment and leave what the later jobs
read, and nothing else, in DIR (uploaded as the job's artifact):

    DIR/<experiment>/status.json    path, name, file sha256, passed|failed, reason, report,
                                    whether the report is new, trials measured / reused
    DIR/<experiment>/results.json   the report the comment shows (copied as a regular file)
    DIR/reports/<experiment>/<run>/ a report written by this run, for `ci publish` to commit

A run whose every trial was reused writes no new report (runner/store.py): results.json is
then the committed report it found current, and there is nothing to publish.
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


def ci_run(path: str, out: Path, *, reports: Path = Path("reports"), runs: Path = Path("runs"),
           fresh: bool = False) -> dict:
    check_path(path)
    if not stat.S_ISREG(os.lstat(path).st_mode):
        raise UserError(summary=f"{path}: not a regular file")
    exp = load_experiment(Path(path))
    status = {"path": path, "name": exp.name,
              "sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest()}
    try:
        summary = run_experiment(exp, RunOptions(runs_root=runs, reports_root=reports,
                                                 fresh=fresh, quiet=True))
    except TuneopsError as exc:  # the comment shows why (e.g. a mode this runner cannot run)
        write_status(out, exp.name, {**status, "status": FAILED, "reason": str(exc).strip(),
                                     "report": None, "new_report": False})
        raise
    print(summary.describe())
    measured = sum(not r.reused_from for r in summary.results)
    if summary.best is not None:
        status.update(status=PASSED, reason="")
    elif summary.interrupted:
        status.update(status=FAILED, reason="the run was interrupted")
    else:
        failed = sum(r.status != "completed" for r in summary.results)
        status.update(status=FAILED, reason=f"no trial met every SLO ({len(summary.results)} "
                      f"trial(s), {failed} failed)")
    report = summary.report_dir
    new = report is not None and report.name == summary.run_id
    status.update(report=f"{reports.name}/{exp.name}/{report.name}" if report else None,
                  new_report=new, measured=measured, reused=summary.reused,
                  trials=len(summary.results))
    out.mkdir(parents=True, exist_ok=True)
    if report is not None:
        (out / exp.name).mkdir(parents=True, exist_ok=True)
        (out / exp.name / RESULTS).write_bytes(read_regular(report / RESULTS, reports))
        if new:
            dst = out / "reports" / exp.name / report.name
            shutil.rmtree(dst, ignore_errors=True)
            copy_plain_tree(report, dst)
    write_status(out, exp.name, status)
    return status
