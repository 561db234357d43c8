"""The one suite every backend passes: start → healthy → serve → logs → stop → nothing left,
crashes and timeouts classified, and orphans of a killed runner reaped.

Besides conftest's harnesses (local and docker, on the simulator or the stand-in engine, and
ome on kmock's emulator with tests/ome_standin.py playing OME) it
runs the local backend against a real llama.cpp (the xllamacpp launcher on the tiny
generated model), which must also stream a chat completion with usage.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from tuneops.deployments.common.backend import ConfigFailure, InfraFailure, Launch

from tests.backends.harness import (
    HANG,
    MARKER,
    READY_TEXT,
    ROOT,
    LocalHarness,
    launch_to_json,
    make_harness,
)
from tests.conftest import tiny_model
from tests.helpers.polling import wait_until

KILLED_RUNNER = Path(__file__).with_name("killed_runner.py")
_direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _get_json(url: str) -> dict:
    with _direct.open(url, timeout=10) as response:
        assert response.status == 200
        return json.loads(response.read())


class LlamaCppHarness(LocalHarness):
    """The local backend running llama.cpp's server (``python -m tuneops.engines.llamacpp``)."""

    ready_text = "llamacpp: serving"
    chat = True

    def __init__(self, model: Path) -> None:
        self.model = model

    def launch(self, tmp: Path, owner: str, trial: str, kind: str = "ok") -> Launch:
        if kind == "hang":
            command = [sys.executable, "-c", HANG, "{port}"]
        else:
            command = [sys.executable, "-m", "tuneops.engines.llamacpp", "--model", str(self.model),
                       "--alias", "tiny", "--host", "127.0.0.1", "--port", "{port}",
                       "--ctx-size", "512", "--parallel", "1", "--threads", "1"]
            command += ["--no-such-flag"] if kind == "bad-flag" else []
        return Launch(
            trial_id=trial, owner=owner, command=command,
            env={MARKER: owner, "PYTHONPATH": str(ROOT)},
            container_port=8080, health_path="/health", gpus=(), log_dir=tmp / trial,
        )


@pytest.fixture(params=[
    pytest.param("local"), pytest.param("docker", marks=pytest.mark.docker), "ome", "llamacpp",
])
def harness(request: pytest.FixtureRequest):
    """conftest's harnesses, plus the local backend on a real llama.cpp."""
    if request.param == "llamacpp":
        return LlamaCppHarness(tiny_model())
    return make_harness(request)


