"""The one suite every backend passes: start → healthy → serve → logs → stop → nothing left,
crashes and timeouts classified, and orphans of a killed runner reaped.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from runner.backends.base import ConfigFailure, InfraFailure
from tests.backends.harness import READY_TEXT, launch_to_json

KILLED_RUNNER = Path(__file__).with_name("killed_runner.py")
_direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _get_json(url: str) -> dict:
    with _direct.open(url, timeout=10) as response:
        assert response.status == 200
        return json.loads(response.read())


def _wait_gone(harness, owner: str, timeout_s: float = 10) -> list:
    deadline = time.monotonic() + timeout_s
    while (left := harness.leftovers(owner)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def test_serves_logs_and_stops_clean(harness, backend, owner, logs_root):
    launch = harness.launch(logs_root, owner, "serve")
    deployment = backend.start(launch)
    try:
        assert harness.leftovers(owner), "start() should have left an engine running"
        backend.wait_healthy(deployment, timeout_s=30)
        models = _get_json(deployment.base_url + "/v1/models")
        assert models["data"], models
        assert READY_TEXT in backend.logs(deployment)
        assert backend.logs(deployment).strip()
    finally:
        backend.stop(deployment)
    assert harness.leftovers(owner) == []
    saved = (launch.log_dir / "engine.log").read_text()
    assert saved.strip() and READY_TEXT in saved
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
    started = time.monotonic()
    try:
        with pytest.raises(InfraFailure) as failure:
            backend.wait_healthy(deployment, timeout_s=2)
    finally:
        backend.stop(deployment)
    assert time.monotonic() - started < 15  # stop needed no full grace period of waiting
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
    assert harness.leftovers(owner), "the killed runner's engine should still be running"
    other = backend.reap("someone-else/")
    assert "orphan" not in other and harness.leftovers(owner)
    assert backend.reap(owner[:-4]) == ["orphan"]  # owners match by prefix
    assert _wait_gone(harness, owner) == []
    assert backend.reap(owner) == []  # nothing left to reap the second time
