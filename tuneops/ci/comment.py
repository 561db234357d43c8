"""`tuneops ci comment DIR`: the one sticky result comment on the pull request.

Written by one job of the trusted workflow (.github/workflows/tuneops.yml) from what that
run produced and nothing else: the plan (which experiments changed, where each runs, which
files under reports/ the PR touches, the validation errors) and DIR, the measuring jobs'
artifacts (ci/run.py). A report is shown only when its recorded experiment sha256 equals
the PR's file; files are read only as regular files (never through a symlink, never a
FIFO), and results.json through the one loader (runner/report/load.py): a report it refuses
is named as refused. Main's latest trusted report comes from the plan and is checked again
here.

Every string that comes from the pull request (names, paths, values, failure messages)
is shown through `escape.code`: a code span it cannot leave. The body stays within
BUDGET characters (GitHub refuses 65,536 and more with 422): experiments that do not fit
get one line each, then a count, and the link to the run, whose job summary holds the
whole body.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tuneops.ci import compare
from tuneops.ci.escape import code
from tuneops.ci.plan import HOSTED, SELF_HOSTED
from tuneops.errors import TuneopsError
from tuneops.runner.report.load import RESULTS, Expect, Report, from_document, load, read_regular

MARKER = "<!-- tuneops-bot:results -->"
BUDGET = 60_000
APPROVAL = {
    SELF_HOSTED: "a maintainer comments `/tuneops run <head sha>` after review; the run "
                 "then waits for the `gpu` environment's reviewers",
    HOSTED: "the trusted workflow measures it when the `experiments` workflow has finished",
}


def _status(out: Path, name: str) -> dict | None:
    try:
        doc = json.loads(read_regular(out / name / "status.json", out))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _report(out: Path, exp: dict[str, Any]) -> tuple[Report | None, str]:
    """This PR's report of `exp` from the measuring job's artifact and, when the loader
    refused it, why; only a report of this very file (its sha256) is this PR's result."""
    path = out / exp["name"] / RESULTS
    if not os.path.lexists(path):
        return None, ""  # the job left no report: its status says why
    try:
        return load(path, out, Expect(sha256=exp["sha256"])), ""
    except TuneopsError as exc:
        return None, str(exc).replace("\n", "; ")


def section(exp: dict[str, Any], out: Path, results: dict[str, str], base_doc: Report | None,
            *, fork: bool = False, history_url: str = "") -> list[str]:
    """One experiment's block. `results`: runner class → the measuring job's result
    (success, failure, cancelled, skipped, pending)."""
    name, path = exp["name"], exp["path"]
    status = _status(out, name)
    doc, refused = _report(out, exp) if status else (None, "")
    head = (f"### {code(name)} ({code(path)}, {code(exp['engine'])} on a {exp['runner']} "
            f"runner)")
    if doc is None:
        job = results.get(exp["runner"], "")
        if refused:
            line = f"❌ **failed**: the run's report was refused: {code(refused, 1000)}"
            return [head, "", line, ""]
        if job in ("pending", "skipped", "") and not (status or {}).get("reason"):
            line = f"⏳ **waiting**: {APPROVAL[exp['runner']]}."
        else:
            why = (status or {}).get("reason") or (
                f"the run left no report of this file (run job: {job or 'unknown'})")
            line = f"❌ **failed**: {code(why, 1000)}"
        return [head, "", line, ""]
    ok = status.get("status") == "passed"
    reason = "" if ok else code(status.get("reason") or "no reason recorded", 1000)
    lines = [head, "", ("✅ **passed**" if ok else f"❌ **failed**: {reason}")
             + f" · run {code(doc.run_id)}"
             + f" · {_int(status.get('trials'))} trial(s): {_int(status.get('measured'))} "
               f"measured in this run, {_int(status.get('reused'))} reused"
             + (" · **SIMULATED**" if doc.doc["simulated"] else ""), ""]
    if status.get("new_report") and not status.get("publishable"):
        lines += ["No trial measured in this run ended as an outcome of its settings "
                  "(infrastructure or benchmark failures): nothing is published, the next "
                  "run retries.", ""]
    if not _int(status.get("measured")):
        lines += ["Nothing measured: every trial was already in a trusted committed report.",
                  ""]
    lines += compare.comparison(doc, base_doc, threshold=_threshold(exp))
    if history_url:
        lines += [f"Trend of the best objective over main's reports: "
                  f"[history/{name}.md]({history_url}/{name}.md)", ""]
    return lines


