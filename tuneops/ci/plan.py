"""`tuneops ci plan`: which experiments a pull request changes, and where each must run.

Changed files come from git trees (base tree against HEAD's), so a depth-1 checkout works:
the base commit is fetched alone when it is missing. On GitHub's pull_request checkout
HEAD is the merge commit, whose tree differs from the base tip exactly by the PR's changes;
on a plain branch checkout the merge base is used when the history has it.

Every path that leaves this module is repository-relative and matches
`experiments/**/*.y*ml` with a plain character set (EXPERIMENT_PATH): a file name is
untrusted input that later reaches a workflow step.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import git

from tuneops.errors import Diagnostic, UserError
from tuneops.registry import engines
from tuneops.runner.report.load import MAX_REPORT_BYTES, parse
from tuneops.runner.report_trust import ReportTrust, attest_key, attested
from tuneops.validate import validate_file

# experiments/<folders>/<name>.yaml|.yml, each part made of letters, digits, '.', '_', '-'
EXPERIMENT_PATH = re.compile(r"experiments/(?:[A-Za-z0-9_][A-Za-z0-9._-]*/)*"
                             r"[A-Za-z0-9_][A-Za-z0-9._-]*\.ya?ml")
HOSTED, SELF_HOSTED = "hosted", "self-hosted"


def check_path(path: str) -> str:
    """`path` itself when it is a safe experiment path, else UserError (exit 2)."""
    if not EXPERIMENT_PATH.fullmatch(path) or ".." in Path(path).parts:
        raise UserError([Diagnostic(path, 0, 0, "path",
                                    "not an experiment path: must match experiments/**/*.y*ml "
                                    "with letters, digits, '.', '_' and '-' only")])
    return path


def is_experiment_path(path: str) -> bool:
    return path.startswith("experiments/") and path.endswith((".yaml", ".yml"))


def auth_env(token: str | None, url: str) -> dict[str, str]:
    """GIT_CONFIG_* variables giving one git command an Authorization header for `url`'s
    host (what actions/checkout would persist in .git/config; here it is never written)."""
    if not token or not url.startswith("https://"):
        return {}
    host = "/".join(url.split("/")[:3]) + "/"
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    return {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": f"http.{host}.extraheader",
            "GIT_CONFIG_VALUE_0": f"AUTHORIZATION: basic {basic}"}


def resolve(repo: git.Repo, rev: str, remote: str = "origin") -> git.Commit:
    """The commit `rev` names, fetching it (alone) from `remote` when the checkout lacks it
    (with GITHUB_TOKEN as the credential, if set)."""
    try:
        return repo.commit(rev)
    except (git.BadName, ValueError):
        pass
    depth = ["--depth=1"] if (Path(repo.git_dir) / "shallow").exists() else []
    env = auth_env(os.environ.get("GITHUB_TOKEN"), repo.remote(remote).url)
    with repo.git.custom_environment(**env):
        repo.git.fetch("--no-tags", *depth, remote, rev)
    return repo.commit("FETCH_HEAD")


def base_report(repo: git.Repo, name: str, trust: ReportTrust) -> dict | None:
    """The checkout's latest trusted results.json of experiment `name`: the one the bot's
    newest publish commit added (runner/report_trust.py), read from the HEAD tree's blob
    and checked by the one loader. None without one (a shallow checkout proves nothing, so
    trusts nothing) or when the loader refuses it."""
    folder = trust.latest(name)
    if folder is None:
        return None
    try:
        blob = repo.head.commit.tree / str(folder) / "results.json"
    except KeyError:
        return None
    if blob.type != "blob" or blob.mode != 0o100644 or blob.size > MAX_REPORT_BYTES:
        return None  # a symlink or anything but a plain file is never followed
    try:  # checked by the one loader (runner/report/load.py); a refused report is none
        return parse(blob.data_stream.read(), f"HEAD:{folder}/results.json").doc
    except UserError:
        return None


def start_of(repo: git.Repo, head: git.Commit, base: str | None, remote: str) -> git.Commit:
    """What the pull request is compared with. On GitHub's pull_request checkout HEAD is the
    merge commit, and its first parent is the base branch as merged: the PR's changes are
    exactly merge^1..merge (`base.sha` of the event can predate the base branch's tip and
    would list experiments the PR never touched). Otherwise the merge base of `base` and
    HEAD, or `base` itself when the history is too shallow to find one."""
    if len(head.parents) >= 2:
        return resolve(repo, head.parents[0].hexsha, remote)
    if base is None:
        raise UserError(summary="HEAD is not a merge commit: give --base")
    base_commit = resolve(repo, base, remote)
    try:
        bases = repo.merge_base(base_commit, head)
        if bases:
            return bases[0]
    except git.GitCommandError:  # shallow history: compare with the base tree itself
        pass
    return base_commit


def changed_paths(start: git.Commit, head: git.Commit, *, reports: bool = False) -> list[str]:
    """Experiment files (or, with `reports`, files under reports/) added or modified from
    `start` to `head`."""
    out = set()
    for d in start.diff(head):
        if reports:
            out.update(p for p in (d.a_path, d.b_path) if p and p.startswith("reports/"))
        elif not d.deleted_file and d.b_path is not None and is_experiment_path(d.b_path):
            out.add(d.b_path)
    return sorted(out)


def stage(repo: git.Repo, head: git.Commit, paths: list[str]) -> None:
    """Write the pull request's experiment files into this checkout as data: the blob of
    each path at `head`, plain files only (the trusted side never checks the PR out)."""
    root = Path(repo.working_tree_dir)
    for rel in paths:
        check_path(rel)
        blob = head.tree / rel
        if blob.type != "blob" or blob.mode != 0o100644:
            raise UserError([Diagnostic(rel, 0, 0, "path", "not a plain file in the PR")])
        dst = root / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if dst.is_symlink():
            dst.unlink()
        dst.write_bytes(blob.data_stream.read())


@dataclass
class Changed:
    path: str  # repository-relative
    name: str
    engine: str
    runner: str  # hosted | self-hosted
    sha256: str  # of the file: reports of it carry the same (experiment.sha256)
    regression_threshold: float = 0.05  # ci.regressionThreshold (tuneops/ci/verdict.py)


def runner_class(exp) -> str:
    """CPU engines and the simulator run on hosted runners; real GPU engines need the GPU."""
    return HOSTED if engines()[exp.engine.name].simulated or exp.gpus_per_trial == 0 else (
        SELF_HOSTED)


def stage_attested(repo: git.Repo, head: git.Commit, names: list[str]) -> list[str]:
    """Copy the PR branch's report folders of these experiments into this checkout when
    their attestation verifies with the workflow's key (runner/report_trust.py); a folder
    that does not verify is left out entirely. Returns the folders staged."""
    key = attest_key()
    root = Path(repo.working_tree_dir)
    staged = []
    for name in names if key else []:
        try:
            tree = head.tree / "reports" / name
        except KeyError:
            continue
        for run in tree.trees:
            rel = f"reports/{name}/{run.name}"
            if (root / rel).exists():
                continue  # the default branch has it already
            blobs = [b for b in run.traverse() if b.type == "blob"]
            if any(b.mode != 0o100644 for b in blobs):
                continue
            tmp = root / ".tuneops-staging" / name / run.name
            for b in blobs:
                dst = tmp / Path(b.path).relative_to(run.path)
                dst.parent.mkdir(parents=True, exist_ok=True)
                dst.write_bytes(b.data_stream.read())
            if attested(key, tmp):
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                tmp.rename(root / rel)
                staged.append(rel)
    shutil.rmtree(root / ".tuneops-staging", ignore_errors=True)
    return staged


def plan(repo_dir: Path, base: str | None = None, remote: str = "origin", *,
         head_sha: str | None = None) -> dict:
    """The plan document (see `tuneops ci plan --help`); UserError on a bad path or file.

    `head_sha` (the trusted side): the pull request's head, fetched as data; its changed
    experiment files are written into this checkout of the default branch, whose own
    history says which reports are trusted. Without it, HEAD is the commit under test."""
    repo = git.Repo(repo_dir)
    root = Path(repo.working_tree_dir)
    if head_sha is not None:
        head = resolve(repo, head_sha, remote)
        start = start_of(repo, head, repo.head.commit.hexsha, remote)
    else:
        head = repo.head.commit
        start = start_of(repo, head, base, remote)
    paths = changed_paths(start, head)
    diags: list[Diagnostic] = []
    safe = []
    for rel in paths:
        try:
            safe.append(check_path(rel))
        except UserError as exc:
            diags += exc.diagnostics
    attested_folders: list[str] = []
    if head_sha is not None:
        stage(repo, head, safe)
    changed: list[Changed] = []
    for rel in safe:
        path = root / rel
        exp, errs = validate_file(path)
        if errs:
            diags += errs
            continue
        changed.append(Changed(rel, exp.name, exp.engine.name, runner_class(exp),
                               hashlib.sha256(path.read_bytes()).hexdigest(),
                               exp.regression_threshold))
    seen: dict[str, str] = {}
    for ch in changed:  # results travel by experiment name (ci-out/<name>/): one file each
        if ch.name in seen:
            diags.append(Diagnostic(ch.path, 0, 0, "metadata.name",
                                    f"experiment name {ch.name!r} is also used by {seen[ch.name]}"))
        seen.setdefault(ch.name, ch.path)
    if diags:
        raise UserError(diags)
    if head_sha is not None:  # reports this workflow published to the branch before
        attested_folders = stage_attested(repo, head, [c.name for c in changed])
    trust = ReportTrust.from_git(root)
    touched = changed_paths(start, head, reports=True)
    # which of them the PR's own history shows as bot publish commits (identity is not
    # authenticated on a PR branch: this only sorts the warning, it trusts nothing)
    published = set(ReportTrust.from_git(root, head.hexsha).trusted) if touched else set()
    return {
        "base": start.hexsha,
        "head": head.hexsha,
        "experiments": [asdict(c) for c in changed],
        HOSTED: [c.path for c in changed if c.runner == HOSTED],
        SELF_HOSTED: [c.path for c in changed if c.runner == SELF_HOSTED],
        # files under reports/ the PR adds, edits or deletes: never reused, and warned about
        "pr_reports": [p for p in touched if "/".join(p.split("/")[:3]) not in published],
        "pr_bot_reports": [p for p in touched if "/".join(p.split("/")[:3]) in published],
        # of those, the folders whose attestation verified: staged, reused by `ci run`
        "attested": attested_folders,
        # what the comment compares with: the checkout's latest trusted report of each
        "base_reports": {c.name: base_report(repo, c.name, trust) for c in changed},
    }
