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
from dataclasses import asdict, dataclass
from pathlib import Path

import git

from tuneops.errors import Diagnostic, UserError
from tuneops.registry import engines
from tuneops.runner.report.load import MAX_REPORT_BYTES, parse
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


def base_report(base: git.Commit, name: str) -> dict | None:
    """The base's latest results.json of experiment `name` (highest run id), read from git
    blobs of the base tree (a symlink there is never followed) and checked by the one
    loader (runner/report/load.py); None when there is none or it is refused."""
    try:
        tree = base.tree / "reports" / name
    except KeyError:
        return None
    found = None
    for run in tree.trees:
        try:
            blob = run / "results.json"
        except KeyError:
            continue
        if blob.type == "blob" and blob.mode == 0o100644 and (found is None
                                                             or run.name > found[0]):
            found = (run.name, blob)
    if found is None or found[1].size > MAX_REPORT_BYTES:
        return None
    try:
        return parse(found[1].data_stream.read(), f"{base.hexsha[:12]}:reports/{name}/"
                                                  f"{found[0]}/results.json").doc
    except UserError:
        return None


def changed_paths(repo: git.Repo, base: git.Commit, head: git.Commit) -> list[str]:
    """Experiment files added or modified from the merge base (or `base`) to `head`."""
    start = base
    try:
        bases = repo.merge_base(base, head)
        if bases:
            start = bases[0]
    except git.GitCommandError:  # shallow history: compare with the base tree itself
        pass
    out = set()
    for d in start.diff(head):
        if d.deleted_file or d.b_path is None:
            continue
        if is_experiment_path(d.b_path):
            out.add(d.b_path)
    return sorted(out)


@dataclass
class Changed:
    path: str  # repository-relative
    name: str
    engine: str
    runner: str  # hosted | self-hosted
    sha256: str  # of the file: reports of it carry the same (experiment.sha256)


def runner_class(exp) -> str:
    """CPU engines and the simulator run on hosted runners; real GPU engines need the GPU."""
    return HOSTED if engines()[exp.engine.name].simulated or exp.gpus_per_trial == 0 else (
        SELF_HOSTED)


def plan(repo_dir: Path, base: str, remote: str = "origin") -> dict:
    """The plan document (see `tuneops ci plan --help`); UserError on a bad path or file."""
    repo = git.Repo(repo_dir)
    root = Path(repo.working_tree_dir)
    head = repo.head.commit
    base_commit = resolve(repo, base, remote)
    diags: list[Diagnostic] = []
    changed: list[Changed] = []
    for rel in changed_paths(repo, base_commit, head):
        try:
            check_path(rel)
        except UserError as exc:
            diags += exc.diagnostics
            continue
        path = root / rel
        exp, errs = validate_file(path)
        if errs:
            diags += errs
            continue
        changed.append(Changed(rel, exp.name, exp.engine.name, runner_class(exp),
                               hashlib.sha256(path.read_bytes()).hexdigest()))
    seen: dict[str, str] = {}
    for ch in changed:  # results travel by experiment name (ci-out/<name>/): one file each
        if ch.name in seen:
            diags.append(Diagnostic(ch.path, 0, 0, "metadata.name",
                                    f"experiment name {ch.name!r} is also used by {seen[ch.name]}"))
        seen.setdefault(ch.name, ch.path)
    if diags:
        raise UserError(diags)
    return {
        "base": base_commit.hexsha,
        "head": head.hexsha,
        "experiments": [asdict(c) for c in changed],
        HOSTED: [c.path for c in changed if c.runner == HOSTED],
        SELF_HOSTED: [c.path for c in changed if c.runner == SELF_HOSTED],
        # what the comment compares with: the base's latest report of each experiment
        "base_reports": {c.name: base_report(base_commit, c.name) for c in changed},
    }