def _threshold(exp: dict[str, Any]) -> float:
    t = exp.get("regression_threshold", 0.05)
    return float(t) if isinstance(t, (int, float)) and not isinstance(t, bool) else 0.05


def regressions(plan: dict, out: Path) -> list[str]:
    """Names of the experiments whose best objective regressed against main's latest
    trusted report beyond noise and their threshold (tuneops/ci/verdict.py)."""
    found = []
    for exp in plan.get("experiments") or []:
        doc = _report(out, exp)[0] if _status(out, exp["name"]) else None
        if doc is None:
            continue
        if compare.regressed(doc, _base(plan, exp["name"]), _threshold(exp)):
            found.append(exp["name"])
    return found


def _base(plan: dict, name: str) -> Report | None:
    """Main's latest trusted report of `name` as the plan carried it, checked like any
    report; one the loader refuses is not compared with."""
    doc = (plan.get("base_reports") or {}).get(name)
    if doc is None:
        return None
    try:
        return from_document(doc, f"the base's latest report of {name}")
    except TuneopsError:
        return None


def _int(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def short_line(exp: dict[str, Any], out: Path) -> str:
    status = _status(out, exp["name"]) or {}
    mark = {"passed": "✅", "failed": "❌"}.get(status.get("status"), "⏳")
    return f"- {mark} {code(exp['name'])} ({code(exp['path'])})"


def body(plan: dict, out: Path, *, results: dict[str, str], fork: bool = False,
         head_sha: str | None = None, run_url: str = "", pr_workflow: str = "",
         history_url: str = "") -> str:
    """The whole comment. `head_sha`: the PR head it reports on (default: the plan's).
    `run_url`: this workflow run (its job summary holds the full body). `pr_workflow`: the
    conclusion of the untrusted `experiments` workflow (its checks of the PR's own code)."""
    parts = [MARKER, "## tuneops results", ""]
    if pr_workflow and pr_workflow != "success":
        parts += [f"❌ The `experiments` workflow (plan, validation, render check and CPU runs "
                  f"of the PR's own code) ended {code(pr_workflow)}: see its annotations.", ""]
    for diag in plan.get("errors") or []:
        parts.append(f"- ❌ {code(diag, 1000)}")
    if plan.get("errors"):
        parts += ["", "**The plan failed**: nothing was measured.", ""]
    touched = plan.get("pr_reports") or []
    if touched:
        parts += [f"⚠️ This pull request adds, edits or deletes {len(touched)} file(s) under "
                  f"`reports/` that are not the bot's publish commits: they are never reused "
                  f"as measurements, here or after merging. First: {code(touched[0])}", ""]
    bots = plan.get("pr_bot_reports") or []
    if bots:
        verified = sum(len(x) for e in plan.get("experiments") or []
                       for x in [(_status(out, e["name"]) or {}).get("attested")]
                       if isinstance(x, list))
        parts += [f"ℹ️ {len(bots)} file(s) under `reports/` come from the bot's publish "
                  f"commits on this branch; {verified} report folder(s) with a valid "
                  f"attestation were reused by this run's measurements.", ""]
    experiments = plan.get("experiments") or []
    if not experiments and not plan.get("errors"):
        parts.append("_This pull request changes no experiment._")
    head = head_sha or plan.get("head", "")
    tail = [f"<sub>head {code(head[:12])} · base {code(plan.get('base', '')[:12])}"
            + (f" · [full report]({run_url})" if run_url else "") + "</sub>"]
    reserve = 400 + len("".join(tail))
    used = len("\n".join(parts))
    shown = 0
    for exp in experiments:
        block = section(exp, out, results, _base(plan, exp["name"]), fork=fork,
                        history_url=history_url)
        size = len("\n".join(block)) + 1
        if used + size > BUDGET - reserve:
            break
        parts += block
        used += size
        shown += 1
    rest = experiments[shown:]
    if rest:
        parts += [f"**{len(rest)} more experiment(s)** (the comment's size limit):", ""]
        for exp in rest:
            line = short_line(exp, out)
            if used + len(line) + 1 > BUDGET - reserve:
                break
            parts.append(line)
            used += len(line) + 1
            shown += 1
        left = len(experiments) - shown
        parts += ["", (f"…and {left} more. " if left else "")
                  + (f"Every experiment in full: the [run's summary]({run_url})."
                     if run_url else ""), ""]
    return "\n".join(parts + tail) + "\n"
