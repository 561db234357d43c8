"""Failures classed by cause: what a signal from outside or a full disk did is infra."""

from __future__ import annotations

import errno

import pytest
from tuneops.deployments.common import causes, health
from tuneops.deployments.common.backend import ConfigFailure, InfraFailure


@pytest.mark.parametrize(("code", "name"), [
    (-9, "SIGKILL"), (137, "SIGKILL"), (-15, "SIGTERM"), (143, "SIGTERM"), (-2, "SIGINT"),
    (-6, None), (134, None), (-11, None), (1, None), (0, None), (None, None), (75, None),
    (128, None), (255, None),
])
def test_only_outside_signals_are_named(code, name):
    assert causes.killing_signal(code) == name


def test_an_engine_killed_before_serving_is_infra_not_config():
    failure = health.exit_failure(-9, "loading weights\n")
    assert isinstance(failure, InfraFailure)
    assert failure.reason == ("engine killed by SIGKILL (the kernel's OOM killer or an outside "
                              "kill) before serving: loading weights")
    assert isinstance(health.exit_failure(1, "error: unrecognized arguments"), ConfigFailure)
    aborted = health.exit_failure(-6, "GGML_ASSERT(n > 0) failed")  # its own crash
    assert isinstance(aborted, ConfigFailure)


def test_an_engine_killed_while_measured_is_infra_unless_its_log_blames_its_settings():
    killed = health.death_failure("engine exited with code 137", "serving\n")
    assert isinstance(killed, InfraFailure)
    assert killed.reason == ("engine killed by SIGKILL (the kernel's OOM killer or an outside "
                             "kill) while being measured")
    oom = health.death_failure("engine exited with code 137", "CUDA out of memory\n")
    assert isinstance(oom, ConfigFailure)


@pytest.mark.parametrize(("number", "symbol"), [(errno.ENOSPC, "ENOSPC"), (errno.EIO, "EIO"),
                                                (errno.EDQUOT, "EDQUOT")])
def test_disk_errors_are_named_with_their_symbol_and_path(number, symbol):
    exc = OSError(number, "boom", "/runs/x/trials/abc")
    assert causes.disk_problem(exc) == f"{symbol}: boom (/runs/x/trials/abc)"
    assert causes.disk_problem(OSError(errno.EACCES, "denied")) is None
    assert causes.disk_problem(ValueError("x")) is None


def test_a_folder_with_room_is_not_full(tmp_path):
    assert causes.disk_full(tmp_path, spare_bytes=1) is None
    assert causes.disk_full(tmp_path, spare_bytes=1 << 62) == (
        f"ENOSPC: no space left on device under {tmp_path}")
