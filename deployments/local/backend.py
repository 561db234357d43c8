"""Run the engine as a local subprocess.

Ports: on the host every trial needs its own port, so the runner writes ``{port}`` where
the port goes (``--port {port}``, or inside an env value) and this backend fills in a port
it *reserved* with ``deployments/common/ports.py`` (lock held until ``stop``). A command without the
placeholder listens on ``launch.container_port``, which is then reserved as it is (an
InfraFailure when taken).

Each engine gets its own process group (stdout+stderr to ``log_dir/engine.log``) so stop
reaches its workers too, and a pid file under ``<runtime dir>/local/`` (private: see
``common/ports.py``; created O_EXCL|O_NOFOLLOW) naming the owner and the runner, so ``reap``
can stop the groups a killed runner left behind, and only those (``deployments/common/owners.py``).
The engine log is redacted (``tuneops.secrets``) when the engine stops.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from tuneops.deployments.common import health, owners, ports
from tuneops.deployments.common.backend import (
    PORT_PLACEHOLDER,
    ConfigFailure,
    Deployment,
    InfraFailure,
    Launch,
)
from tuneops.deployments.common.cpus import pin_to
from tuneops.deployments.common.engine_lifetime import die_with_runner
from tuneops.deployments.common.redacting_log import RedactingLog

from tuneops import secrets

PLACEHOLDER = PORT_PLACEHOLDER
LOG_NAME = "engine.log"


@dataclass
class LocalProcess:
    """The backend's handle: the process, its reserved port and its bookkeeping files."""

    proc: subprocess.Popen
    lease: ports.PortLease
    log_path: Path
    pid_file: Path
    stopped: bool = False
    log: RedactingLog | None = None


_start_time = owners.start_time


def _group_alive(pgid: int) -> bool:
    """True while a process of the group runs; zombies (exited, not yet reaped) do not count."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        pids = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]
    except OSError:
        return True
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _stop_group(pgid: int, grace_s: float, leader: subprocess.Popen | None = None) -> None:
    """SIGTERM the group, SIGKILL what is left after ``grace_s``; reap our own child."""

    def gone() -> bool:
        if leader is not None:
            leader.poll()  # reap our own child as soon as it exits
        return not _group_alive(pgid)

    _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while not gone() and time.monotonic() < deadline:
        time.sleep(0.05)
    if not gone():
        _signal_group(pgid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while not gone() and time.monotonic() < deadline:
            time.sleep(0.05)
    if leader is not None:
        leader.wait()


def _redact_file(path: Path) -> None:
    """Rewrite an engine log with secrets masked (the engine wrote it; we did not filter)."""
    try:
        data = path.read_bytes()
        clean = secrets.redact_bytes(data)
        if clean != data:
            path.write_bytes(clean)
    except OSError:
        pass


class LocalBackend:
    name: ClassVar[str] = "local"
    records_runner: ClassVar[bool] = True

    def __init__(
        self,
        runtime_dir: Path | None = None,
        grace_s: float = 10.0,
        host: str = "127.0.0.1",
    ) -> None:
        self.runtime_dir = ports.private_dir(runtime_dir) if runtime_dir else ports.runtime_dir()
        self.allocator = ports.PortAllocator(self.runtime_dir / "ports")
        self.pid_dir = self.runtime_dir / "local"
        self.grace_s = grace_s
        self.host = host

    def start(self, launch: Launch) -> Deployment:
        wants_port = any(PLACEHOLDER in a for a in [*launch.command, *launch.env.values()])
        try:
            lease = self.allocator.reserve(None if wants_port else launch.container_port)
        except ports.PortUnavailable as e:
            raise InfraFailure(str(e)) from e
        port = str(lease.port)
        argv = [a.replace(PLACEHOLDER, port) for a in launch.command]
        env = {**os.environ, **{k: v.replace(PLACEHOLDER, port) for k, v in launch.env.items()}}
        if launch.gpus:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(launch.gpus)
        launch.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = launch.log_dir / LOG_NAME
        # One file per attempt (the runner gives each attempt its own dir), written through
        # a redacting pipe (common/redacting_log.py): no secret on disk even after kill -9.
        log_file = RedactingLog(log_path)
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log_file.write_fd,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                preexec_fn=die_with_runner(then=pin_to(launch.cpus)),
            )
        except OSError as e:
            lease.release()
            raise ConfigFailure(f"cannot run {argv[0]!r}: {e}") from e
        finally:
            log_file.close_writer()
        self.pid_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        pid_file = self.pid_dir / f"{proc.pid}.json"
        record = {
            "owner": launch.owner,
            "runner": owners.me(),
            "trial": launch.trial_id,
            "pgid": proc.pid,
            "start_time": _start_time(proc.pid),
            "port": lease.port,
            "argv": [secrets.redact(a) for a in argv],
        }
        try:
            pid_file.unlink(missing_ok=True)  # a stale file of a reused pid
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            with os.fdopen(os.open(pid_file, flags, 0o600), "w") as f:
                f.write(json.dumps(record))
        except OSError as e:
            _stop_group(proc.pid, self.grace_s, leader=proc)
            lease.release()
            raise InfraFailure(f"cannot write the pid file {pid_file}: {e.strerror}") from e
        handle = LocalProcess(proc, lease, log_path, pid_file, log=log_file)
        return Deployment(launch, f"http://{self.host}:{port}", handle)

    def wait_healthy(self, deployment: Deployment, timeout_s: float) -> None:
        handle: LocalProcess = deployment.handle
        health.wait_http_ok(
            deployment.base_url + deployment.launch.health_path,
            timeout_s,
            exit_code=handle.proc.poll,
            logs=lambda: self.logs(deployment),
        )

    def exit_code(self, deployment: Deployment) -> int | None:
        """The engine's exit code once it stopped, None while it runs."""
        return deployment.handle.proc.poll()

    def logs(self, deployment: Deployment) -> str:
        handle: LocalProcess = deployment.handle
        try:
            return handle.log_path.read_bytes().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self, deployment: Deployment) -> None:
        handle: LocalProcess = deployment.handle
        if handle.stopped:
            return
        _stop_group(handle.proc.pid, self.grace_s, leader=handle.proc)
        if handle.log is not None:
            handle.log.join()
        _redact_file(handle.log_path)
        handle.lease.release()
        handle.pid_file.unlink(missing_ok=True)
        handle.stopped = True

    def reap(self, owner_prefix: str, live: bool = False) -> list[str]:
        """Stop the groups whose pid file names an owner starting with ``owner_prefix`` and
        whose runner is dead (a live runner's engines are its own business; `live` includes
        them: for a test cleaning up what it started itself)."""
        reaped = []
        for pid_file in sorted(self.pid_dir.glob("*.json")):
            try:
                record = json.loads(pid_file.read_text())
                pgid = int(record["pgid"])
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if not isinstance(record, dict) or pgid <= 1:
                continue
            if not str(record.get("owner", "")).startswith(owner_prefix):
                continue
            if not live and owners.alive(record.get("runner")):
                continue
            leader_start = _start_time(pgid)
            if leader_start is not None and leader_start != record.get("start_time"):
                pid_file.unlink(missing_ok=True)  # pid reused by an unrelated process
                continue
            if _group_alive(pgid):
                _stop_group(pgid, self.grace_s)
                reaped.append(record["trial"])
            pid_file.unlink(missing_ok=True)
        return reaped