def _streamed_chat(base_url: str, max_tokens: int) -> tuple[list[str], dict | None]:
    body = {"model": "tiny", "messages": [{"role": "user", "content": "Hello"}],
            "max_tokens": max_tokens, "ignore_eos": True, "stream": True,
            "stream_options": {"include_usage": True}}
    request = urllib.request.Request(
        base_url + "/v1/chat/completions", data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    pieces, usage = [], None
    with _direct.open(request, timeout=60) as response:
        assert response.headers.get_content_type() == "text/event-stream"
        for raw in response:
            line = raw.decode().strip()
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            event = json.loads(line[len("data: "):])
            pieces += [c["delta"]["content"] for c in event["choices"]
                       if c["delta"].get("content")]
            usage = event.get("usage") or usage
    return pieces, usage


def _wait_gone(harness, owner: str, timeout_s: float = 10) -> list:
    """What is still there once nothing is left, or when `timeout_s` passes (then the
    caller's assert names it)."""
    try:
        wait_until(lambda: not harness.leftovers(owner), timeout_s, 0.1, f"{owner} gone")
    except AssertionError:
        pass
    return harness.leftovers(owner)


def test_serves_logs_and_stops_clean(harness, backend, owner, logs_root):
    ready_text = getattr(harness, "ready_text", READY_TEXT)
    launch = harness.launch(logs_root, owner, "serve")
    deployment = backend.start(launch)
    try:
        assert harness.leftovers(owner), "start() should have left an engine running"
        backend.wait_healthy(deployment, timeout_s=30)
        models = _get_json(deployment.base_url + "/v1/models")
        assert models["data"], models
        assert ready_text in backend.logs(deployment)
        assert backend.logs(deployment).strip()
        if getattr(harness, "chat", False):
            pieces, usage = _streamed_chat(deployment.base_url, max_tokens=8)
            assert pieces, "no streamed content"
            assert usage is not None and usage["completion_tokens"] == 8
            assert usage["prompt_tokens"] > 0
    finally:
        backend.stop(deployment)
    assert harness.leftovers(owner) == []
    if harness.name == "local":  # the port is closed (and was the one the backend reserved)
        port = int(deployment.base_url.rsplit(":", 1)[1])
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0
    saved = (launch.log_dir / "engine.log").read_text()
    assert saved.strip() and ready_text in saved
    assert backend.logs(deployment) == saved  # still readable after the engine is gone
    backend.stop(deployment)  # idempotent


def test_bad_flag_is_a_config_failure(harness, backend, owner, logs_root):
    deployment = backend.start(harness.launch(logs_root, owner, "bad-flag", kind="bad-flag"))
    try:
        with pytest.raises(ConfigFailure) as failure:
            backend.wait_healthy(deployment, timeout_s=30)
    finally:
        backend.stop(deployment)
    assert "exited with code 2" in failure.value.reason
    assert "unrecognized arguments: --no-such-flag" in failure.value.reason
    assert "--no-such-flag" in failure.value.logs_tail
    assert harness.leftovers(owner) == []


def test_startup_timeout_is_an_infra_failure(harness, backend, owner, logs_root):
    deployment = backend.start(harness.launch(logs_root, owner, "hang", kind="hang"))
    try:
        with pytest.raises(InfraFailure) as failure:
            backend.wait_healthy(deployment, timeout_s=2)
    finally:
        backend.stop(deployment)
    if harness.name == "local":  # SIGTERM ended it: stop never escalated to SIGKILL
        assert deployment.handle.proc.returncode == -signal.SIGTERM
    assert "did not serve" in failure.value.reason and "within 2s" in failure.value.reason
    assert "never listening" in failure.value.logs_tail
    assert harness.leftovers(owner) == []


def test_reap_cleans_up_after_a_killed_runner(harness, backend, owner, logs_root):
    launch = harness.launch(logs_root, owner, "orphan")
    runner = subprocess.Popen(
        [sys.executable, str(KILLED_RUNNER), harness.name],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    runner.stdin.write(launch_to_json(launch))
    runner.stdin.close()
    try:
        assert runner.stdout.readline().strip() == "healthy"
    finally:
        runner.kill()
        runner.wait()
    if harness.name in ("local", "llamacpp", "docker"):  # dies with its runner: no reap
        assert _wait_gone(harness, owner) == []
        return
    assert harness.leftovers(owner), "the killed runner's engine should still be running"
    other = backend.reap("someone-else/")
    assert "orphan" not in other and harness.leftovers(owner)
    assert backend.reap(owner[:-4]) == ["orphan"]  # owners match by prefix
    assert _wait_gone(harness, owner) == []
    assert backend.reap(owner) == []  # nothing left to reap the second time


SECRET = "Wq3#zP8vLk2mXr7t"


@pytest.mark.parametrize("harness", ["local", "llamacpp",
                                     pytest.param("docker", marks=pytest.mark.docker)],
                         indirect=True)
def test_an_engine_dies_with_its_runner_and_leaves_no_secret(harness, owner, logs_root):
    """kill -9 of the runner: within 10 s no engine of it is alive (local: the parent-death
    signal, deployments/common/engine_lifetime.py; docker: the watchdog,
    deployments/docker/watchdog.py) and no file under its folder holds the secret its engine
    printed (local: the redacting pipe, deployments/common/redacting_log.py; docker: logs
    are only written, redacted, by the runner)."""
    launch = harness.launch(logs_root, owner, "orphan")
    launch = dataclasses.replace(
        launch, env={**launch.env, "PLANTED": SECRET},
        command=["sh", "-c", 'echo "token=$PLANTED"; exec "$@"', "sh", *launch.command])
    runner = subprocess.Popen(
        [sys.executable, str(KILLED_RUNNER), harness.name], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True,
        env={**os.environ, "KILLED_RUNNER_SECRETS": "PLANTED"},
    )
    runner.stdin.write(launch_to_json(launch))
    runner.stdin.close()
    try:
        assert runner.stdout.readline().strip() == "healthy"
        assert harness.leftovers(owner), "the engine serves while its runner lives"
    finally:
        runner.kill()
        runner.wait()
    assert _wait_gone(harness, owner, timeout_s=10) == []
    files = [p for p in logs_root.rglob("*") if p.is_file()]
    if harness.name != "docker":  # the engine's own log file, written through the pipe
        assert any("token=[REDACTED]" in p.read_text(errors="replace") for p in files)
    assert not [p for p in files if SECRET.encode() in p.read_bytes()]
