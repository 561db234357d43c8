"""A trial as Docker SDK keyword arguments, and the same container as a `docker run` line.

The spec is exactly what `docker.from_env().containers.run(**spec)` takes (see
docs/architecture.md). Host paths stay as the experiment wrote them (`~`, relative paths):
they are resolved where the container is started (`expand_host_paths`, or the shell and
the docker CLI for docker-run.sh), so a render does not depend on who ran it or where.

A model that is a local file (a `.gguf`) is mounted read-only: its folder at `/models`,
and the engine is pointed at `/models/<file>`. Images whose ENTRYPOINT already is the
server get only the server's arguments as their command (`image_command` in
schemas/engines.yaml).
"""

from __future__ import annotations

import copy
import os
import posixpath
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tuneops.deployments.docker.options import docker_options
from tuneops.renderers.command import engine_command
from tuneops.renderers.templating import Quoted

from tuneops.errors import Diagnostic, UserError
from tuneops.registry import engines
from tuneops.spec import Experiment

if TYPE_CHECKING:
    from tuneops.plan import Trial

EXPERIMENT_LABEL = "io.tuneops.experiment"
TRIAL_LABEL = "io.tuneops.trial"
ENGINE_LABEL = "io.tuneops.engine"
LISTEN_HOST = "0.0.0.0"  # inside the container; Docker decides what the host exposes
MODEL_MOUNT = "/models"  # where a local model file's folder appears in the container
MODEL_FILE_SUFFIXES = (".gguf",)  # model ids naming a file on the host, not a hub id


def _fail(exp: Experiment, path: str, message: str, hint: str = "") -> UserError:
    return UserError([Diagnostic(exp.source_file, 0, 0, path, message, hint)])


def container_name(exp: Experiment, trial: Trial) -> str:
    return f"tuneops-{exp.name}-{trial.id}"


def model_file_mount(model_id: str) -> tuple[str, str] | None:
    """(host folder as written, path inside the container) when the model is a local file.

    The folder keeps `~` and relative spellings; `expand_host_paths` resolves them at run
    time. A bare file name is taken from the current folder."""
    if not model_id.lower().endswith(MODEL_FILE_SUFFIXES):
        return None
    folder, name = posixpath.split(model_id)
    return (folder.rstrip("/") or ("/" if folder else ".")), f"{MODEL_MOUNT}/{name}"


def run_spec(exp: Experiment, trial: Trial) -> dict[str, Any]:
    """`containers.run` kwargs for one trial (keys sorted; GPUs only when the trial has some
    and the engine is real: the simulator models its GPUs)."""
    if not exp.engine.image:
        raise _fail(exp, "engine.image", "a Docker run needs an image", "set engine.image")
    engine = engines()[exp.engine.name]
    port = engine.default_port
    docker = docker_options(exp)
    mount = model_file_mount(exp.model.id)
    command = engine_command(
        exp, trial.args, host=LISTEN_HOST, port=port, local=False,
        model=mount[1] if mount else None,
        prefix=engines()[exp.engine.name].image_command,
    )
    spec: dict[str, Any] = {
        "command": command,
        "detach": True,
        "environment": {k: exp.engine.env[k] for k in sorted(exp.engine.env)},
        "image": exp.engine.image,
        "labels": {
            ENGINE_LABEL: exp.engine.name,
            EXPERIMENT_LABEL: exp.name,
            TRIAL_LABEL: trial.id,
        },
        "name": container_name(exp, trial),
        "ports": {f"{p}/tcp": None for p in sorted({port, *docker.ports})},
    }
    gpus = exp.deployment.gpus
    if exp.gpus_per_trial > 0 and not engine.simulated:
        request: dict[str, Any] = {"driver": "nvidia", "capabilities": [["gpu"]]}
        if gpus.devices:
            request["device_ids"] = list(gpus.devices)
        else:
            request["count"] = gpus.count
        spec["device_requests"] = [request]
    if docker.shm_size:
        spec["shm_size"] = str(docker.shm_size)
    if docker.ipc:
        spec["ipc_mode"] = docker.ipc
    if docker.network:
        spec["network"] = docker.network
    volumes: dict[str, dict[str, str]] = {}
    if mount:
        volumes[mount[0]] = {"bind": MODEL_MOUNT, "mode": "ro"}
    if docker.volumes:
        for i, v in enumerate(docker.volumes):
            if ":" in v.host or ":" in v.container:
                raise _fail(exp, f"deployment.docker.volumes[{i}]", "paths may not contain ':'")
            if v.host in volumes:
                raise _fail(
                    exp, f"deployment.docker.volumes[{i}].host",
                    f"host path {v.host!r} is mounted twice", "mount each host path once"
                    + (" (the model's folder is mounted at /models already)" if mount else ""),
                )
            if mount and v.container.rstrip("/") == MODEL_MOUNT:
                raise _fail(
                    exp, f"deployment.docker.volumes[{i}].container",
                    f"{MODEL_MOUNT} holds the model's folder ({mount[0]})",
                    "mount this volume elsewhere",
                )
            volumes[v.host] = {"bind": v.container, "mode": "ro" if v.read_only else "rw"}
    if volumes:
        spec["volumes"] = {k: volumes[k] for k in sorted(volumes)}
    return spec


