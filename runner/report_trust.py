"""Which committed reports may stand in for a measurement: the provenance policy of the
results store (runner/store.py) on the pull-request bot's trusted side.

A results.json is only bytes in a checkout; anybody can write one (a pull request once
added a report holding the planned trial ids with throughput ×100 and a `reused_from`
naming main's real report, and the bot republished it as measured). So a report is
trusted only when git history says the bot published it and nobody touched it since:

- every file of `reports/<experiment>/<run>/` in HEAD's tree was added by a *publish
  commit*: author and committer are the bot's identity (BOT_NAME, BOT_EMAIL) and the
  message carries the trailer `Tuneops-Run: <run>` naming this very folder;
- each file's blob in HEAD equals the blob that commit added (no later edit, including an
  edit hidden in a merge commit's conflict resolution), and is a plain file (mode 100644);
- the checkout has the history to say so: in a shallow clone the boundary commit seems to
  add every file, so nothing is trusted there.

The bot's identity is not authenticated by git; it is what lands on the default branch
after review. That is why the comment warns about any pull request that touches reports/
(tuneops/ci/comment.py) and why the trusted workflow reads the default branch's reports,
never the pull request's.

"Main's latest report" of an experiment is the trusted one whose publish commit is newest
in history order (`git log`), not the lexicographically largest folder name.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

import git

BOT_NAME = "tuneops-bot"
BOT_EMAIL = "tuneops-bot@users.noreply.github.com"
TRAILER = "Tuneops-Run"
_SEP, _FS = "\x1e", "\x1f"
_RUN_DIR = re.compile(r"reports/([A-Za-z0-9_][A-Za-z0-9._-]*)/([A-Za-z0-9_][A-Za-z0-9._-]*)/.+")


ATTESTATION = "attestation.json"
KEY_ENV = "TUNEOPS_ATTEST_KEY"


def _mac(key: bytes, run_id: str, results: bytes, head_sha: str) -> str:
    message = "\n".join(["tuneops-attestation-v1", run_id, hashlib.sha256(results).hexdigest(),
                          head_sha]).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def attestation(key: bytes, run_id: str, results: bytes, head_sha: str) -> dict:
    """What the publish job writes beside a report it publishes: an HMAC over the run id,
    the results.json digest (trial ids and metrics) and the PR head it measured, with a key
    only the trusted workflow's environments hold."""
    return {"version": 1, "run": run_id, "results_sha256": hashlib.sha256(results).hexdigest(),
            "head_sha": head_sha, "hmac": _mac(key, run_id, results, head_sha)}


def attested(key: bytes | None, run_dir: Path) -> bool:
    """Does `run_dir` carry a valid attestation of its results.json (plain files only)?"""
    if not key:
        return False
    try:
        results = read_plain(run_dir / "results.json")
        doc = json.loads(read_plain(run_dir / ATTESTATION))
    except (OSError, ValueError):
        return False
    if not isinstance(doc, dict) or doc.get("run") != run_dir.name:
        return False
    head = doc.get("head_sha")
    return isinstance(head, str) and isinstance(doc.get("hmac"), str) and hmac.compare_digest(
        doc["hmac"], _mac(key, run_dir.name, results, head))


def read_plain(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path} is not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read(64 * 1024 * 1024)
    finally:
        os.close(fd)


def attest_key() -> bytes | None:
    value = os.environ.get(KEY_ENV, "")
    return value.encode() if len(value) >= 32 else None


def publish_message(subject: str, run_id: str, head_sha: str) -> str:
    """The commit message of a publish commit: what `ReportTrust` recognises."""
    return f"{subject}\n\nPR head: {head_sha}\n\n{TRAILER}: {run_id}\n"


