"""The one reader of results.json: every part that reads a report reads it here.

A report is input from outside: committed reports come with pull requests, CI artifacts
come from jobs that ran a PR's code, and a file under reports/ can be anything. So a
report is read only as a regular file (never through a symlink, never a FIFO or device,
which would hang the reader), at most MAX_REPORT_BYTES, as strict JSON (no NaN or
Infinity, no number too large for a float, no key given twice), then validated against
schemas/report.schema.json and checked for what a schema cannot say: each trial id once,
every id the decision and the Pareto front name is a trial of the report, and, where the
caller knows them, the experiment's sha256 and its plan's trial ids. A file that fails any
of it is refused whole (UserError: its path, the field and the reason → exit 2); nothing
of it is used.

The store (runner/store.py), `tuneops ci plan`/`ci comment`, `tuneops diff` and
`tuneops promote` all read through `load` or `parse`.
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
from tuneops.runner.report import results_json

from tuneops.errors import Diagnostic, FileProblem, UserError
from tuneops.metrics import METRICS

RESULTS = "results.json"
MAX_REPORT_BYTES = 64 * 1024 * 1024
MAX_DIAGNOSTICS = 10  # a file wrong everywhere is named once per problem, up to this many
TRIAL_ID = re.compile(r"[0-9a-f]{12}")


class NotRegular(OSError):
    """A path that is a symlink, a FIFO, a device, a folder: never read."""


def read_regular(path: str | os.PathLike, root: str | os.PathLike | None = None,
                 *, limit: int = MAX_REPORT_BYTES) -> bytes:
    """The bytes of `path`, refusing symlinks (at the file and, with `root`, on the way
    from `root` down to it), anything that is not a regular file, and files over `limit`.

    Opened with O_NONBLOCK, so a FIFO planted in place of a report answers at once instead
    of blocking the reader until something writes to it; then fstat decides. Raises
    OSError (NotRegular for what is not a plain file)."""
    path = Path(path)
    if root is not None:
        root = Path(root)
        rel = path.relative_to(root)  # ValueError if outside: a bug in the caller
        here = root
        for part in rel.parts[:-1]:
            here = here / part
            if not stat.S_ISDIR(os.lstat(here).st_mode):
                raise NotRegular(f"{here} is not a plain folder")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        if os.path.islink(path):
            raise NotRegular(f"{path} is a symlink") from None
        raise exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegular(f"{path} is not a regular file")
        if info.st_size > limit:
            raise NotRegular(f"{path} is larger than {limit} bytes")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(limit + 1)  # bounded even if the file grows while read
        if len(data) > limit:
            raise NotRegular(f"{path} is larger than {limit} bytes")
        return data
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Expect:
    """What the caller knows a report must be of: the experiment file's sha256, and the
    trial ids its plan can hold (None: not known, not checked)."""

    sha256: str | None = None
    trial_ids: frozenset[str] | None = None


@dataclass(frozen=True)
class ReportTrial:
    """One trial of a checked report; `entry` is its results.json object as validated."""

    trial_id: str
    status: str
    params: dict[str, Any]
    entry: dict[str, Any]

    @property
    def score(self) -> dict[str, Any] | None:
        return self.entry["score"]


@dataclass(frozen=True)
class Report:
    """A results.json that passed every check; `doc` is the document as validated."""

    where: str  # the path it was read from, for messages
    doc: dict[str, Any]
    trials: tuple[ReportTrial, ...]
    by_id: dict[str, ReportTrial] = field(repr=False)

    @property
    def experiment_name(self) -> str:
        return self.doc["experiment"]["name"]

    @property
    def experiment_sha256(self) -> str | None:
        return self.doc["experiment"]["sha256"]

    @property
    def run_id(self) -> str:
        return self.doc["run"]["id"]

    @property
    def engine(self) -> str:
        return self.doc["engine"]["name"]

    @property
    def procedure(self) -> int:
        """The measurement procedure it was made with (0: before procedures had versions)."""
        return (self.doc.get("identity") or {}).get("procedure", 0)

    @property
    def best(self) -> ReportTrial | None:
        best = self.doc["best_trial_id"]
        return self.by_id.get(best) if best is not None else None


def _refuse(where: str, problems: list[tuple[str, str]]) -> UserError:
    diags = [Diagnostic(where, 0, 0, path, message) for path, message in
             problems[:MAX_DIAGNOSTICS]]
    return UserError(diags, summary=f"{where}: not a usable results.json (refused whole; "
                                    "nothing of it is used)")


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"the key {key!r} is given twice")
        out[key] = value
    return out


def _float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"the number {text[:40]} is too large for a float")
    return value


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number strict JSON allows")


def _json_path(parts) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _check(doc: dict[str, Any], expect: Expect) -> list[tuple[str, str]]:
    """What the schema cannot say. `doc` is schema-valid."""
    problems: list[tuple[str, str]] = []
    ids: dict[str, int] = {}
    for i, trial in enumerate(doc["trials"]):
        tid = trial["trial_id"]
        if not TRIAL_ID.fullmatch(tid):
            problems.append((f"trials[{i}].trial_id", f"{tid[:40]!r} is not a trial id "
                                                      "(12 lowercase hex digits)"))
        elif tid in ids:
            problems.append((f"trials[{i}].trial_id",
                             f"trial {tid} is also trials[{ids[tid]}]"))
        elif expect.trial_ids is not None and tid not in expect.trial_ids:
            problems.append((f"trials[{i}].trial_id",
                             f"trial {tid} is not a trial of the experiment's plan"))
        ids.setdefault(tid, i)
        reused = trial.get("reused_from")
        if reused is not None and (reused.startswith("/") or ".." in reused.split("/")):
            problems.append((f"trials[{i}].reused_from",
                             "must be a path inside the repository (reports/<exp>/<run>)"))
    # every metric a report names is one tuneops knows: what it means (unit, direction,
    # bound) is asked of tuneops.metrics, and an unknown name is no metric but text
    metrics = [("objective.metric", doc["objective"]["metric"])]
    metrics += [(f"slos[{i}].metric", s["metric"]) for i, s in enumerate(doc["slos"])]
    for i, trial in enumerate(doc["trials"]):
        checks = (trial.get("score") or {}).get("slo_checks") or []
        metrics += [(f"trials[{i}].score.slo_checks[{j}].metric", c["metric"])
                    for j, c in enumerate(checks)]
    for path, name in metrics:
        if name not in METRICS:
            problems.append((path, f"{name[:40]!r} is not a metric tuneops knows"))
    named = [("best_trial_id", doc["best_trial_id"])]
    named += [(f"pareto.trial_ids[{i}]", t) for i, t in enumerate(doc["pareto"]["trial_ids"])]
    decision = doc.get("decision") or {}
    named += [("decision.best_trial_id", decision.get("best_trial_id"))]
    named += [(f"decision.tie_set[{i}]", t) for i, t in enumerate(decision.get("tie_set", []))]
    named += [(f"decision.contended_trials[{i}]", t)
              for i, t in enumerate(decision.get("contended_trials") or [])]
    for path, tid in named:
        if tid is not None and tid not in ids:
            problems.append((path, f"names trial {str(tid)[:40]!r}, which the report does "
                                   "not hold"))
    if expect.sha256 is not None and doc["experiment"]["sha256"] != expect.sha256:
        problems.append(("experiment.sha256", f"is {doc['experiment']['sha256']}, a report of "
                                              f"another version of the file (expected "
                                              f"{expect.sha256})"))
    return problems


def from_document(doc: Any, where: str, expect: Expect = Expect()) -> Report:
    """A Report of an already-parsed document (e.g. carried in the CI plan), checked the
    same way as a file."""
    validator = jsonschema.Draft202012Validator(results_json.schema())
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        raise _refuse(where, [(_json_path(e.absolute_path) or "(document)", e.message[:300])
                              for e in errors])
    problems = _check(doc, expect)
    if problems:
        raise _refuse(where, problems)
    trials = tuple(ReportTrial(t["trial_id"], t["status"], t["params"], t)
                   for t in doc["trials"])
    return Report(where, doc, trials, {t.trial_id: t for t in trials})


def parse(data: bytes, where: str, expect: Expect = Expect()) -> Report:
    """A Report of results.json bytes (a file, or a git blob); UserError when refused."""
    try:
        doc = json.loads(data.decode("utf-8"), object_pairs_hook=_pairs,
                         parse_float=_float, parse_constant=_constant)
    except json.JSONDecodeError as exc:
        raise UserError([Diagnostic(where, exc.lineno, exc.colno, "", f"not JSON: {exc.msg}")],
                        summary=f"{where}: not a usable results.json") from None
    except (ValueError, RecursionError) as exc:  # NaN, duplicate keys, bad UTF-8, nesting
        raise _refuse(where, [("", f"not strict JSON: {str(exc)[:200]}")]) from None
    return from_document(doc, where, expect)


def results_path(report: str | os.PathLike) -> Path:
    """results.json of a report folder, or the path itself."""
    path = Path(report)
    return path / RESULTS if path.is_dir() and not path.is_symlink() else path


def load(path: str | os.PathLike, root: str | os.PathLike | None = None,
         expect: Expect = Expect()) -> Report:
    """The checked report at `path` (a results.json, or a report folder holding one).

    With `root`, no folder between `root` and the file may be a symlink. A missing or
    unreadable file is FileProblem, anything else wrong UserError; both exit 2."""
    path = results_path(path)
    try:
        data = read_regular(path, root)
    except NotRegular as exc:
        raise _refuse(str(path), [("", str(exc))]) from None
    except OSError as exc:
        raise FileProblem(path, "read", exc) from None
    return parse(data, str(path), expect)