def passed_env(exp: Experiment) -> dict[str, str]:
    """Env names whose values come from the caller's environment ({fromEnv: VAR}), with
    their VAR. The run spec never holds them: the runner adds the values through the Docker
    API; docker-run.sh names them (`--env NAME`) so the docker CLI reads them itself."""
    refs = exp.engine.secret_env
    return {k: refs[k].from_env for k in sorted(refs) if refs[k].from_env is not None}


_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def env_exports(exp: Experiment) -> Quoted:
    """sh lines giving each passed-through NAME the value of its VAR (when they differ),
    for docker-run.sh; `export` is a shell builtin, so the value is on no command line."""
    lines = []
    for name, var in passed_env(exp).items():
        if not (_NAME.fullmatch(name) and _NAME.fullmatch(var)):  # the schema allows nothing else
            raise ValueError(f"not a variable name: {name!r} / {var!r}")
        if name != var:
            lines.append(f'{name}="${{{var}}}"; export {name}  # from your environment\n')
    return Quoted("".join(lines))


def docker_argv(spec: dict[str, Any], pass_env: Any = ()) -> list[str]:
    """The `docker run` argv that starts the same container as `containers.run(**spec)`,
    plus `--env NAME` (value from the caller's environment) for each name in `pass_env`."""
    argv = ["docker", "run"]
    if spec.get("detach"):
        argv.append("--detach")
    argv += ["--name", spec["name"]]
    for key in sorted(spec.get("labels") or {}):
        argv += ["--label", f"{key}={spec['labels'][key]}"]
    for key in sorted(spec.get("environment") or {}):
        argv += ["--env", f"{key}={spec['environment'][key]}"]
    for key in sorted(pass_env):
        argv += ["--env", key]
    for port in spec.get("ports") or {}:
        argv += ["--publish", port]  # no host port given: Docker picks a free one
    for req in spec.get("device_requests") or []:
        if req.get("device_ids"):
            ids = ",".join(req["device_ids"])
            argv += ["--gpus", f'"device={ids}"' if "," in ids else f"device={ids}"]
        else:
            argv += ["--gpus", str(req.get("count", "all"))]
    if spec.get("shm_size"):
        argv += ["--shm-size", spec["shm_size"]]
    if spec.get("ipc_mode"):
        argv += ["--ipc", spec["ipc_mode"]]
    if spec.get("network"):
        argv += ["--network", spec["network"]]
    for host, mount in (spec.get("volumes") or {}).items():
        argv += ["--volume", f"{cli_host_path(host)}:{mount['bind']}:{mount['mode']}"]
    return [*argv, spec["image"], *spec["command"]]


def cli_host_path(host: str) -> str:
    """A host path as the docker CLI takes it: a relative one gets `./` (without it, `-v`
    reads the word as a named volume; the CLI resolves `./` paths since Docker 23, `../`
    since 28.2) and so resolves against the folder docker-run.sh is run from."""
    if host.startswith(("/", "~", "./", "../")) or host in (".", ".."):
        return host
    return "./" + host


def expand_host_paths(
    spec: dict[str, Any], resolve: Callable[[str], str] | None = None
) -> dict[str, Any]:
    """A copy of `spec` whose volume host paths are absolute, for the user running it.

    `~` is expanded; a relative path goes through `resolve` (the runner passes its own
    lookup: next to the experiment, then the repository), then against the current folder.
    The Docker SDK needs absolute paths: it would take `models` for a named volume."""
    out = copy.deepcopy(spec)
    if out.get("volumes"):
        resolved = {}
        for host, mount in out["volumes"].items():
            path = os.path.expanduser(host)
            if not os.path.isabs(path) and resolve is not None:
                path = resolve(path)
            resolved[os.path.abspath(path)] = mount
        out["volumes"] = resolved
    return out
