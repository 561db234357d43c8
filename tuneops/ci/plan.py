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

import hashlib
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import git

from tuneops.errors import Diagnostic, UserError
from tuneops.registry import engines
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


def resolve(repo: git.Repo, rev: str, remote: str = "origin") -> git.Commit:
    """The commit `rev` names, fetching it (alone) from `remote` when the checkout lacks it."""
    try:
        return repo.commit(rev)
    except (git.BadName, ValueError):
        pass
    depth = ["--depth=1"] if (Path(repo.git_dir) / "shallow").exists() else []
    repo.git.fetch("--no-tags", *depth, remote, rev)
    return repo.commit("FETCH_HEAD")


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
    if diags:
        raise UserError(diags)
    return {
        "base": base_commit.hexsha,
        "head": head.hexsha,
        "experiments": [asdict(c) for c in changed],
        HOSTED: [c.path for c in changed if c.runner == HOSTED],
        SELF_HOSTED: [c.path for c in changed if c.runner == SELF_HOSTED],
    }
