"""The runner's side of the warm AIPerf parent (aiperf_warm.py): AIPerf's imports paid once
per run, not once per offered rate, each rate still a fresh `aiperf profile` run.

`WarmAIPerf` starts the parent in AIPerf's venv, in its own session, and asks it for one
run at a time; `WarmRun` is that run with BenchProcess's interface (`wait` with timeout,
cancel and the engine watch; `log_path`), so runner/loadgen/rate.py measures a point the
same way either way. A run is stopped by its own process group (the forked child is a
session leader; AIPerf's services are its children), the parent lives on.

The parent's own failures are the runner's, never the point's: a parent that does not
start, dies, or answers garbage raises WarmFailure (it has been killed), and rate.py runs
that point with the `aiperf` CLI instead; `WarmPool` starts a fresh parent on the next
lease. A runner that dies takes the parent with it (PR_SET_PDEATHSIG), and the parent
takes its run.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tuneops.runner.bench.process import stop_reason
from tuneops.runner.bench.worker import WorkerPool

SCRIPT = Path(__file__).with_name("aiperf_warm.py")
PARENT_ENV = "TUNEOPS_AIPERF_WARM_PARENT"  # aiperf_warm.PARENT_ENV (not importable here)
WARM_LOG = "aiperf-warm.log"
START_TIMEOUT_S = 240.0  # AIPerf's plugins and transformers, imported on a loaded machine
REPLY_TIMEOUT_S = 30.0  # a fork is answered at once
STOP_GRACE_S = 5.0
POLL_S = 0.25


class WarmFailure(Exception):
    """The warm parent did not start, died or answered garbage; it has been killed."""


class WarmAIPerf:
    """One warm parent process; one run at a time."""

    def __init__(self, python: str | os.PathLike, log_dir: str | os.PathLike, env: dict[str, str],
                 args: Sequence[str] = (), script: str | os.PathLike = SCRIPT) -> None:
        log_dir = Path(log_dir)
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / WARM_LOG
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in kill()
        self.proc = subprocess.Popen(
            [str(python), str(script), *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._log, env={**env, PARENT_ENV: str(os.getpid())},
            start_new_session=True)
        self._buf = b""
        self.ready: dict[str, Any] | None = None
        self.runs = 0

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_ready(self, timeout_s: float = START_TIMEOUT_S) -> dict[str, Any]:
        if self.ready is None:
            reply = self.read(timeout_s, "start") or {}
            if reply.get("ready") is not True:
                self.kill()
                raise WarmFailure(f"the warm AIPerf parent did not say ready: {reply!r}")
            self.ready = reply
        return self.ready

    def start(self, argv: Sequence[str], cwd: str | os.PathLike, log: str | os.PathLike,
              cpus: Sequence[int] = ()) -> WarmRun:
        """Fork one `aiperf` run of `argv` (without the program name)."""
        self.wait_ready()
        # absolute: the child changes into cwd, and the parent's own cwd is not the runner's
        request = {"argv": list(argv), "cwd": str(Path(cwd).resolve()),
                   "log": str(Path(log).resolve()),
                   "cpus": [int(c) for c in cpus]}
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write((json.dumps(request) + "\n").encode())
            self.proc.stdin.flush()
        except OSError as e:
            self.kill()
            raise WarmFailure(f"the warm AIPerf parent is gone ({e})") from e
        reply = self.read(REPLY_TIMEOUT_S, "fork") or {}
        pid = reply.get("pid")
        if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 1 or "rc" in reply:
            self.kill()
            raise WarmFailure(f"the warm AIPerf parent answered {reply!r} to a run")
        self.runs += 1
        return WarmRun(self, pid, Path(log))

    def read(self, timeout_s: float, what: str, *, patient: bool = False
             ) -> dict[str, Any] | None:
        """The parent's next reply; raises WarmFailure (parent killed) when none comes in
        `timeout_s`, or returns None then when `patient` (a run may take its time)."""
        deadline = time.monotonic() + timeout_s
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"\n" not in self._buf:
                left = deadline - time.monotonic()
                if left <= 0:
                    if patient:
                        return None
                    self.kill()
                    raise WarmFailure(f"the warm AIPerf parent did not answer {what!r} within "
                                      f"{timeout_s:.0f}s (killed)")
                if not sel.select(min(left, POLL_S)):
                    continue
                chunk = os.read(fd, 65536)
                if not chunk:
                    rc = self.proc.wait()
                    self.kill()
                    raise WarmFailure(f"the warm AIPerf parent exited with {rc} during "
                                      f"{what!r} (see {self.log_path})")
                self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        try:
            reply = json.loads(line)
        except ValueError as e:
            self.kill()
            raise WarmFailure(f"the warm AIPerf parent sent garbage: {line[:200]!r}") from e
        if not isinstance(reply, dict):
            self.kill()
            raise WarmFailure(f"the warm AIPerf parent sent garbage: {line[:200]!r}")
        return reply

    def kill(self) -> None:
        """Kill the parent now (its run dies with it). Idempotent."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout, self._log):
            try:
                if f is not None:
                    f.close()
            except OSError:
                pass

    def close(self, timeout_s: float = 10.0) -> None:
        """End of input ends the parent; killed if it does not go."""
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.close()
                self.proc.wait(timeout_s)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.kill()


