"""Throwaway GitHub-like repositories for the CI loop tests: a bare origin (fetch by sha
allowed, as on GitHub), clones, commits, PR merge refs, and a tiny sim experiment."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests import e2e_helpers as h

REPO = Path(__file__).resolve().parents[1]
TUNEOPS = [sys.executable, "-m", "tuneops.cli"]
GIT_ENV = {"GIT_AUTHOR_NAME": "dev", "GIT_AUTHOR_EMAIL": "dev@example.com",
           "GIT_COMMITTER_NAME": "dev", "GIT_COMMITTER_EMAIL": "dev@example.com"}
SLOS = [{"metric": "ttft.p99", "max": 5000}, {"metric": "error_rate", "max": 0.01}]


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


def tuneops(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([*TUNEOPS, *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "CI": "true"})
    if check and proc.returncode != 0:
        raise AssertionError(f"tuneops {' '.join(args)}: rc {proc.returncode}\n"
                             f"{proc.stdout}\n{proc.stderr}")
    return proc


def write_exp(repo: Path, values: list[int], name: str = "e2e") -> Path:
    path = h.write_experiment(repo / "experiments", name,
                              parameters={"max-running-requests": values}, slos=SLOS)
    tuneops(repo, "render", f"experiments/{name}.yaml", "--out", "manifests")
    return path


def new_origin(tmp: Path) -> tuple[Path, Path]:
    """(bare origin, a full clone on main with .github/ and an empty experiments/)."""
    origin = tmp / "origin.git"
    git(tmp, "init", "-q", "--bare", "-b", "main", str(origin))
    git(origin, "config", "uploadpack.allowAnySHA1InWant", "true")
    dev = tmp / "dev"
    git(tmp, "clone", "-q", str(origin), str(dev))
    shutil.copytree(REPO / ".github", dev / ".github")
    (dev / "experiments").mkdir()
    return origin, dev


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def merge_ref(origin: Path, tmp: Path, number: int, base: str, head: str) -> str:
    """GitHub's refs/pull/N/merge: the PR head merged into the base tip."""
    work = tmp / f"merge-{head[:8]}"
    shutil.rmtree(work, ignore_errors=True)
    git(tmp, "clone", "-q", str(origin), str(work))
    git(work, "checkout", "-q", "--detach", base)
    git(work, "fetch", "-q", "origin", head)
    git(work, "merge", "-q", "--no-ff", "-m", f"Merge {head} into {base}", "FETCH_HEAD")
    sha = git(work, "rev-parse", "HEAD")
    git(work, "push", "-q", "origin", f"HEAD:refs/pull/{number}/merge", "--force")
    shutil.rmtree(work)
    return sha


def shallow_clone(origin: Path, dest: Path, ref: str) -> Path:
    """What actions/checkout leaves: one commit, detached, nothing persisted."""
    dest.mkdir(parents=True)
    git(dest, "init", "-q", ".")
    git(dest, "remote", "add", "origin", str(origin))
    git(dest, "fetch", "-q", "--no-tags", "--depth=1", "origin", ref)
    git(dest, "checkout", "-q", "--detach", "FETCH_HEAD")
    return dest


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def publish_commit(repo: Path, experiment: str, run_id: str) -> str:
    """Commit everything as the bot's publish commit of `run_id` (what `tuneops ci publish`
    writes: bot author and committer, the Tuneops-Run trailer)."""
    from tuneops.runner.report_trust import BOT_EMAIL, BOT_NAME, publish_message

    git(repo, "add", "-A")
    env = {**os.environ, "GIT_AUTHOR_NAME": BOT_NAME, "GIT_AUTHOR_EMAIL": BOT_EMAIL,
           "GIT_COMMITTER_NAME": BOT_NAME, "GIT_COMMITTER_EMAIL": BOT_EMAIL}
    subprocess.run(["git", "commit", "-q", "-F", "-"], cwd=repo, env=env, check=True,
                   input=publish_message(f"reports: {experiment} run {run_id}", run_id, "0" * 40),
                   text=True, capture_output=True)
    return git(repo, "rev-parse", "HEAD")
