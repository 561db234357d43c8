"""Fixtures for the OME mode's tests: each test gets its own API server, namespace and S3
bucket, so no test sees another's objects whatever order they run in."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.kube_helpers import running_api_server, write_kubeconfig


@pytest.fixture(autouse=True)
def _runtime_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Pid files and port locks of these tests stay out of the machine-wide runtime dir (as
    in tests/backends/, where these tests come from)."""
    monkeypatch.setenv("TUNEOPS_RUNTIME_DIR", str(tmp_path_factory.getbasetemp() / "runtime"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path, monkeypatch):
    """A fresh API server (kmock's emulator) for this test, with $KUBECONFIG pointing at it
    (the backend loads it itself)."""
    with running_api_server() as api_server:
        path = write_kubeconfig(tmp_path / "kubeconfig", api_server.url)
        monkeypatch.setenv("KUBECONFIG", str(path))
        yield api_server


@dataclass
class Bucket:
    client: Any  # boto3's S3 client
    name: str  # a bucket of this test's own

    def keys(self) -> list[str]:
        return [o["Key"] for o in self.client.list_objects_v2(Bucket=self.name).get(
            "Contents", [])]


@pytest.fixture
def s3(monkeypatch) -> Iterator[Bucket]:
    """A moto S3 server on 127.0.0.1 and a bucket only this test uses: moto keeps its
    buckets in process-wide state, so a shared name would show another test's objects.
    boto3 here and genai-bench's uploads find it through the environment
    (AWS_ENDPOINT_URL_S3), as they would find a real store's."""
    import boto3
    from moto.server import ThreadedMotoServer

    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    env = {"AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "test",
           "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    client_ = boto3.client("s3")
    bucket = f"bench-{uuid.uuid4().hex[:12]}"
    client_.create_bucket(Bucket=bucket)
    try:
        yield Bucket(client_, bucket)
    finally:
        moto.stop()


@pytest.fixture
def namespace() -> str:
    """A namespace of this test's own."""
    return f"t-{uuid.uuid4().hex[:10]}"
