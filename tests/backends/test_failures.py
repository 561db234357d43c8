"""Failure classification beyond the shared lifecycle: what each backend alone can get
wrong (a taken port on the host, a missing image, GPU requests) and how exit logs of real
engines are read.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest
from tuneops.deployments.common import owners
from tuneops.deployments.common.backend import ConfigFailure, InfraFailure, Launch
from tuneops.deployments.common.health import exit_failure
from tuneops.deployments.docker.backend import DockerBackend, run_spec
from tuneops.deployments.local.backend import LocalBackend

from tests.backends.harness import MARKER, STANDIN

# Last lines of real engine logs (uvicorn behind SGLang/vLLM; PyTorch OOM; argparse).
UVICORN_PORT_TAKEN = (
    "INFO:     Started server process [4242]\n"
    "ERROR:    [Errno 98] error while attempting to bind on address ('127.0.0.1', 30000): "
    "address already in use\n"
)
TORCH_OOM = (
    "Traceback (most recent call last):\n"
    "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 1.95 GiB. GPU 0 has a total "
    "capacity of 79.19 GiB of which 1.02 GiB is free.\n"
)
ARGPARSE = "usage: server.py [-h] ...\nserver.py: error: unrecognized arguments: --x\n"


def test_exit_logs_are_classified():
    taken = exit_failure(1, UVICORN_PORT_TAKEN)
    assert isinstance(taken, InfraFailure)
    assert "address already in use" in taken.reason
    oom = exit_failure(1, TORCH_OOM)
    assert isinstance(oom, ConfigFailure)
    assert "CUDA out of memory" in oom.reason and "code 1" in oom.reason
    bad = exit_failure(2, ARGPARSE)
    assert isinstance(bad, ConfigFailure) and "unrecognized arguments: --x" in bad.reason
    silent = exit_failure(0, "")
    assert isinstance(silent, ConfigFailure) and "(no output)" in silent.reason


def _launch(tmp_path: Path, command: list[str], **kw) -> Launch:
    defaults = dict(
        trial_id="t",
        owner="pytest-failures/x",
        command=command,
        env={MARKER: "pytest-failures/x"},
        container_port=30000,
        health_path="/health",
        gpus=(),
        log_dir=tmp_path,
    )
    return Launch(**{**defaults, **kw})


def test_local_engine_losing_its_port_is_an_infra_failure(tmp_path: Path):
    """The engine binds a port someone else listens on: retrying elsewhere will help."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        command = [sys.executable, str(STANDIN), "--start-delay", "0", "--port", str(port)]
        backend = LocalBackend(grace_s=2)
        launch = _launch(tmp_path, command, env={"UNUSED_PORT": "{port}"})
        deployment = backend.start(launch)
        try:
            with pytest.raises(InfraFailure, match="Address already in use"):
                backend.wait_healthy(deployment, timeout_s=20)
        finally:
            backend.stop(deployment)
        # without a {port} placeholder the container port itself is reserved, or refused
        with pytest.raises(InfraFailure, match=f"port {port} is in use"):
            backend.start(_launch(tmp_path, command, container_port=port))


def test_local_missing_executable_is_a_config_failure(tmp_path: Path):
    with pytest.raises(ConfigFailure, match="cannot run 'no-such-engine-binary'"):
        LocalBackend().start(_launch(tmp_path, ["no-such-engine-binary", "--port", "{port}"]))


def test_docker_spec_gets_labels_local_port_and_gpus_only_when_given(tmp_path: Path):
    rendered = {
        "image": "lmsysorg/sglang:v0.5.5",
        "command": ["python3", "-m", "sglang.launch_server", "--port", "30000"],
        "environment": {"A": "1"},
        "ports": {"30000/tcp": None},
        "device_requests": [{"driver": "nvidia", "device_ids": ["0"], "capabilities": [["gpu"]]}],
        "labels": {"team": "x"},
        "detach": True,
    }
    cpu = run_spec(_launch(tmp_path, [], spec=rendered, env={"B": "2"}))
    assert "device_requests" not in cpu and "detach" not in cpu
    assert cpu["ports"] == {"30000/tcp": ("127.0.0.1", None)}
    assert cpu["labels"] == {
        "team": "x",
        "io.tuneops.owner": "pytest-failures/x",
        "io.tuneops.trial": "t",
        "io.tuneops.runner": owners.me(),  # reap leaves a live runner's containers alone
    }
    assert cpu["environment"] == {"A": "1", "B": "2"}
    assert cpu["command"] == rendered["command"] and cpu["init"] is True
    gpu = run_spec(_launch(tmp_path, [], spec=rendered, gpus=("2", "3")))
    (request,) = gpu["device_requests"]
    assert request["DeviceIDs"] == ["2", "3"] and request["Capabilities"] == [["gpu"]]
    assert rendered["ports"] == {"30000/tcp": None}  # the rendered spec is not mutated


@pytest.mark.docker
def test_docker_missing_image_is_a_config_failure(tmp_path: Path, docker_client):
    backend = DockerBackend(docker_client)
    launch = _launch(tmp_path, ["python3"], spec={"image": "tuneops/sim:no-such-tag"})
    with pytest.raises(ConfigFailure, match=r"'tuneops/sim:no-such-tag'.*scripts/build_image.py"):
        backend.start(launch)
    other = _launch(tmp_path, ["x"], spec={"image": "example.org/nothing:1"})
    with pytest.raises(ConfigFailure, match=r"docker pull example.org/nothing:1"):
        backend.start(other)


def test_docker_daemon_unreachable_is_an_infra_failure(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-daemon.sock")
    launch = _launch(tmp_path, ["python3"], spec={"image": "tuneops/sim:latest"})
    with pytest.raises(InfraFailure, match="no Docker engine answers"):
        DockerBackend().start(launch)
