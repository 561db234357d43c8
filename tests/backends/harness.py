"""How the lifecycle suite drives each backend against a real engine.

The engine is the SGLang simulator once ``engines/sim`` can run
(``python3 -m tuneops.engines.sim``),
else ``standin_engine.py`` (stdlib HTTP). Each harness builds Launches for three engines (one
that serves, one given a bad flag, one that never listens) and says what is left running
for an owner, looking at the system directly rather than through the backend under test.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

import docker
from tuneops.deployments.common.backend import OWNER_LABEL, Launch

ROOT = Path(__file__).resolve().parents[2]
STANDIN = Path(__file__).with_name("standin_engine.py")
SIM_NEEDS = ["engines/sim/__main__.py", "assets/tokenizer", "schemas/catalogs/sglang.json"]
USE_SIM = all((ROOT / path).exists() for path in SIM_NEEDS)
MARKER = "TUNEOPS_TEST_OWNER"  # every test engine carries its owner in its environment
CONTAINER_PORT = 30000
HANG = "import time; print('starting, never listening', flush=True); time.sleep(120)"

if USE_SIM:
    MODULE_ARGS = ["-m", "tuneops.engines.sim", "--model-path", "meta-llama/Llama-3.2-1B",
                   "--time-scale", "0.01"]  # fmt: skip
    READY_TEXT = "fired up and ready to roll"  # what SGLang (and so the simulator) prints
else:
    MODULE_ARGS = ["-m", "standin_engine", "--start-delay", "0.3"]
    READY_TEXT = "serving on"


def owner_processes(owner: str) -> list[int]:
    """Live (non-zombie) processes whose environment names ``owner``."""
    needle = f"{MARKER}={owner}\0".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if needle not in (proc / "environ").read_bytes():
                continue
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            found.append(int(proc.name))
    return found


class LocalHarness:
    name = "local"

    def launch(self, tmp: Path, owner: str, trial: str, kind: str = "ok") -> Launch:
        if kind == "hang":
            command = [sys.executable, "-c", HANG, "{port}"]
        else:
            command = [sys.executable, *MODULE_ARGS, "--host", "127.0.0.1", "--port", "{port}"]
            command += ["--no-such-flag"] if kind == "bad-flag" else []
        pythonpath = os.pathsep.join([str(ROOT), str(STANDIN.parent)])
        return Launch(
            trial_id=trial,
            owner=owner,
            command=command,
            env={MARKER: owner, "PYTHONPATH": pythonpath},
            container_port=CONTAINER_PORT,
            health_path="/health",
            gpus=(),
            log_dir=tmp / trial,
        )

    def leftovers(self, owner: str) -> list:
        return owner_processes(owner)


class DockerHarness:
    name = "docker"

    def __init__(self, client: docker.DockerClient, image: str):
        self.client = client
        self.image = image

    def launch(self, tmp: Path, owner: str, trial: str, kind: str = "ok") -> Launch:
        if kind == "hang":
            command = ["python3", "-c", HANG]
        else:
            command = ["python3", *MODULE_ARGS, "--host", "0.0.0.0", "--port", str(CONTAINER_PORT)]
            command += ["--no-such-flag"] if kind == "bad-flag" else []
        return Launch(
            trial_id=trial,
            owner=owner,
            command=command,
            env={MARKER: owner},
            container_port=CONTAINER_PORT,
            health_path="/health",
            gpus=(),
            log_dir=tmp / trial,
            spec={"image": self.image, "command": command, "detach": True},
        )

    def leftovers(self, owner: str) -> list:
        return self.client.containers.list(all=True, filters={"label": f"{OWNER_LABEL}={owner}"})


class OmeHarness:
    """The OME backend on kmock's emulator, with tests/ome_standin.py playing OME: each
    InferenceService runs its engine command here, behind the service's status.url."""

    name = "ome"
    namespace = "tuneops"

    def __init__(self, standin) -> None:
        self.standin = standin

    def launch(self, tmp: Path, owner: str, trial: str, kind: str = "ok") -> Launch:
        if kind == "hang":
            command = ["python3", "-c", HANG]
        else:
            command = ["python3", *MODULE_ARGS, "--host", "0.0.0.0", "--port", "8080"]
            command += ["--no-such-flag"] if kind == "bad-flag" else []
        env = {MARKER: owner, "PYTHONPATH": os.pathsep.join([str(ROOT), str(STANDIN.parent)])}
        name = f"lc-{trial}-{hashlib.sha256(owner.encode()).hexdigest()[:8]}"
        service = {
            "apiVersion": "ome.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": {"model": {"name": "tiny"}, "engine": {
                "minReplicas": 1, "maxReplicas": 1, "runner": {
                    "name": "ome-container", "image": "sim", "command": command,
                    "env": [{"name": k, "value": v} for k, v in env.items()]}}},
        }
        return Launch(
            trial_id=trial, owner=owner, command=command, env=env, container_port=8080,
            health_path="/health", gpus=(), log_dir=tmp / trial,
            spec={"InferenceService": service},
        )

    def leftovers(self, owner: str) -> list:
        """The owner's InferenceServices in the cluster, else its engine processes once the
        stand-in has had a moment to act on a deletion (Kubernetes deletes asynchronously)."""
        from kubernetes.client.exceptions import ApiException

        try:
            items = self.standin.objects.list_namespaced_custom_object(
                "ome.io", "v1beta1", self.namespace, "inferenceservices")["items"]
        except ApiException:
            items = []
        services = [i["metadata"]["name"] for i in items
                    if (i["metadata"].get("annotations") or {}).get(OWNER_LABEL) == owner]
        if services:
            return services
        deadline = time.monotonic() + 5
        while (left := owner_processes(owner)) and time.monotonic() < deadline:
            time.sleep(0.1)
        return left


def make_harness(request):
    """The harness a parametrised `harness` fixture asked for (fixtures it needs on demand)."""
    if request.param == "docker":
        return DockerHarness(
            request.getfixturevalue("docker_client"), request.getfixturevalue("engine_image")
        )
    if request.param == "ome":
        return OmeHarness(request.getfixturevalue("ome_cluster"))
    return LocalHarness()


def launch_to_json(launch: Launch) -> str:
    data = asdict(launch)
    data["log_dir"] = str(launch.log_dir)
    return json.dumps(data)


def launch_from_json(text: str) -> Launch:
    data = json.loads(text)
    data["log_dir"] = Path(data["log_dir"])
    data["gpus"] = tuple(data["gpus"])
    return Launch(**data)
