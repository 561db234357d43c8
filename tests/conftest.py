"""Fixtures every Docker test shares: one client, one way to build images.

Docker tests fail (never skip) when no engine answers: CI starts one with
scripts/start_dockerd.sh, and a suite that silently skips them proves nothing.

No silent skips at all: a skip (pytest.skip, skipif, importorskip, at any stage) is turned
into a failure unless the test is marked `gpu` (it needs an NVIDIA GPU, which the project's
machines cannot provide). Hypothesis runs without its per-example deadline: a slow example
on a loaded machine is not a bug (timing claims live in `make bench`).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import uuid
from pathlib import Path
from types import ModuleType

import docker
import pytest
from hypothesis import settings

ROOT = Path(__file__).resolve().parent.parent
pytest_plugins = ["tests.no_skips"]  # a skip is a failure unless marked `gpu`

settings.register_profile("tuneops", deadline=None)
settings.register_profile("mutation", deadline=None, max_examples=30, derandomize=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "tuneops"))


def load_script(name: str) -> ModuleType:
    """scripts/<name>.py, imported (scripts are not package modules)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses in the script look their module up
    spec.loader.exec_module(module)
    return module


def build_image_module() -> ModuleType:
    return load_script("build_image")


def tiny_model() -> Path:
    """The tiny llama.cpp model preset, generated once into .cache/models (idempotent)."""
    return load_script("make_model").ensure(None, "tiny")[0]


@pytest.fixture
def marker(tmp_path, monkeypatch):
    """Marks every process a run starts (the engine and genai-bench inherit it); pid files
    and port locks stay under tmp_path. Whatever carries the mark is killed afterwards."""
    from tests import e2e_helpers as h

    value = uuid.uuid4().hex
    monkeypatch.setenv(h.MARKER, value)
    monkeypatch.setenv("TUNEOPS_RUNTIME_DIR", str(tmp_path / "runtime"))
    yield value
    h.kill_marked(value)


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
    """tuneops/sim:latest, built by scripts/build_image.py (a no-op when it is current).

    A missing prerequisite (debootstrap) fails the tests that need the image, with the
    script's own message; it must not escape as SystemExit, which would break the other
    fixtures of the session."""
    try:
        build_image_module().build_sim_image(docker_client)
    except SystemExit as exc:
        pytest.fail(f"cannot build the simulator image: {exc}")
    docker_client.images.get("tuneops/sim:latest")  # what experiments name
    return "tuneops/sim:latest"
