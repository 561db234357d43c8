"""`tuneops ci authorize`: what the trusted workflow may do for this event, decided from
the event and the GitHub API, never from anything the pull request wrote.

- `workflow_run` (the untrusted `experiments` workflow finished for a pull request):
  the open pull request whose head is the run's `head_sha`, looked up through the API (a
  fork's workflow_run carries no `pull_requests`). CPU/simulator measurements and the
  comment; no GPU. When the head commit changes nothing but files under reports/ (the
  bot's own publish commit), nothing is measured again: `measure=false`.
- `issue_comment` (`/tuneops run <40-hex sha>` on a pull request): only from an author
  whose `author_association` is OWNER, MEMBER or COLLABORATOR, and only when the pull
  request's head is still that sha (a push after the review invalidates the command).
  GPU measurements, bound to that sha.
- `workflow_dispatch` (inputs `pr`, `head-sha`; GitHub asks for write access to start
  it): the same binding.

Outputs (to $GITHUB_OUTPUT): pr, head-sha, head-ref, same-repo, measure, gpu.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import git

from tuneops.ci.plan import resolve
from tuneops.errors import UserError

MAINTAINERS = ("OWNER", "MEMBER", "COLLABORATOR")
COMMAND = re.compile(r"/tuneops run ([0-9a-f]{40})\s*")
SHA = re.compile(r"[0-9a-f]{40}")
BOT_OUTPUT = ("reports/", "history/")  # what publish commits write


@dataclass
class Decision:
    pr: int
    head_sha: str
    head_ref: str
    same_repo: bool
    measure: bool
    gpu: bool
    why: str

    def outputs(self) -> str:
        return (f"pr={self.pr}\nhead-sha={self.head_sha}\nhead-ref={self.head_ref}\n"
                f"same-repo={str(self.same_repo).lower()}\nmeasure={str(self.measure).lower()}\n"
                f"gpu={str(self.gpu).lower()}\n")


def only_reports(repo: git.Repo, head_sha: str) -> bool:
    """Does the head commit change only what a publish commit writes, reports/ and
    history/ (against its first parent)?"""
    head = resolve(repo, head_sha)
    if not head.parents:
        return False
    parent = resolve(repo, head.parents[0].hexsha)
    paths = {p for d in parent.diff(head) for p in (d.a_path, d.b_path) if p}
    return bool(paths) and all(p.startswith(BOT_OUTPUT) for p in paths)


def decide(event_name: str, event: dict, repo_name: str, gh, repo: git.Repo) -> Decision:
    from tuneops.ci import github

    if event_name == "workflow_run":
        run = event.get("workflow_run") or {}
        sha = run.get("head_sha") or ""
        if run.get("event") != "pull_request" or not SHA.fullmatch(sha):
            raise UserError(summary="workflow_run: not a pull_request run with a head sha")
        prs = github.pulls_at(gh, repo_name, sha)
        if len(prs) != 1:
            raise UserError(summary=f"workflow_run: {len(prs)} open pull request(s) at {sha}")
        pr = prs[0]
        measure = not only_reports(repo, sha)
        return Decision(pr.number, sha, pr.head_ref, not pr.fork, measure, False,
                        "workflow_run" + ("" if measure else ": a reports-only commit"))
    if event_name == "issue_comment":
        issue, comment = event.get("issue") or {}, event.get("comment") or {}
        if not issue.get("pull_request"):
            raise UserError(summary="issue_comment: not on a pull request")
        first = (comment.get("body") or "").splitlines()[0] if comment.get("body") else ""
        m = COMMAND.fullmatch(first)
        if not m:
            raise UserError(summary="issue_comment: not a `/tuneops run <head sha>` command")
        if comment.get("author_association") not in MAINTAINERS:
            raise UserError(summary=f"issue_comment: {comment.get('author_association')!r} "
                            f"may not start GPU runs (needs {', '.join(MAINTAINERS)})")
        number, sha = int(issue["number"]), m.group(1)
    elif event_name == "workflow_dispatch":
        inputs = event.get("inputs") or {}
        if not str(inputs.get("pr", "")).isdigit() or not SHA.fullmatch(
                str(inputs.get("head-sha", ""))):
            raise UserError(summary="workflow_dispatch: inputs pr (a number) and head-sha "
                            "(40 hex digits) are needed")
        number, sha = int(inputs["pr"]), inputs["head-sha"]
    else:
        raise UserError(summary=f"{event_name}: not an event this workflow acts on")
    pr = github.pull_request(gh, repo_name, number)
    if pr.state != "open" or pr.head_sha != sha:
        raise UserError(summary=f"#{number}: head is {pr.head_sha[:12]} ({pr.state}), not "
                        f"{sha[:12]}: review the new head and run the command again")
    return Decision(number, sha, pr.head_ref, not pr.fork, True, True, event_name)


def load_event(path: str) -> dict:
    try:
        doc = json.loads(open(path).read())
    except (OSError, ValueError) as exc:
        raise UserError(summary=f"{path}: cannot read the event ({exc})") from None
    if not isinstance(doc, dict):
        raise UserError(summary=f"{path}: not an event object")
    return doc
