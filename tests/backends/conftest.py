"""Fixtures for the backend suite: one harness per backend, each against a real engine.

Docker tests fail (never skip) when no engine answers: CI starts one with
scripts/start_dockerd.sh, and a suite that silently skips them proves nothing.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import docker
import pytest
from tuneops.deployments.registry import deployment_mode

from tests.backends.harness import STANDIN, USE_SIM, OmeHarness, make_harness
from tests.conftest import build_image_module
from tests.helpers.polling import wait_until
from tests.kube_helpers import running_api_server, write_kubeconfig
from tests.ome_standin import OmeStandIn


@pytest.fixture(scope="session")
def engine_image(docker_client: docker.DockerClient) -> str:
    """The simulator image once the simulator exists, else the stand-in engine's image."""
    build = build_image_module()
    if USE_SIM:
        return build.build_sim_image(docker_client)
    build.ensure_base(docker_client)
    return build.build_app_image(
        docker_client,
        "tuneops-test/standin",
        {"standin_engine.py": STANDIN},
        ["python3", "-m", "standin_engine", "--help"],
    )


@pytest.fixture(autouse=True)
def _runtime_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Pid files and port locks of these tests stay out of the machine-wide runtime dir."""
    monkeypatch.setenv("TUNEOPS_RUNTIME_DIR", str(tmp_path_factory.getbasetemp() / "runtime"))


@pytest.fixture
def ome_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """kmock's emulator with the OME stand-in, reached through $KUBECONFIG (whose context
    names the namespace), as `tuneops` and a killed runner would reach a cluster."""
    with running_api_server() as server:
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", server.url,
                                      namespace=OmeHarness.namespace)
        monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
        with OmeStandIn(server, kubeconfig, OmeHarness.namespace, tmp_path / "pvcs") as ome:
            # the base model the harness's services name: its pods are placed only on nodes
            # the stand-in's model agent has labelled as having it
            ome.objects.create_cluster_custom_object("ome.io", "v1beta1", "clusterbasemodels", {
                "apiVersion": "ome.io/v1beta1", "kind": "ClusterBaseModel",
                "metadata": {"name": "tiny"}, "spec": {"storage": {
                    "storageUri": "hf://tiny", "path": str(tmp_path / "tiny")}}})
            # ... and the agent has it on the nodes before a trial is placed, as the cluster
            # preflight requires of a real cluster (deployments/ome/preflight.py: the base
            # model is Ready). Without this wait a service created in the moment between the
            # model's creation and the agent's node labels is Unschedulable, which the backend
            # reports at once: the race that made the lifecycle tests flaky under load.
            wait_until(lambda: (ome.objects.get_cluster_custom_object(
                "ome.io", "v1beta1", "clusterbasemodels", "tiny").get("status") or {}
                                ).get("state") == "Ready", what="the base model Ready")
            yield ome
        assert ome.errors == []


@pytest.fixture(params=[pytest.param("local"), pytest.param("docker", marks=pytest.mark.docker),
                        "ome"])
def harness(request: pytest.FixtureRequest):
    return make_harness(request)


@pytest.fixture
def backend(harness, _runtime_dir):
    return deployment_mode(harness.name).backend(grace_s=5)


@pytest.fixture
def owner(harness):
    """A unique owner per test; whatever it left running is removed afterwards."""
    name = f"pytest-backends/{uuid.uuid4().hex[:8]}"
    yield name
    deployment_mode(harness.name).backend(grace_s=1).reap(name, live=True)


@pytest.fixture
def logs_root(tmp_path: Path) -> Path:
    return tmp_path / "logs"
