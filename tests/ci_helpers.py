"""Throwaway GitHub-like repositories for the CI loop tests: a bare origin (fetch by sha
allowed, as on GitHub), clones, commits, PR merge refs, a tiny sim experiment, and the
reports the real report writer makes from trial results given as data."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tuneops.runner.report import write_report
from tuneops.runner.results import COMPLETED, Score, SloCheck, TrialResult

from tests import e2e_helpers as h
from tuneops.plan import make_plan
from tuneops.validate import load_experiment

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


def report_for(repo: Path, name: str, throughput: dict[int, float], run_id: str) -> Path:
    """reports/<name>/<run_id>/ for the experiment file in `repo`, one completed trial per
    grid value with the given objective."""
    exp = load_experiment(repo / "experiments" / f"{name}.yaml")
    results = []
    for t in make_plan(exp).trials:
        value = throughput[t.params["max-running-requests"]]
        metrics = {"D(32,32)": {2: {"output_throughput_per_gpu": value, "ttft.p99": 100.0,
                                    "error_rate": 0.0}}}
        checks = [SloCheck("ttft.p99", 5000, "max", 100.0, 0.0),
                  SloCheck("error_rate", 0.01, "max", 0.0, 0.0)]
        results.append(TrialResult(t.id, t.index, t.params, t.args, COMPLETED, metrics=metrics,
                                   score=Score(value, True, 0.0, 2, 2, checks), simulated=True,
                                   started_at="2026-11-30T00:00:00Z",
                                   finished_at="2026-11-30T00:00:01Z"))
    cwd = os.getcwd()
    os.chdir(repo)  # the experiment's recorded file path is repository-relative
    try:
        exp = load_experiment(Path("experiments") / f"{name}.yaml")
        return repo / write_report(Path("reports") / name / run_id, exp, results, run_id=run_id,
                                   manifests_root=None)
    finally:
        os.chdir(cwd)


def push_gpu_experiment(dev) -> str:
    """Add a .yml experiment on a GPU engine to the PR branch, rendered, and push it."""
    (dev / "experiments" / "gpu.yml").write_text(
        (REPO / "experiments" / "examples" / "sglang-docker.yaml").read_text())
    tuneops(dev, "render", "experiments/gpu.yml", "--out", "manifests")
    head = commit_all(dev, "a GPU experiment")
    git(dev, "push", "-q", "origin", "grid-64")
    return head
