"""The CLI's exit paths that a normal run never takes: a bug (exit 3, traceback in the crash
log), Ctrl-C (exit 130), and `tuneops reap` on real engine processes, by owner prefix and
with `--owner ""` (every owner).

`reap` runs as a subprocess against the local backend only, with TUNEOPS_RUNTIME_DIR in
tmp_path: it then sees only the engines started here (the Docker engine of this machine is
shared, and `--owner ""` would stop every tuneops container on it).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from tuneops.deployments.common.backend import PORT_PLACEHOLDER, Launch
from tuneops.deployments.local.backend import LocalBackend

from tuneops import cli, errors

SLEEPER = "import sys, time; print('engine up on', sys.argv[1], flush=True); time.sleep(600)"


def test_a_bug_exits_3_and_writes_the_traceback_to_the_crash_log(tmp_path, monkeypatch, capsys):
    def broken(args):
        return {}["no such key"]  # a bug deep in a command

    monkeypatch.setattr(cli, "cmd_plan", broken)
    log_dir = tmp_path / "logs" / "not-yet"
    monkeypatch.setenv("TUNEOPS_LOG_DIR", str(log_dir))
    assert cli.main(["plan", "experiments/examples/quickstart.yaml"]) == errors.EXIT_BUG == 3
    err = capsys.readouterr().err
    [crash] = log_dir.glob("tuneops-crash-*.log")  # one per invocation, outside a run
    assert err.strip() == f"internal error: KeyError('no such key') (traceback in {crash})"
    text = crash.read_text()
    assert "\nTraceback (most recent call last):" in text  # after a "--- <time> pid" header
    assert "in broken" in text and text.rstrip().endswith("KeyError: 'no such key'")


def test_ctrl_c_exits_130(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "cmd_validate", interrupted)
    assert cli.main(["validate"]) == errors.EXIT_INTERRUPTED == 130
    assert capsys.readouterr().err.strip() == "interrupted"


def test_user_and_runner_errors_keep_their_own_codes(monkeypatch, capsys):
    def failing(args):
        raise errors.TuneopsError("the engine is gone")

    monkeypatch.setattr(cli, "cmd_validate", failing)
    assert cli.main(["validate"]) == errors.EXIT_FAILURE == 1
    assert capsys.readouterr().err.strip() == "error: the engine is gone"


@pytest.fixture
def runtime(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "runtime"
    monkeypatch.setenv("TUNEOPS_RUNTIME_DIR", str(path))
    return path


def _start(backend: LocalBackend, tmp_path: Path, owner: str, trial: str):
    launch = Launch(trial_id=trial, owner=owner,
                    command=[sys.executable, "-c", SLEEPER, PORT_PLACEHOLDER],
                    env={}, container_port=8000, health_path="/health", gpus=(),
                    log_dir=tmp_path / trial)
    return backend.start(launch)


def _reap(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tuneops.cli", "reap", "--backends", "local",
                           *args], capture_output=True, text=True, timeout=120, env=os.environ)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state != "Z"


def test_reap_stops_only_the_owners_engines_and_an_empty_owner_stops_all(tmp_path, runtime):
    backend = LocalBackend(grace_s=5)
    a = _start(backend, tmp_path, "exp-a/run-1", "trial-a")
    a2 = _start(backend, tmp_path, "exp-ab/run-9", "trial-ab")
    b = _start(backend, tmp_path, "exp-b/run-2", "trial-b")
    pids = {name: d.handle.proc.pid for name, d in
            (("a", a), ("ab", a2), ("b", b))}
    try:
        # these engines' runner (this test) is alive: plain reap leaves them alone
        assert _reap("--owner", "").stdout == ""
        assert _alive(pids["a"]) and _alive(pids["ab"]) and _alive(pids["b"])
        done = _reap("--live", "--owner", "exp-a/")  # the slash: exp-ab is another experiment
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == ["local: stopped trial-a"]
        a.handle.proc.wait(60)  # our own child: reaped by us, so no zombie stays
        assert not _alive(pids["a"]) and _alive(pids["ab"]) and _alive(pids["b"])

        done = _reap("--live", "--owner", "")
        assert done.returncode == 0, done.stderr
        assert sorted(done.stdout.splitlines()) == ["local: stopped trial-ab",
                                                   "local: stopped trial-b"]
        for d in (a2, b):
            d.handle.proc.wait(60)
        assert not _alive(pids["ab"]) and not _alive(pids["b"])
        assert list((runtime / "local").glob("*.json")) == []  # no pid file left behind

        again = _reap("--live")  # the default owner is "" too: nothing left
        assert again.returncode == 0 and again.stdout == ""
    finally:
        for d in (a, a2, b):
            backend.stop(d)
