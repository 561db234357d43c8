"""The run journal: an append-only JSON-lines file, the only state a run keeps.

Like Optuna's JournalStorage, nothing is updated in place: every event is one line appended
(one write + fsync), and what the run knows — finished trials, half-done ones, whether it
ended — is derived by replaying the lines (`replay`). A runner killed with SIGKILL loses at
most the line it was writing; replay drops a torn last line, and reopening cuts it off.
The journal owns RESERVE_BYTES of disk past its last line, so a disk that fills mid-run
still takes the lines that name the lost trials and the run's end.

    runs/<experiment>/<run-id>/journal.jsonl     run-id: 20261127T020000Z-<exp-hash8>
    runs/<experiment>/<run-id>/runner.lock       flock'd by the live runner (pid, host inside)

Events: run_started {run_id, experiment, experiment_hash, pid, host, owner},
trial_started {trial_id, attempt, gpus, owner, pid, params?, index?},
trial_finished {result: TrialResult.as_dict()}, note {message}, run_finished {}.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tuneops.deployments.common.fsutil import append_line, fsync_dir, reserve_past_end
from tuneops.runner.journal_check import Checker
from tuneops.runner.results import CANCELLED, TrialResult

from tuneops import errors, secrets
from tuneops.plan import Trial, identity_facts, make_trial
from tuneops.spec import Experiment, canonical_json
from tuneops.yamlio import read_bounded

JOURNAL = "journal.jsonl"
LOCK = "runner.lock"
VERSION = 1
MAX_BYTES = 1 << 30  # a journal holds every request's latencies; a device file has no end
# Fields that bound a run but change neither what a trial measures nor which trials are
# proposed: editing them keeps resuming the same run.
_BUDGET_FIELDS = ("max_trials", "max_failed_trials", "parallel_trials", "time_budget_s")
# Disk the journal holds past its last line (allocated, not yet written): when the disk
# fills mid-run (genai-bench's output, an engine's log, someone else's file), the lines
# that record the lost trials and the run's end still fit, so the run finishes, names
# what it lost, and its journal stays whole. A trial's line with every request's records
# is ~10-100 KB; topped up whenever less than half is left.
RESERVE_BYTES = 4 << 20


def experiment_hash(exp: Experiment) -> str:
    """What makes two runs the same run: the experiment minus its source, prose and budgets,
    plus what else the trial ids hash (a new measurement procedure or engine code starts a
    new run rather than resuming one whose finished trials have other ids)."""
    d = asdict(exp)
    d["identity"] = identity_facts(exp)
    for key in ("source_file", "source_sha256", "description", "labels"):
        d.pop(key, None)
    for key in _BUDGET_FIELDS:
        d["search"].pop(key, None)
    return hashlib.sha256(canonical_json(d).encode()).hexdigest()


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def new_run_id(exp: Experiment, now: float | None = None) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    return f"{stamp}-{experiment_hash(exp)[:8]}"


# -- replay ------------------------------------------------------------------------------
@dataclass
class RunState:
    """Everything a run knows, derived from its journal."""

    run_id: str | None = None
    experiment: str | None = None
    experiment_hash: str | None = None
    sessions: list[dict[str, Any]] = field(default_factory=list)  # run_started records
    finished: dict[str, TrialResult] = field(default_factory=dict)  # last result wins
    cancelled: dict[str, TrialResult] = field(default_factory=dict)  # to run again
    unfinished: dict[str, dict[str, Any]] = field(default_factory=dict)  # started, no result
    run_finished: bool = False
    notes: list[str] = field(default_factory=list)
    records: int = 0
    bad_lines: int = 0  # unparseable complete lines (never written by this module)
    torn_tail: bool = False  # the last line was cut short by a kill
    valid_bytes: int = 0  # length of the journal up to its last complete line

    @property
    def last_runner(self) -> dict[str, Any] | None:
        return self.sessions[-1] if self.sessions else None

    def half_done(self, exp: Experiment) -> list[Trial]:
        """Trials to run again (started but never finished, or cancelled), in index order.

        Only starts recorded with their params can be rebuilt; the id is recomputed, so it
        matches the plan's as long as the experiment (same hash) is unchanged.
        """
        points = [
            (r.get("index", 0), r["params"])
            for r in self.unfinished.values()
            if r.get("params") is not None
        ]
        points += [(r.index, r.params) for r in self.cancelled.values()]
        return [make_trial(exp, params, index) for index, params in sorted(points, key=_first)]

    def apply(self, rec: dict[str, Any]) -> None:
        """Fold one record into the state (replay and live appends share this)."""
        self.records += 1
        event = rec.get("event")
        if event == "run_started":
            self.sessions.append(rec)
            self.run_id = rec.get("run_id", self.run_id)
            self.experiment = rec.get("experiment", self.experiment)
            self.experiment_hash = rec.get("experiment_hash", self.experiment_hash)
            self.run_finished = False
        elif event == "trial_started":
            tid = rec["trial_id"]
            self.unfinished[tid] = rec
            self.finished.pop(tid, None)
            self.cancelled.pop(tid, None)
        elif event == "trial_finished":
            result = TrialResult.from_dict(rec["result"])
            tid = result.trial_id
            self.unfinished.pop(tid, None)
            if result.status == CANCELLED:
                self.finished.pop(tid, None)
                self.cancelled[tid] = result
            else:
                self.cancelled.pop(tid, None)
                self.finished[tid] = result
        elif event == "note":
            self.notes.append(rec.get("message", ""))
        elif event == "run_finished":
            self.run_finished = True


def _first(pair: tuple[int, Any]) -> int:
    return pair[0]


def replay(path: str | os.PathLike, exp: Experiment | None = None) -> RunState:
    """Rebuild the state from a journal file (or a run directory holding one).

    With `exp` (a run about to use the state), every complete line is checked first
    (runner.journal_check: schema, finite numbers, this experiment's hash and plan) and a
    bad one raises UserError naming the line: nothing of that journal is used. Without it
    (a look at a journal), malformed lines are counted in `bad_lines` and skipped."""
    path = Path(path)
    if path.is_dir():
        path = path / JOURNAL
    state = RunState()
    try:  # non-blocking and regular files only: a FIFO planted as the journal cannot hang us
        data = read_bounded(path, MAX_BYTES, "the journal")
    except FileNotFoundError:
        return state
    except OSError as exc:
        raise errors.FileProblem(path, "read", exc) from exc
    except ValueError as exc:
        raise errors.UserError([errors.Diagnostic(str(path), 0, 0, "", str(exc))]) from None
    end = data.rfind(b"\n") + 1
    state.valid_bytes = end
    state.torn_tail = end < len(data)
    checker = Checker(str(path), exp, experiment_hash(exp)) if exp is not None else None
    for number, line in enumerate(data[:end].split(b"\n"), 1):
        if not line.strip():
            continue
        if checker is not None:
            state.apply(checker.record(line, number))
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            state.bad_lines += 1
            continue
        if not isinstance(rec, dict):
            state.bad_lines += 1
            continue
        try:
            state.apply(rec)
        except (KeyError, TypeError, ValueError, AttributeError):
            state.bad_lines += 1  # valid JSON of the wrong shape: skipped, as garbage is
    return state


def find_resumable(runs_root: str | os.PathLike, exp: Experiment) -> Path | None:
    """The newest run of this same experiment, if it did not finish (else None: start anew)."""
    exp_dir = Path(runs_root) / exp.name
    if not exp_dir.is_dir():
        return None
    full = experiment_hash(exp)
    for run_dir in sorted(exp_dir.iterdir(), key=lambda p: p.name, reverse=True):
        if full[:8] not in run_dir.name or not (run_dir / JOURNAL).is_file():
            continue
        state = replay(run_dir)
        first = state.sessions[0].get("experiment_hash") if state.sessions else None
        if first != full:  # the run's first record says whose it is; later ones are checked
            continue
        return None if state.run_finished else run_dir
    return None


# -- one runner per run directory --------------------------------------------------------
class RunInUse(errors.UserError):
    """Another live runner holds this run directory."""


def process_alive(pid: int, host: str | None) -> bool | None:
    """Whether a runner process still exists (None: it ran on another host, can't tell)."""
    if host and host != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunLock:
    """An exclusive flock on <run>/runner.lock, released by the kernel when the holder dies."""

    def __init__(self, run_dir: Path, info: dict[str, Any]) -> None:
        self.path = run_dir / LOCK
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            who = (
                f"pid {holder.get('pid')} on {holder.get('host')} since {holder.get('since')}"
                if holder
                else "another runner"
            )
            err = RunInUse(
                summary=f"{run_dir} is in use by {who}; one runner per run directory "
                "(wait for it, stop it, or start a separate run with --fresh)"
            )
            err.holder = holder
            raise err from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        self.fd: int | None = fd

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def _read_holder(fd: int) -> dict[str, Any]:
    try:
        return json.loads(os.pread(fd, 4096, 0) or b"{}")
    except ValueError:
        return {}


# -- writing -----------------------------------------------------------------------------
class Run:
    """An open run directory: holds the lock, appends events, keeps `state` current."""

    def __init__(self, run_dir: Path, exp: Experiment, *, resumed: bool) -> None:
        self.dir = Path(run_dir)
        self.run_id = self.dir.name
        self.resumed = resumed
        self.owner = f"{exp.name}/{self.run_id}"
        self.pid = os.getpid()
        self.host = socket.gethostname()
        self.notes: list[str] = []
        self._mutex = threading.Lock()
        self._fd: int | None = None
        self._reserved_to = 0  # the journal owns disk up to this offset
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            self.lock = RunLock(
                self.dir,
                {"pid": self.pid, "host": self.host, "since": utc_now(), "run_id": self.run_id},
            )
        except OSError as exc:
            where = exc.filename or self.dir
            raise errors.FileProblem(where, "create the run folder", exc) from exc
        errors.crash_dir = str(self.dir)  # a crash from here on is logged in this run
        try:
            self.path = self.dir / JOURNAL
            self.state = replay(self.path, exp)
            previous = self.state.last_runner
            created = not self.path.exists()
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            if created:
                fsync_dir(self.dir)
            if self.state.torn_tail:  # cut the torn line so the next record starts clean
                os.ftruncate(self._fd, self.state.valid_bytes)
                os.fsync(self._fd)
            self._keep_reserve(os.fstat(self._fd).st_size)
            self._append(
                {
                    "event": "run_started",
                    "run_id": self.run_id,
                    "experiment": exp.name,
                    "experiment_hash": experiment_hash(exp),
                    "pid": self.pid,
                    "host": self.host,
                    "owner": self.owner,
                    "resumed": resumed,
                }
            )
            if previous is not None:
                self.note(
                    f"resumed run {self.run_id}: {len(self.state.finished)} trial(s) finished, "
                    f"{len(self.state.unfinished)} half-done; previous runner pid "
                    f"{previous.get('pid')} on {previous.get('host')} is gone"
                )
            if self.state.torn_tail:
                self.note("dropped a torn last journal line (the previous runner was killed)")
        except OSError as exc:
            self.lock.release()
            raise errors.FileProblem(exc.filename or self.path, "write the journal", exc) from exc
        except BaseException:
            self.lock.release()
            raise

    def _append(self, record: dict[str, Any]) -> None:
        """One line, all or nothing: a failed write (a full disk, an I/O error) is cut back
        off, so the journal never keeps a torn line; the caller gets a FileProblem naming
        the journal, and the run stops resumable from its last whole line."""
        # masked inside string values only: numbers, true/null and the syntax stay JSON
        record = secrets.redact_data({"v": VERSION, "ts": utc_now(), **record})
        line = json.dumps(record, separators=(",", ":"), default=str).encode() + b"\n"
        with self._mutex:
            if self._fd is None:
                raise errors.FileProblem(self.path, "append to", OSError("journal is closed"))
            size = os.fstat(self._fd).st_size
            try:
                append_line(self._fd, line)
            except OSError as exc:
                try:
                    os.ftruncate(self._fd, size)
                    os.fsync(self._fd)
                except OSError:
                    pass  # replay drops a torn last line anyway
                self._reserved_to = 0  # a truncate may have freed what was reserved
                self._keep_reserve(size)
                raise errors.FileProblem(self.path, "append to", exc) from exc
            self._keep_reserve(size + len(line))
            self.state.apply(record)

    def _keep_reserve(self, end: int) -> None:
        """Hold RESERVE_BYTES past `end` (fsutil.reserve_past_end) once less than half is
        left; on a disk already full it stays as it is, and lines use what is left."""
        if self._fd is not None and self._reserved_to - end < RESERVE_BYTES // 2 \
                and reserve_past_end(self._fd, end, RESERVE_BYTES):
            self._reserved_to = end + RESERVE_BYTES

    def note(self, message: str) -> None:
        self.notes.append(message)
        self._append({"event": "note", "message": message})

    def trial_started(
        self,
        trial: Any,
        *,
        attempt: int = 1,
        gpus: tuple[str, ...] | list[str] = (),
        owner: str = "",
        params: dict[str, Any] | None = None,
        index: int | None = None,
    ) -> None:
        """`trial`: a trial id or a tuneops.plan.Trial (its params and index are then kept)."""
        trial_id = getattr(trial, "id", trial)
        params = params if params is not None else getattr(trial, "params", None)
        index = index if index is not None else getattr(trial, "index", None)
        rec = {
            "event": "trial_started",
            "trial_id": trial_id,
            "attempt": attempt,
            "gpus": list(gpus),
            "owner": owner or self.owner,
            "pid": self.pid,
        }
        if params is not None:
            rec["params"] = params
        if index is not None:
            rec["index"] = index
        self._append(rec)

    def trial_finished(self, result: TrialResult) -> None:
        self._append(
            {"event": "trial_finished", "trial_id": result.trial_id, "result": result.as_dict()}
        )

    def finished(self) -> None:
        self._append({"event": "run_finished"})

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if errors.crash_dir == str(self.dir):  # a crash after the run is no longer its own
            errors.crash_dir = None
        self.lock.release()


def _new_run_dir(exp_dir: Path, exp: Experiment) -> Path:
    base = new_run_id(exp)
    try:
        exp_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise errors.FileProblem(exc.filename or exp_dir, "create", exc) from exc
    for n in range(1000):
        run_dir = exp_dir / (base if n == 0 else f"{base}-{n}")
        try:
            run_dir.mkdir()
            return run_dir
        except FileExistsError:
            continue
        except OSError as exc:
            raise errors.FileProblem(run_dir, "create", exc) from exc
    raise errors.TuneopsError(f"cannot create a run directory under {exp_dir}")


@contextmanager
def open_run(
    runs_root: str | os.PathLike, exp: Experiment, *, fresh: bool = False
) -> Iterator[Run]:
    """Resume this experiment's unfinished run (unless `fresh`), or start a new one.

    Raises RunInUse when a live runner holds the run directory.
    """
    run_dir = None if fresh else find_resumable(runs_root, exp)
    resumed = run_dir is not None
    if run_dir is None:
        run_dir = _new_run_dir(Path(runs_root) / exp.name, exp)
    run = Run(run_dir, exp, resumed=resumed)
    try:
        yield run
    finally:
        run.close()
