"""Mode ``docker``: each trial's engine is a container on this machine's Docker engine.

The trial renders ``docker.json`` (the Docker SDK's ``containers.run`` keyword arguments,
exactly what the backend passes) and ``docker-run.sh`` (the same container as a shell
line, for people). Host paths stay as written in the manifests and become absolute at
launch.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from tuneops.deployments.base import (
    DeploymentMode,
    LaunchPlan,
    Objects,
    PathResolver,
    needs_image,
)
from tuneops.deployments.docker import render as docker
from tuneops.deployments.docker.options import OPTIONS_SCHEMA
from tuneops.renderers.templating import render

from tuneops.registry import engines
from tuneops.spec import Experiment

if TYPE_CHECKING:
    from tuneops.checks_base import Context
    from tuneops.plan import Trial

TEMPLATES = Path(__file__).parent / "templates"


def docker_objects(exp: Experiment, trial: Trial) -> Objects:
    """docker.json and docker-run.sh of a trial."""
    spec = docker.run_spec(exp, trial)
    return {
        "docker.json": spec,
        "docker-run.sh": render(
            TEMPLATES, "docker-run.sh.j2", argv=docker.docker_argv(spec, docker.passed_env(exp)),
            trial_id=trial.id, exports=docker.env_exports(exp),
        ),
    }


class DockerMode(DeploymentMode):
    name: ClassVar[str] = "docker"
    description: ClassVar[str] = "a container per trial"
    options_schema: ClassVar[dict[str, Any]] = OPTIONS_SCHEMA

    def check(self, ctx: Context) -> None:
        needs_image(ctx, self.name)

    def trial_objects(self, exp: Experiment, trial: Trial) -> Objects:
        return docker_objects(exp, trial)

    def launch(
        self, exp: Experiment, trial: Trial, objects: Objects, resolve: PathResolver
    ) -> LaunchPlan:
        # manifests keep `~` and relative paths; they are made absolute at run time
        spec = docker.expand_host_paths(objects["docker.json"], resolve=resolve)
        return LaunchPlan(command=list(spec["command"]), env=dict(exp.engine.env),
                          container_port=engines()[exp.engine.name].default_port, spec=spec)
