"""Run the engine in a Docker container through the Docker SDK.

``launch.spec`` is the rendered run spec (``containers.run`` keyword arguments). This
backend adds what only it can know: the host port, chosen by Docker on 127.0.0.1 and read
back (a real reservation, held by the container), the owner/trial labels ``reap`` finds
orphans by, GPU device requests only when the trial got GPUs, and ``init`` (unless the spec
says otherwise) so that stop's SIGTERM reaches an engine that runs as PID 1. Images are
never pulled: a missing image is a ConfigFailure that says how to get it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, ClassVar

import docker
import docker.errors
from docker.models.containers import Container
from docker.types import DeviceRequest
from tuneops.deployments.common import health, owners
from tuneops.deployments.common.backend import (
    OWNER_LABEL,
    TRIAL_LABEL,
    ConfigFailure,
    Deployment,
    InfraFailure,
    Launch,
)
from tuneops.deployments.docker import watchdog

from tuneops import secrets

LOG_NAME = "engine.log"
RUNNER_LABEL = "io.tuneops.runner"  # host/pid/start of the runner that started it


@dataclass
class DockerContainer:
    container: Container
    removed: bool = False


def _image_hint(image: str) -> str:
    if image.startswith(("tuneops/sim", "tuneops/debian-python")):
        return "build it with `python scripts/build_image.py`"
    return f"load it into this Docker engine first (`docker pull {image}` or `docker load`)"


def run_spec(launch: Launch) -> dict[str, Any]:
    """The SDK kwargs for ``containers.create``: the rendered spec plus ports, labels, GPUs."""
    spec = copy.deepcopy(dict(launch.spec))
    if not spec.get("image"):
        raise ConfigFailure(f"trial {launch.trial_id} has no docker image in its run spec")
    spec.pop("detach", None)
    spec.pop("remove", None)
    spec.pop("auto_remove", None)
    spec.setdefault("command", list(launch.command))
    spec.setdefault("init", True)  # tini as PID 1: SIGTERM reaches the engine, zombies reaped
    spec["environment"] = {**(spec.get("environment") or {}), **launch.env}
    spec["ports"] = {f"{launch.container_port}/tcp": ("127.0.0.1", None)}
    spec["labels"] = {
        **(spec.get("labels") or {}),
        OWNER_LABEL: launch.owner,
        TRIAL_LABEL: launch.trial_id,
        RUNNER_LABEL: owners.me(),
    }
    if launch.gpus:
        spec["device_requests"] = [
            DeviceRequest(driver="nvidia", device_ids=list(launch.gpus), capabilities=[["gpu"]])
        ]
    else:
        spec.pop("device_requests", None)
    if launch.cpus:  # a CPU engine's own cores, disjoint from the load generator's
        spec["cpuset_cpus"] = ",".join(str(c) for c in launch.cpus)
    return spec


def _safe_logs(container: Container) -> str:
    try:
        return health.tail(container.logs().decode(errors="replace"))
    except docker.errors.DockerException:
        return ""


def _safe_remove(container: Container) -> None:
    try:
        container.remove(force=True)
    except docker.errors.DockerException:
        pass


class DockerBackend:
    name: ClassVar[str] = "docker"
    records_runner: ClassVar[bool] = True

    def __init__(self, client: docker.DockerClient | None = None, grace_s: int = 10) -> None:
        self._client = client
        self.grace_s = grace_s

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            try:
                self._client = docker.from_env()
                self._client.ping()
            except docker.errors.DockerException as e:
                self._client = None
                raise InfraFailure(f"no Docker engine answers: {e}") from e
        return self._client

    def start(self, launch: Launch) -> Deployment:
        spec = run_spec(launch)
        image = spec["image"]
        try:
            self.client.images.get(image)
        except docker.errors.ImageNotFound as e:
            raise ConfigFailure(
                f"image {image!r} is not in the local Docker engine; {_image_hint(image)}"
            ) from e
        except docker.errors.DockerException as e:
            raise InfraFailure(f"Docker engine error looking up {image!r}: {e}") from e
        try:
            container = self._create(spec, launch)
        except docker.errors.APIError as e:
            if e.is_client_error() and e.status_code != 409:
                raise ConfigFailure(f"Docker rejected the run spec: {e.explanation}") from e
            raise InfraFailure(f"Docker engine error creating {launch.trial_id}: {e}") from e
        except docker.errors.DockerException as e:
            raise InfraFailure(f"Docker engine error creating {launch.trial_id}: {e}") from e
        try:
            container.start()
            watchdog.watch(container.id)  # removes it if this runner dies (watchdog.py)
            container.reload()
        except docker.errors.DockerException as e:
            logs = _safe_logs(container)
            _safe_remove(container)
            if isinstance(e, docker.errors.APIError) and e.status_code == 400:
                raise ConfigFailure(f"container did not start: {e.explanation}", logs) from e
            raise InfraFailure(f"Docker engine error starting {launch.trial_id}: {e}", logs) from e
        bindings = (container.attrs["NetworkSettings"]["Ports"] or {}).get(
            f"{launch.container_port}/tcp"
        ) or [{}]
        port = bindings[0].get("HostPort", "0")  # "0": it already exited; wait_healthy says why
        return Deployment(launch, f"http://127.0.0.1:{port}", DockerContainer(container))

    def _create(self, spec: dict[str, Any], launch: Launch) -> Container:
        """Create the container; a same-named leftover of this very trial is removed first."""
        try:
            return self.client.containers.create(**spec)
        except docker.errors.APIError as e:
            if e.status_code != 409 or not spec.get("name"):
                raise
            old = self.client.containers.get(spec["name"])
            if old.labels.get(TRIAL_LABEL) != launch.trial_id:
                raise
            old.remove(force=True)
            return self.client.containers.create(**spec)

    def _exit_code(self, handle: DockerContainer) -> int | None:
        try:
            handle.container.reload()
        except docker.errors.NotFound:
            return -1
        except docker.errors.DockerException as e:
            raise InfraFailure(f"Docker engine error watching the container: {e}") from e
        state = handle.container.attrs["State"]
        if state["Status"] in ("exited", "dead"):
            return int(state["ExitCode"])
        return None

    def wait_healthy(self, deployment: Deployment, timeout_s: float) -> None:
        handle: DockerContainer = deployment.handle
        health.wait_http_ok(
            deployment.base_url + deployment.launch.health_path,
            timeout_s,
            exit_code=lambda: self._exit_code(handle),
            logs=lambda: self.logs(deployment),
        )

    def logs(self, deployment: Deployment) -> str:
        handle: DockerContainer = deployment.handle
        saved = deployment.launch.log_dir / LOG_NAME
        if handle.removed:
            return saved.read_text(errors="replace") if saved.exists() else ""
        try:
            return handle.container.logs(stdout=True, stderr=True).decode(errors="replace")
        except docker.errors.NotFound:
            return saved.read_text(errors="replace") if saved.exists() else ""
        except docker.errors.DockerException as e:
            raise InfraFailure(f"Docker engine error reading logs: {e}") from e

    def stop(self, deployment: Deployment) -> None:
        handle: DockerContainer = deployment.handle
        if handle.removed:
            return
        container = handle.container
        try:
            container.stop(timeout=self.grace_s)  # SIGTERM, SIGKILL after the grace period
            deployment.launch.log_dir.mkdir(parents=True, exist_ok=True)
            (deployment.launch.log_dir / LOG_NAME).write_bytes(
                secrets.redact_bytes(container.logs(stdout=True, stderr=True))
            )
            container.remove(force=True)
        except docker.errors.NotFound:
            pass  # removed behind our back (reap, or by hand): nothing left to stop
        except docker.errors.DockerException as e:
            raise InfraFailure(f"Docker engine error stopping {container.short_id}: {e}") from e
        handle.removed = True

    def reap(self, owner_prefix: str, live: bool = False) -> list[str]:
        """Remove the containers (running or not) whose owner label starts with the prefix
        and whose runner (label RUNNER_LABEL, ``common/owners.py``) is dead; `live` includes
        those of live runners (a test cleaning up after itself)."""
        try:
            containers = self.client.containers.list(all=True, filters={"label": OWNER_LABEL})
        except docker.errors.DockerException as e:
            raise InfraFailure(f"Docker engine error listing containers: {e}") from e
        reaped = []
        for container in containers:
            if not container.labels.get(OWNER_LABEL, "").startswith(owner_prefix):
                continue
            if not live and owners.alive(container.labels.get(RUNNER_LABEL)):
                continue
            try:
                container.remove(force=True)
            except docker.errors.NotFound:
                continue  # gone meanwhile
            except docker.errors.DockerException as e:
                raise InfraFailure(f"Docker engine error removing {container.name}: {e}") from e
            reaped.append(container.labels.get(TRIAL_LABEL, container.name))
        return reaped
