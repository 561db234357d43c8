"""`tuneops ci comment DIR`: the one sticky result comment on the pull request.

The body is built from what this workflow run produced and nothing else: the plan (which
experiments changed, where each runs) and DIR, the run jobs' artifacts (ci/run.py). A
report is shown only when its recorded experiment sha256 equals the PR's file, and files
are read only as regular files (never through a symlink, never a FIFO); summary.md is
never read — the table is built from results.json, read through the one loader
(runner/report/load.py), and a report it refuses is named as refused. Main's latest
report of the same experiment comes from the plan, which read it from the base commit's
tree (ci/plan.py), and is checked again here.

The comment is found by MARKER at its start, created once, and edited in place on every
push (tuneops/ci/github.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tuneops.ci import compare
from tuneops.ci.plan import HOSTED, SELF_HOSTED
from tuneops.errors import TuneopsError
from tuneops.runner.report.load import RESULTS, Expect, Report, from_document, load, read_regular

MARKER = "<!-- tuneops-bot:results -->"
APPROVAL = {
    SELF_HOSTED: "a maintainer approves the GPU run (the `gpu` environment's reviewers, or "
                 "the `tuneops:run-gpu` label on a fork's PR)",
    HOSTED: "a fork's code does not run automatically; a maintainer who has reviewed it "
            "pushes it to a branch of this repository to run it",
}


def _status(out: Path, name: str) -> dict | None:
    try:
        doc = json.loads(read_regular(out / name / "status.json", out))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def section(exp: dict[str, Any], out: Path, results: dict[str, str], base_doc: Report | None,
            *, fork: bool) -> list[str]:
    """One experiment's block. `results`: runner class → the run job's result (success,
    failure, cancelled, skipped)."""
    name, path = exp["name"], exp["path"]
    status = _status(out, name)
    doc, refused = None, ""
    if status:
        try:  # only a report of this very file is this PR's result
            doc = load(out / name / RESULTS, out, Expect(sha256=exp["sha256"]))
        except TuneopsError as exc:
            refused = str(exc).replace("\n", "; ")
    head = f"### `{name}` (`{path}`, {exp['engine']} on a {exp['runner']} runner)"
    if doc is None:
        job = results.get(exp["runner"], "")
        if refused:
            line = f"❌ **failed**: the run's report was refused: {refused}"
        elif job == "pending":
            line = (f"⏳ **waiting for approval** (or running, once approved): "
                    f"{APPROVAL[exp['runner']]}.")
        elif job == "skipped" or (fork and not status):
            line = f"⏳ **waiting for approval**: {APPROVAL[exp['runner']]}."
        else:
            why = (status or {}).get("reason") or (
                f"the run left no report of this file (run job: {job or 'unknown'})")
            line = f"❌ **failed**: {why}"
        return [head, "", line, ""]
    ok = status.get("status") == "passed"
    lines = [head, "", ("✅ **passed**" if ok else f"❌ **failed**: {status.get('reason')}")
             + f" · run `{doc.run_id}`"
             + f" · {status.get('trials')} trial(s): {status.get('measured')} measured in this "
               f"run, {status.get('reused')} reused"
             + (" · **SIMULATED**" if doc.doc["simulated"] else ""), ""]
    if not status.get("measured"):
        lines += ["Nothing measured: every trial was already in a committed report.", ""]
    return lines + compare.comparison(doc, base_doc)


def _base(plan: dict, name: str) -> Report | None:
    """Main's latest report of `name` as the plan carried it, checked like any report; one
    the loader refuses is not compared with."""
    doc = (plan.get("base_reports") or {}).get(name)
    if doc is None:
        return None
    try:
        return from_document(doc, f"the base's latest report of {name}")
    except TuneopsError:
        return None


def body(plan: dict, out: Path, *, results: dict[str, str], fork: bool = False,
         head_sha: str | None = None) -> str:
    """The whole comment. `head_sha`: the PR head it reports on (default: the plan's HEAD,
    which on GitHub is the merge commit)."""
    parts = [MARKER, "## tuneops results", ""]
    experiments = plan.get("experiments") or []
    if not experiments:
        parts.append("_This pull request changes no experiment._")
    for exp in experiments:
        parts += section(exp, out, results, _base(plan, exp["name"]), fork=fork)
    head = head_sha or plan.get("head", "")
    parts += [f"<sub>head `{head[:12]}` · base `{plan.get('base', '')[:12]}`</sub>"]
    return "\n".join(parts) + "\n"
