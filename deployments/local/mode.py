"""Mode ``local``: each trial's engine is a process on this machine.

The trial renders ``command.json``: the argv with ``{port}`` where the runner puts the
port it reserved, and the engine's environment. At launch the model path is resolved
(next to the experiment, ...) and tuneops' own launchers (``python3 -m tuneops.engines...``)
run with the interpreter tuneops runs in. An experiment that also names an image renders
the files of the container mode it is given (docker's, joined in the registry: modes do
not import each other), so its winner can be shipped as a container.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, ClassVar

from tuneops.deployments.base import (
    PORT_PLACEHOLDER,
    DeploymentMode,
    LaunchPlan,
    Objects,
    PathResolver,
)
from tuneops.renderers.command import engine_command

from tuneops.registry import engines
from tuneops.spec import Experiment

if TYPE_CHECKING:
    from tuneops.plan import Trial

LOCAL_HOST = "127.0.0.1"
COMMAND_FILE = "command.json"


def model_word(exp: Experiment, argv: list[str]) -> int:
    """Index of the model in a local argv (after the model flag, or first positional)."""
    engine = engines()[exp.engine.name]
    if engine.model_flag:
        return argv.index(engine.model_flag) + 1
    return len(engine.local_command)


class LocalMode(DeploymentMode):
    name: ClassVar[str] = "local"
    description: ClassVar[str] = "a process per trial on this machine"
    runs_image: ClassVar[bool] = False  # the image, if any, is only rendered for shipping

    def __init__(self, backend: type | None = None,
                 container: DeploymentMode | None = None) -> None:
        super().__init__(backend)
        self.container = container  # renders the trial as a container to ship (docker)

    def trial_objects(self, exp: Experiment, trial: Trial) -> Objects:
        argv = engine_command(exp, trial.args, host=LOCAL_HOST, port=PORT_PLACEHOLDER,
                              local=True)
        out: Objects = {COMMAND_FILE: {
            "argv": argv, "env": {k: exp.engine.env[k] for k in sorted(exp.engine.env)},
        }}
        if exp.engine.image and self.container is not None:
            out.update(self.container.trial_objects(exp, trial))
        return out

    def launch(
        self, exp: Experiment, trial: Trial, objects: Objects, resolve: PathResolver
    ) -> LaunchPlan:
        doc: dict[str, Any] = objects[COMMAND_FILE]
        argv = list(doc["argv"])
        i = model_word(exp, argv)
        argv[i] = resolve(argv[i])
        if argv[0] == "python3":  # our own launchers: the interpreter tuneops runs in
            argv[0] = sys.executable
        return LaunchPlan(command=argv, env=dict(doc["env"]),
                          container_port=engines()[exp.engine.name].default_port)
