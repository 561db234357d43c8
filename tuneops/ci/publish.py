"""`tuneops ci publish DIR`: commit the reports the run jobs wrote back to the PR branch.

One commit per run ("reports: <experiment> run <run-id> for <head sha>"), made with
gitpython on whatever HEAD the checkout has (a depth-1 checkout of the PR head is enough).
The push never forces: when the branch moved (another publisher, or the author pushed),
it fetches the branch, rebases these commits onto it and tries again, a bounded number of
times. Nothing is committed or pushed when the reports are already there.

Credentials never touch .git/config: a token in TUNEOPS_PUSH_TOKEN is handed to the fetch
and push commands alone, as the HTTP header actions/checkout would have persisted.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import git

from tuneops.ci import history
from tuneops.ci.plan import auth_env
from tuneops.ci.run import copy_plain_tree
from tuneops.errors import TuneopsError, UserError
from tuneops.runner.report.load import RESULTS, load
from tuneops.runner.report_trust import (
    ATTESTATION,
    BOT_EMAIL,
    BOT_NAME,
    attest_key,
    attestation,
    publish_message,
)

NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")
REJECTED = ("rejected", "non-fast-forward", "fetch first", "stale info", "cannot lock ref")


class PushFailed(TuneopsError):
    """The branch kept moving (or refused the push) after every attempt."""


@dataclass
class Published:
    commits: list[str] = field(default_factory=list)  # subjects, in order
    attempts: int = 0  # pushes tried (0: nothing to push)


def new_runs(out: Path) -> list[tuple[str, str]]:
    """(experiment, run-id) of every report folder the run jobs left in DIR/reports/."""
    root = out / "reports"
    runs = []
    if not root.is_dir():
        return runs
    for exp_dir in sorted(root.iterdir()):
        for run_dir in sorted(exp_dir.iterdir()) if exp_dir.is_dir() else []:
            if not (NAME.fullmatch(exp_dir.name) and NAME.fullmatch(run_dir.name)):
                raise UserError(summary=f"{run_dir}: not a report folder name")
            if exp_dir.is_symlink() or run_dir.is_symlink():
                raise UserError(summary=f"{run_dir}: a symlink, not a report folder")
            runs.append((exp_dir.name, run_dir.name))
    return runs


def commit_reports(repo: git.Repo, out: Path, head_sha: str,
                   history_from: Path | None = None) -> list[str]:
    """One publish commit per new report; with `history_from` (a checkout of the default
    branch with its history), the experiment's history/ table and chart in the same
    commit (tuneops/ci/history.py)."""
    root = Path(repo.working_tree_dir)
    subjects = []
    for exp, run in new_runs(out):
        rel = f"reports/{exp}/{run}"
        shutil.rmtree(root / rel, ignore_errors=True)
        copy_plain_tree(out / "reports" / exp / run, root / rel)
        (root / rel / ATTESTATION).unlink(missing_ok=True)  # never one from the artifact
        key = attest_key()
        if key:
            doc = attestation(key, run, (root / rel / RESULTS).read_bytes(), head_sha)
            (root / rel / ATTESTATION).write_text(json.dumps(doc, indent=2) + "\n")
        repo.git.add("--", rel)
        if not repo.git.status("--porcelain", "--", rel):
            continue  # the very same report is committed already
        if history_from is not None:
            try:
                report = load(root / rel / RESULTS, root)
            except TuneopsError:
                report = None  # a report the loader refuses draws no point
            if report is not None:
                metric = report.doc["objective"]["metric"]
                points = history.trend(history_from, exp) + [history.point(report)]
                repo.git.add("--", *history.write(root, exp, metric, points))
        subject = f"reports: {exp} run {run} for {head_sha[:12]}"
        actor = git.Actor(BOT_NAME, BOT_EMAIL)
        repo.index.commit(publish_message(subject, run, head_sha), author=actor,
                          committer=actor)
        subjects.append(subject)
    return subjects


def push(repo: git.Repo, branch: str, *, remote: str = "origin", attempts: int = 5,
         token: str | None = None) -> int:
    """Push HEAD to `branch`; on rejection fetch, rebase, retry. Returns the attempts used."""
    url = repo.remote(remote).url
    env = auth_env(token, url)
    for attempt in range(1, attempts + 1):
        try:
            with repo.git.custom_environment(**env):
                repo.git.push(remote, f"HEAD:refs/heads/{branch}")
            return attempt
        except git.GitCommandError as exc:
            if not any(word in str(exc) for word in REJECTED) or attempt == attempts:
                raise PushFailed(f"push to {branch} failed after {attempt} attempt(s): "
                                 f"{exc.stderr.strip()}") from None
        with repo.git.custom_environment(**env):
            repo.git.fetch("--no-tags", remote, f"refs/heads/{branch}")
        try:
            with repo.git.custom_environment(GIT_COMMITTER_NAME=BOT_NAME,
                                             GIT_COMMITTER_EMAIL=BOT_EMAIL):
                repo.git.rebase("FETCH_HEAD")
        except git.GitCommandError as exc:
            repo.git.rebase("--abort")
            raise PushFailed(f"rebasing the reports onto {branch} failed: "
                             f"{exc.stderr.strip()}") from None
    raise AssertionError("unreachable")


def clone_head(repo_dir: Path, dest: Path, head_sha: str, remote: str = "origin") -> Path:
    """A new depth-1 repository at `dest` holding `head_sha`, fetched from the same remote
    as `repo_dir` (with TUNEOPS_PUSH_TOKEN). Git only writes files there: no code of the
    pull request runs (hooks and filters come from config, which is not fetched)."""
    url = git.Repo(repo_dir).remote(remote).url
    if dest.exists():
        raise UserError(summary=f"{dest}: exists already")
    repo = git.Repo.init(dest)
    repo.create_remote(remote, url)
    with repo.git.custom_environment(**auth_env(os.environ.get("TUNEOPS_PUSH_TOKEN"), url)):
        repo.git.fetch("--no-tags", "--depth=1", remote, head_sha)
    repo.git.checkout("--detach", "FETCH_HEAD")
    return dest


def publish(repo_dir: Path, out: Path, *, head_sha: str, branch: str, remote: str = "origin",
            attempts: int = 5, clone: Path | None = None) -> Published:
    if not re.fullmatch(r"[0-9a-f]{40}", head_sha):
        raise UserError(summary=f"{head_sha!r} is not a commit sha")
    history_from = None
    if clone is not None:  # the checkout we run in is the default branch's: its history
        history_from = repo_dir
        repo_dir = clone_head(repo_dir, clone, head_sha, remote)
    repo = git.Repo(repo_dir)
    try:
        repo.git.check_ref_format("--branch", branch)
    except git.GitCommandError:
        raise UserError(summary=f"{branch!r} is not a branch name") from None
    if not re.fullmatch(r"[0-9a-f]{40}", head_sha):
        raise UserError(summary=f"{head_sha!r} is not a commit sha")
    result = Published(commit_reports(repo, out, head_sha, history_from))
    if result.commits:
        result.attempts = push(repo, branch, remote=remote, attempts=attempts,
                               token=os.environ.get("TUNEOPS_PUSH_TOKEN"))
    return result
