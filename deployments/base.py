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
from typing import TYPE_CHECKING, Any, ClassVar

from tuneops.spec import Experiment

if TYPE_CHECKING:  # types only: validate and plan sit above the modes and call them
    from tuneops.checks_base import Context
    from tuneops.plan import Trial

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
    cpus: tuple[int, ...] = ()  # CPU set the engine is pinned to (CPU engines; () = any)
    scheduled_gpus: int = 0  # GPUs the platform assigns (no device ids), from the objects

    @property
    def gpu_count(self) -> int:
        """GPUs the trial holds: its device ids, else what the platform schedules for it."""
        return len(self.gpus) or self.scheduled_gpus


@dataclass(frozen=True)
class LaunchPlan:
    """The mode-specific part of a launch, before the runner adds owner, GPUs and logs."""

    command: list[str]
    env: dict[str, str]
    container_port: int
    spec: Mapping[str, Any] = field(default_factory=dict)
    gpu_count: int = 0  # GPUs the platform schedules for the trial (schedules_gpus modes)


class DeploymentMode:
    """Base class of a deployment mode; a mode overrides what differs from these defaults.

    Class attributes are facts the stages need (schema, plan); methods are the stages'
    mode-specific parts (validate, render, run). ``backend`` is the backend class the
    runner starts trials with: a plug-in (one module) sets it as a class attribute; a
    built-in mode, whose backend sits above it in its folder, gets it where its package's
    ``__init__`` joins the two (``MODE = MyMode(backend=MyBackend)``), so no module imports
    upward and nothing is looked up by name.
    """

    name: ClassVar[str]
    description: ClassVar[str]  # one line for the schema and the docs
    options_schema: ClassVar[dict[str, Any] | None] = None  # JSON Schema of deployment.<name>
    runs_image: ClassVar[bool] = True  # engine.image decides what a trial measures (trial id)
    schedules_gpus: ClassVar[bool] = False  # the platform assigns GPUs (no local GPU pool)
    backend: type  # the Backend class (tuneops.deployments.common.backend.Backend)

    def __init__(self, backend: type | None = None) -> None:
        if backend is not None:
            self.backend = backend

    def check(self, ctx: Context) -> None:
        """Feasibility checks of this mode (report through ``ctx.error``)."""

    def shared_objects(self, exp: Experiment) -> Objects:
        """Objects rendered once per experiment (manifests/<exp>/_shared/)."""
        return {}

    def trial_objects(self, exp: Experiment, trial: Trial) -> Objects:
        """Objects rendered per trial (manifests/<exp>/<trial-id>/)."""
        raise NotImplementedError

    def manifest_text(self, filename: str, obj: Mapping[str, Any]) -> str:
        """The text of a rendered manifest (an object that is neither JSON nor text): a
        mode that renders Kubernetes-style manifests lays them out with its templates."""
        raise ValueError(f"mode {self.name} renders no manifest {filename}")

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

    def gpu_budget(self, exp: Experiment) -> int | None:
        """GPUs a schedules_gpus platform lets the run hold at once (None: no limit beyond
        search.parallelTrials); the runner keeps the trials it runs together within it."""
        return None

    def backend_options(self, exp: Experiment) -> dict[str, Any]:
        """Constructor arguments of the backend for this experiment."""
        return {}

    def reap_options(self, namespaces: tuple[str, ...]) -> dict[str, Any]:
        """Constructor arguments of the backend for `tuneops reap` (no experiment at hand)."""
        return {}


def needs_image(ctx: Context, mode: str) -> None:
    """A mode whose trials run an image (docker, ome) cannot do without engine.image."""
    if not ctx.exp.engine.image:
        ctx.error(
            ("engine",),
            f"deployment mode {mode} needs engine.image",
            "the container image each trial runs, e.g. lmsysorg/sglang:v0.5.5",
        )