class WarmRun:
    """One forked `aiperf` run, waited for like runner.bench.process.BenchProcess."""

    def __init__(self, parent: WarmAIPerf, pid: int, log_path: Path) -> None:
        self.parent = parent
        self.pid = pid
        self.log_path = log_path
        self.started = time.monotonic()

    def terminate(self) -> None:
        """SIGTERM the run's process group, SIGKILL after a grace period."""
        for sig, wait_s in ((signal.SIGTERM, STOP_GRACE_S), (signal.SIGKILL, STOP_GRACE_S)):
            try:
                os.killpg(self.pid, sig)
            except ProcessLookupError:
                return
            end = time.monotonic() + wait_s
            while time.monotonic() < end:
                try:
                    os.killpg(self.pid, 0)
                except ProcessLookupError:
                    return
                time.sleep(0.1)

    def wait(self, timeout_s: float, cancel: threading.Event | None = None,
             watch: Callable[[], str | None] | None = None) -> tuple[int, str]:
        """(returncode, "" | "cancelled" | "timeout" | "engine died: ..."); raises
        WarmFailure when the parent dies or answers garbage."""
        deadline = self.started + timeout_s
        why = ""
        while True:
            reply = self.parent.read(POLL_S, "run", patient=True)
            if reply is not None:
                break
            if not why:
                why = stop_reason(cancel, watch, deadline)
                if why:
                    self.terminate()  # the parent then reports the run's exit
        rc = reply.get("rc")
        if reply.get("pid") != self.pid or not isinstance(rc, int) or isinstance(rc, bool):
            self.parent.kill()
            raise WarmFailure(f"the warm AIPerf parent answered {reply!r} for run {self.pid}")
        return rc, why


class WarmPool(WorkerPool):
    """Warm parents lent to trials the way genai-bench's workers are (WorkerPool: one
    trial per parent at a time, a failed one replaced on the next lease, the live ones'
    process groups counted as the run's own); the first starts as the pool is made, so its
    imports overlap the first engine's start-up."""

    def __init__(self, size: int, log_dir: str | os.PathLike, *, python: str | os.PathLike,
                 env: dict[str, str], args: Sequence[str] = (), prestart: bool = True) -> None:
        self._python, self._env, self._args = python, env, tuple(args)
        super().__init__(size, log_dir, prestart=prestart)

    def _new(self) -> WarmAIPerf:
        return WarmAIPerf(self._python, self.log_dir, self._env, self._args)
