"""The narrow interface every deployment backend implements, and nothing more.

Retries, state, scoring and reports live once, in the runner; a backend only knows how
to start an engine, tell when it serves, hand over its logs, and stop it. Failures are
raised as one of two classes so the runner can decide what to do without knowing the
backend: a config failure (the trial itself is bad: OOM, bad flag, crash at start) is
final; an infrastructure failure (port taken, daemon error, timeout) is worth a retry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

OWNER_LABEL = "io.tuneops.owner"  # value: "<experiment>/<run-id>"; marks what a run started
TRIAL_LABEL = "io.tuneops.trial"
PORT_PLACEHOLDER = "{port}"  # in Launch.command/env: the local backend fills a reserved port


class TrialFailure(Exception):
    """Base for the two failure kinds a backend may raise."""

    kind: ClassVar[str] = "failure"

    def __init__(self, reason: str, logs_tail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.logs_tail = logs_tail


class ConfigFailure(TrialFailure):
    """The trial's settings cannot work (OOM, rejected flag, crash at start): never retried."""

    kind = "config"


class InfraFailure(TrialFailure):
    """The machinery failed (port taken, daemon error, timeout): retried with backoff."""

    kind = "infra"


@dataclass(frozen=True)
class Launch:
    """Everything a backend needs to start one trial; built from the rendered trial."""

    trial_id: str
    owner: str  # "<experiment>/<run-id>", recorded as a label / pid-file so orphans can be reaped
    command: list[str]  # full engine argv; port = container_port (docker) or PORT_PLACEHOLDER
    env: dict[str, str]
    container_port: int  # the port the engine listens on inside its sandbox
    health_path: str
    gpus: tuple[str, ...]  # device ids given to this trial ("" tuple on CPU)
    log_dir: Path  # backend writes engine logs here (engine.log)
    docker: dict[str, Any] = field(default_factory=dict)  # rendered docker run spec (SDK kwargs)
    ome: dict[str, Any] = field(default_factory=dict)  # rendered OME manifests by kind
    cpus: tuple[int, ...] = ()  # CPU set the engine is pinned to (CPU engines; () = any)


@dataclass
class Deployment:
    """A started trial: where it answers, and the backend's own handle to it."""

    launch: Launch
    base_url: str  # e.g. http://127.0.0.1:41234
    handle: Any = None


class Backend(Protocol):
    name: ClassVar[str]

    def start(self, launch: Launch) -> Deployment:
        """Start the engine; return at once (do not wait for health)."""

    def wait_healthy(self, deployment: Deployment, timeout_s: float) -> None:
        """Return once the engine serves; raise ConfigFailure if it exited, InfraFailure on
        timeout."""

    def logs(self, deployment: Deployment) -> str:
        """Everything the engine has printed so far."""

    def stop(self, deployment: Deployment) -> None:
        """Stop and remove the engine, saving its logs to launch.log_dir first. Idempotent."""

    def reap(self, owner_prefix: str) -> list[str]:
        """Stop whatever an earlier (killed) run with this owner prefix left behind."""
