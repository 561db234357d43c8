"""The narrow interface every deployment backend implements, and nothing more.

Retries, state, scoring and reports live once, in the runner; a backend only knows how
to start an engine, tell when it serves, hand over its logs, and stop it. Failures are
raised as one of two classes so the runner can decide what to do without knowing the
backend: a config failure (the trial itself is bad: OOM, bad flag, crash at start) is
final; an infrastructure failure (port taken, daemon error, timeout) is worth a retry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

# A launch is derived from the rendered trial by its deployment mode (tuneops.deployments).
from tuneops.deployments.base import OWNER_LABEL, PORT_PLACEHOLDER, TRIAL_LABEL, Launch

__all__ = ["OWNER_LABEL", "PORT_PLACEHOLDER", "TRIAL_LABEL", "Backend", "ConfigFailure",
           "Deployment", "InfraFailure", "Launch", "TrialFailure"]


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


@dataclass
class Deployment:
    """A started trial: where it answers, and the backend's own handle to it."""

    launch: Launch
    base_url: str  # e.g. http://127.0.0.1:41234
    handle: Any = None
    placement: dict[str, str] = field(default_factory=dict)  # where it landed (node, GPU)


class Backend(Protocol):
    name: ClassVar[str]
    # Whether what it starts records its runner (common/owners.py), so that `reap` can tell
    # a dead runner's engines from a live one's; without it a run reaps only its own.
    records_runner: ClassVar[bool]

    def start(self, launch: Launch) -> Deployment:
        """Start the engine; return at once (do not wait for health)."""

    def wait_healthy(self, deployment: Deployment, timeout_s: float) -> None:
        """Return once the engine serves; raise ConfigFailure if it exited, InfraFailure on
        timeout."""

    def logs(self, deployment: Deployment) -> str:
        """Everything the engine has printed so far."""

    def stop(self, deployment: Deployment) -> None:
        """Stop and remove the engine, saving its logs to launch.log_dir first. Idempotent."""

    def reap(self, owner_prefix: str, live: bool = False) -> list[str]:
        """Stop whatever an earlier (killed) run with this owner prefix left behind; engines
        of live runners only when `live` (where the backend records its runner)."""


    # Optional: ``preflight(exp) -> list[Diagnostic]``, what the backend's cluster lacks for
    # the experiment, checked before the first trial (a non-empty list refuses the run), and
    # ``close()``, called once at the end of the run to delete what trials shared (OME).
    # Optional: a backend that measures a trial where it runs (OME's BenchmarkJob in the
    # cluster) has ``benchmark(deployment, exp, out_dir, *, genai_bench, cancel) -> BenchOutcome``
    # (genai_bench: the runner's toolkit, tuneops.runner.bench, handed down);
    # for the others the runner runs genai-bench on its own machine (bench.measure_here).
