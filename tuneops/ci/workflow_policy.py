"""The trust boundary as a check on workflow files (`tuneops ci check-workflows`, run by
`make lint` and tests/ci/test_workflow_policy.py).

GitHub runs a `pull_request` (or `pull_request_target`-less fork) workflow from the pull
request's own merge commit, with the PR's code. Such a workflow must therefore:
- never ask for a self-hosted runner (a persistent runner would run anyone's code);
- hold no secret but the read-only GITHUB_TOKEN, use no environment (environments carry
  secrets), and ask for no write permission.
A workflow started by workflow_run, issue_comment or workflow_dispatch runs from the
default branch with secrets; it must never put the pull request's code on disk as code:
- actions/checkout without `ref` or `repository` (the default branch), never
  `allow-unsafe-pr-checkout`;
- no `${{ github.event.* }}` expanded inside a `run:` script (values go through `env`);
- a self-hosted job only behind an `environment` (its reviewers).
`pull_request_target` is refused outright.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

UNTRUSTED = {"pull_request"}
TRUSTED = {"workflow_run", "issue_comment", "workflow_dispatch", "push", "schedule"}
_SECRET = re.compile(r"secrets\.([A-Za-z_][A-Za-z0-9_]*)")
_EVENT_IN_RUN = re.compile(r"\$\{\{[^}]*github\.event\.")


def _triggers(doc: dict) -> set[str]:
    on = doc.get("on", doc.get(True))  # YAML 1.1 reads a bare `on` as True
    if isinstance(on, str):
        return {on}
    return set(on or {})


def _labels(job: dict) -> list[str]:
    runs_on = job.get("runs-on")
    if isinstance(runs_on, dict):
        runs_on = runs_on.get("labels")
    return [runs_on] if isinstance(runs_on, str) else list(runs_on or [])


def problems(path: Path) -> list[str]:
    doc = yaml.safe_load(path.read_text())
    name = path.name
    triggers = _triggers(doc)
    out: list[str] = []
    if "pull_request_target" in triggers:
        out.append(f"{name}: pull_request_target runs with secrets next to PR code")
    jobs = doc.get("jobs") or {}
    untrusted = bool(triggers & (UNTRUSTED | {"pull_request_target"}))
    for job_name, job in jobs.items():
        where = f"{name}: job {job_name}"
        labels = _labels(job)
        text = yaml.safe_dump(job)
        if untrusted:
            if "self-hosted" in labels:
                out.append(f"{where}: self-hosted runner in a pull_request workflow")
            if job.get("environment"):
                out.append(f"{where}: environment (and its secrets) in a pull_request workflow")
            for secret in set(_SECRET.findall(text)) - {"GITHUB_TOKEN"}:
                out.append(f"{where}: secret {secret} next to the PR's code")
            perms = job.get("permissions", doc.get("permissions"))
            if isinstance(perms, str) and perms != "read-all" or isinstance(perms, dict) and \
                    any(v == "write" for v in perms.values()):
                out.append(f"{where}: write permission in a pull_request workflow")
        else:
            for step in job.get("steps") or []:
                uses = str(step.get("uses", ""))
                with_ = step.get("with") or {}
                if uses.startswith("actions/checkout@") and (
                        "ref" in with_ or "repository" in with_
                        or with_.get("allow-unsafe-pr-checkout")):
                    out.append(f"{where}: checks out something other than the default branch")
                if _EVENT_IN_RUN.search(str(step.get("run", ""))):
                    out.append(f"{where}: github.event expanded inside a run script")
            if "self-hosted" in labels and not job.get("environment"):
                out.append(f"{where}: self-hosted runner without an environment's reviewers")
    return out


def check(folder: Path) -> list[str]:
    return [p for f in sorted(folder.glob("*.y*ml")) for p in problems(f)]