@dataclass
class ReportTrust:
    """The set of trusted report folders of one repository (repository-relative
    `reports/<experiment>/<run>`), newest publish first, and why the others are not."""

    root: Path
    trusted: list[str] = field(default_factory=list)  # newest publish commit first
    refused: dict[str, str] = field(default_factory=dict)  # folder → the reason

    @classmethod
    def from_git(cls, repo_dir: str | Path, rev: str = "HEAD") -> ReportTrust:
        try:
            repo = git.Repo(repo_dir, search_parent_directories=True)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError):
            out = cls(Path(repo_dir))
            out.refused["reports/"] = "not a git checkout: no history to prove who published"
            return out
        out = cls(Path(repo.working_tree_dir))
        if repo.git.rev_parse("--is-shallow-repository") == "true":
            out.refused["reports/"] = "shallow checkout: no history to prove who published"
            return out
        try:
            head_blobs = _blobs(repo, rev)
        except git.GitCommandError:
            return out  # no commit yet
        folders: dict[str, dict[str, tuple[str, str]]] = {}
        for path, (mode, sha) in head_blobs.items():
            m = _RUN_DIR.fullmatch(path)
            if m:
                folders.setdefault(f"reports/{m.group(1)}/{m.group(2)}", {})[path] = (mode, sha)
        adders = _adders(repo, rev)  # path → (commit, is publish commit of run, order)
        ranked = []
        for folder, files in folders.items():
            run = folder.rsplit("/", 1)[1]
            why = ""
            commits = set()
            for path, (mode, sha) in files.items():
                hit = adders.get(path)
                if mode != "100644":
                    why = f"{path} is not a plain file (mode {mode})"
                elif hit is None:
                    why = f"{path}: no commit in the history adds it"
                elif not hit.publishes(run):
                    why = f"{path} was added by {hit.sha[:12]} ({hit.who}), not a publish commit"
                elif hit.blobs.get(path) != sha:
                    why = f"{path} changed after {hit.sha[:12]} published it"
                if why:
                    break
                commits.add(hit)
            if why:
                out.refused[folder] = why
            else:
                ranked.append((min(c.order for c in commits), folder))
        out.trusted = [f for _, f in sorted(ranked)]
        return out

    def add_attested(self, reports_root: Path, key: bytes | None) -> list[str]:
        """Also trust report folders in the working tree (staged from the pull request's
        branch by `tuneops ci plan --head-sha`) whose attestation verifies with `key`:
        reports this workflow published to the branch on an earlier push."""
        added = []
        root = Path(reports_root)
        for exp_dir in sorted(root.iterdir()) if key and root.is_dir() else []:
            for run_dir in sorted(exp_dir.iterdir()) if exp_dir.is_dir() else []:
                rel = f"reports/{exp_dir.name}/{run_dir.name}"
                if rel not in self.trusted and not run_dir.is_symlink() and attested(
                        key, run_dir):
                    self.trusted.append(rel)
                    self.refused.pop(rel, None)
                    added.append(rel)
        return added

    def allows(self, run_dir: Path) -> bool:
        """Is this report folder (a path under the repository) a trusted one?"""
        try:
            rel = Path(run_dir).resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return False
        return rel in self.trusted

    def filter(self, run_dirs: list[Path]) -> list[Path]:
        """The trusted ones of `run_dirs`, in their order: the store's hook."""
        return [d for d in run_dirs if self.allows(d)]

    def latest(self, experiment: str) -> str | None:
        """The newest trusted report folder of `experiment`, by its publish commit."""
        return next((f for f in self.trusted if f.split("/")[1] == experiment), None)


@dataclass(frozen=True)
class _Commit:
    sha: str
    who: str
    trailers: tuple[str, ...]
    order: int  # 0 = newest in `git log` order
    blobs: dict[str, str] = field(hash=False, compare=False, default_factory=dict)
    bot: bool = False

    def publishes(self, run: str) -> bool:
        return self.bot and run in self.trailers


def _blobs(repo: git.Repo, rev: str,
           paths: tuple[str, ...] = ("reports",)) -> dict[str, tuple[str, str]]:
    out = {}
    for line in repo.git.ls_tree("-r", "-z", rev, "--", *paths).split("\0"):
        if line:
            meta, path = line.split("\t", 1)
            mode, _kind, sha = meta.split()
            out[path] = (mode, sha)
    return out


def _adders(repo: git.Repo, rev: str) -> dict[str, _Commit]:
    """Each path under reports/ → the newest commit that added it (`--diff-filter=A`)."""
    fmt = (f"{_SEP}%H{_FS}%an{_FS}%ae{_FS}%cn{_FS}%ce{_FS}"
           f"%(trailers:key={TRAILER},valueonly,separator=%x2C)")
    text = repo.git.log(rev, "--diff-filter=A", "--no-renames", "--name-only", "-z",
                        f"--format={fmt}", "--", "reports")
    out: dict[str, _Commit] = {}
    for order, chunk in enumerate(c for c in text.split(_SEP) if c.strip("\0\n")):
        head, _, names = chunk.partition("\n")
        sha, an, ae, cn, ce, trailers = head.strip("\0").split(_FS)
        bot = (an, ae, cn, ce) == (BOT_NAME, BOT_EMAIL, BOT_NAME, BOT_EMAIL)
        paths = [p.strip("\n") for p in names.split("\0") if p.strip("\n")]
        folders = tuple(sorted({p.rsplit("/", 1)[0] for p in paths}))
        blobs = {p: s for p, (_m, s) in _blobs(repo, sha, folders).items()} if bot else {}
        commit = _Commit(sha, f"{an} <{ae}>", tuple(t.strip() for t in trailers.split(",")
                                                    if t.strip()), order, blobs, bot)
        for p in paths:
            out.setdefault(p, commit)
    return out
