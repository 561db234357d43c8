"""Fixtures every Docker test shares: one client, one way to build images.

Docker tests fail (never skip) when no engine answers: CI starts one with
scripts/start_dockerd.sh, and a suite that silently skips them proves nothing.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import docker
import pytest

ROOT = Path(__file__).resolve().parent.parent


def build_image_module() -> ModuleType:
    """scripts/build_image.py, imported (it is a script, not a package module)."""
    spec = importlib.util.spec_from_file_location("build_image", ROOT / "scripts/build_image.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def docker_client() -> docker.DockerClient:
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as e:
        pytest.fail(f"no Docker engine answers ({e}); start one with scripts/start_dockerd.sh")
    return client


@pytest.fixture(scope="session")
def sim_image(docker_client: docker.DockerClient) -> str:
    """tuneops/sim:latest, built by scripts/build_image.py (a no-op when it is current)."""
    build_image_module().build_sim_image(docker_client)
    docker_client.images.get("tuneops/sim:latest")  # what experiments name
    return "tuneops/sim:latest"
