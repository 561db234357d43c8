"""What a deployment mode is: the narrow contract between the pipeline and a way of
running trials.

Data flows one way through it. ``trial_objects`` is the single rendering of a trial: the
renderer writes it to manifests/ and the runner derives the trial's ``Launch`` from it
(``launch``), so what a pull request shows is what runs. Only run-time facts (the port the
runner reserved, absolute host paths, this interpreter) are filled in at launch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from tuneops.checks_base import Context
from tuneops.plan import Trial
from tuneops.spec import Experiment

PORT_PLACEHOLDER = "{port}"  # in a launch's command/env: the local backend fills a reserved port
OWNER_LABEL = "io.tuneops.owner"  # value: "<experiment>/<run-id>"; marks what a run started
TRIAL_LABEL = "io.tuneops.trial"

# Rendered objects by file name: dicts become JSON or YAML files, strings are written as-is.
Objects = dict[str, Any]
# Run-time resolution of a path as the experiment wrote it (next to the experiment, ...).
PathResolver = Callable[[str], str]


@dataclass(frozen=True)
class Launch:
    """Everything a backend needs to start one trial; derived from the rendered trial."""

    trial_id: str
    owner: str  # "<experiment>/<run-id>", recorded as a label / pid-file so orphans can be reaped
    command: list[str]  # full engine argv; port = container_port or PORT_PLACEHOLDER
    env: dict[str, str]
    container_port: int  # the port the engine listens on inside its sandbox
    health_path: str
    gpus: tuple[str, ...]  # device ids given to this trial (empty on CPU)
    log_dir: Path  # backend writes engine logs here (engine.log)
    spec: Mapping[str, Any] = field(default_factory=dict)  # the mode's rendered objects
    cpus: tuple[int, ...] = ()  # cores lent to this trial's engine (empty: no pinning)


@dataclass(frozen=True)
class LaunchPlan:
    """The mode-specific part of a launch, before the runner adds owner, GPUs and logs."""

    command: list[str]
    env: dict[str, str]
    container_port: int
    spec: Mapping[str, Any] = field(default_factory=dict)


class DeploymentMode:
    """Base class of a deployment mode; a mode overrides what differs from these defaults.

    Class attributes are facts the lower layers need (schema, plan); methods are the
    stages (validate, render, run). ``backend`` names the runner backend as
    ``module:Class``: only the runner imports it, so rendering never loads Docker or
    Kubernetes clients.
    """

    name: ClassVar[str]
    description: ClassVar[str]  # one line for the schema and the docs
    options_schema: ClassVar[dict[str, Any] | None] = None  # JSON Schema of deployment.<name>
    runs_image: ClassVar[bool] = True  # engine.image decides what a trial measures (trial id)
    schedules_gpus: ClassVar[bool] = False  # the platform assigns GPUs (no local GPU pool)
    backend: ClassVar[str]

    def check(self, ctx: Context) -> None:
        """Feasibility checks of this mode (report through ``ctx.error``)."""

    def shared_objects(self, exp: Experiment) -> Objects:
        """Objects rendered once per experiment (manifests/<exp>/_shared/)."""
        return {}

    def trial_objects(self, exp: Experiment, trial: Trial) -> Objects:
        """Objects rendered per trial (manifests/<exp>/<trial-id>/)."""
        raise NotImplementedError

    def schema_problems(
        self, exp: Experiment, objects: Mapping[str, Objects], crd_dir: Path | str | None
    ) -> tuple[list[str], int, str]:
        """Check rendered objects against the platform's schemas: (problems as
        "path: message", number checked, where the schemas came from)."""
        return [], 0, ""

    def launch(
        self, exp: Experiment, trial: Trial, objects: Objects, resolve: PathResolver
    ) -> LaunchPlan:
        """The launch of a trial, from its rendered objects (plus the shared ones under
        ``_shared/<file>``) and nothing else."""
        raise NotImplementedError

    def backend_options(self, exp: Experiment) -> dict[str, Any]:
        """Constructor arguments of the backend for this experiment."""
        return {}

    def reap_options(self, namespaces: tuple[str, ...]) -> dict[str, Any]:
        """Constructor arguments of the backend for `tuneops reap` (no experiment at hand)."""
        return {}
