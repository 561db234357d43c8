"""A trial as Docker SDK keyword arguments, and the same container as a `docker run` line.

The spec is exactly what `docker.from_env().containers.run(**spec)` takes (see
docs/architecture.md). Host paths keep their `~`: they are expanded where the container
is started (`expand_host_paths`, or the shell for docker-run.sh), so a render does not
depend on who ran it.
"""

from __future__ import annotations

import copy
import os
from typing import Any

from renderers.command import engine_command
from tuneops.errors import Diagnostic, UserError
from tuneops.plan import Trial
from tuneops.registry import engines
from tuneops.spec import Experiment

EXPERIMENT_LABEL = "io.tuneops.experiment"
TRIAL_LABEL = "io.tuneops.trial"
ENGINE_LABEL = "io.tuneops.engine"
LISTEN_HOST = "0.0.0.0"  # inside the container; Docker decides what the host exposes


def _fail(exp: Experiment, path: str, message: str, hint: str = "") -> UserError:
    return UserError([Diagnostic(exp.source_file, 0, 0, path, message, hint)])


def container_name(exp: Experiment, trial: Trial) -> str:
    return f"tuneops-{exp.name}-{trial.id}"


def run_spec(exp: Experiment, trial: Trial) -> dict[str, Any]:
    """`containers.run` kwargs for one trial (keys sorted; GPUs only when the trial has some
    and the engine is real: the simulator models its GPUs)."""
    if not exp.engine.image:
        raise _fail(exp, "engine.image", "a Docker run needs an image", "set engine.image")
    engine = engines()[exp.engine.name]
    port = engine.default_port
    docker = exp.deployment.docker
    spec: dict[str, Any] = {
        "command": engine_command(exp, trial.args, host=LISTEN_HOST, port=port, local=False),
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
    if docker.volumes:
        volumes: dict[str, dict[str, str]] = {}
        for i, v in enumerate(docker.volumes):
            if ":" in v.host or ":" in v.container:
                raise _fail(exp, f"deployment.docker.volumes[{i}]", "paths may not contain ':'")
            if v.host in volumes:
                raise _fail(
                    exp, f"deployment.docker.volumes[{i}].host",
                    f"host path {v.host!r} is mounted twice", "mount each host path once",
                )
            volumes[v.host] = {"bind": v.container, "mode": "ro" if v.read_only else "rw"}
        spec["volumes"] = {k: volumes[k] for k in sorted(volumes)}
    return spec


def docker_argv(spec: dict[str, Any]) -> list[str]:
    """The `docker run` argv that starts the same container as `containers.run(**spec)`."""
    argv = ["docker", "run"]
    if spec.get("detach"):
        argv.append("--detach")
    argv += ["--name", spec["name"]]
    for key in sorted(spec.get("labels") or {}):
        argv += ["--label", f"{key}={spec['labels'][key]}"]
    for key in sorted(spec.get("environment") or {}):
        argv += ["--env", f"{key}={spec['environment'][key]}"]
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
        argv += ["--volume", f"{host}:{mount['bind']}:{mount['mode']}"]
    return [*argv, spec["image"], *spec["command"]]


def expand_host_paths(spec: dict[str, Any]) -> dict[str, Any]:
    """A copy of `spec` with `~` in volume host paths expanded for the user running it."""
    out = copy.deepcopy(spec)
    if out.get("volumes"):
        out["volumes"] = {os.path.expanduser(h): m for h, m in out["volumes"].items()}
    return out
