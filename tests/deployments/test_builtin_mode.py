"""A new built-in deployment mode is one folder under deployments/ plus its line in the
registry (tuneops/deployments/registry.py), and nothing else.

The test proves it on a scratch copy of the repository (every file git knows, committed
into a fresh repository there): it writes ``deployments/toy/`` (a mode, a backend built
only on ``deployments/common/``, and the ``__init__`` joining them), adds the registry's
line, checks with ``git status``/``git diff`` that nothing else changed, that import-linter's
contracts (.importlinter, unchanged) hold the new folder (kept as written, broken once it
imports another mode), then runs a simulated trial end to end through the copy: validate,
render, run, a completed trial.

The copy is imported as it is installed (``pyproject.toml``'s package-dir map, the
layout the editable install also serves), in child interpreters started with ``-S`` so
the editable install of this checkout is not on their path.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import uuid
from pathlib import Path

import pytest
import tomllib

from tests import e2e_helpers as h

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.genai_bench]

TOY_INIT = '''
"""Mode ``toy``: the simulator as a process on this machine (mode.py, backend.py)."""

from tuneops.deployments.toy.backend import ToyBackend
from tuneops.deployments.toy.mode import ToyMode

MODE = ToyMode(backend=ToyBackend)
'''

TOY_MODE = '''
"""What a toy trial renders (toy.json) and the launch derived from it."""

import sys

from tuneops.deployments.base import PORT_PLACEHOLDER, DeploymentMode, LaunchPlan
from tuneops.renderers.command import engine_command


class ToyMode(DeploymentMode):
    name = "toy"
    description = "a built-in toy mode: one folder and one registry line"
    options_schema = {"type": "object", "description": "Options for mode toy.",
                      "additionalProperties": False,
                      "properties": {"greeting": {"type": "string", "description": "Hi."}}}
    runs_image = False

    def trial_objects(self, exp, trial):
        argv = engine_command(exp, trial.args, host="127.0.0.1", port=PORT_PLACEHOLDER,
                              local=True)
        return {"toy.json": {"argv": argv, "greeting": exp.deployment.options["greeting"]}}

    def launch(self, exp, trial, objects, resolve):
        argv = list(objects["toy.json"]["argv"])
        argv[0] = sys.executable
        return LaunchPlan(command=argv, env=dict(exp.engine.env), container_port=30000)
'''

TOY_BACKEND = '''
"""A process group per trial, built only on what every mode shares (deployments/common)."""

import os
import signal
import subprocess

from tuneops.deployments.base import PORT_PLACEHOLDER
from tuneops.deployments.common import health, ports
from tuneops.deployments.common.backend import ConfigFailure, Deployment


class ToyBackend:
    name = "toy"
    records_runner = False

    def __init__(self, grace_s: float = 5.0):
        self.allocator = ports.PortAllocator(ports.runtime_dir() / "ports")
        self.grace_s = grace_s

    def start(self, launch):
        lease = self.allocator.reserve(None)
        argv = [a.replace(PORT_PLACEHOLDER, str(lease.port)) for a in launch.command]
        launch.log_dir.mkdir(parents=True, exist_ok=True)
        with open(launch.log_dir / "engine.log", "wb") as log:
            try:
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True,
                                        env={**os.environ, **launch.env})
            except OSError as e:
                lease.release()
                raise ConfigFailure(f"cannot run {argv[0]!r}: {e}") from e
        return Deployment(launch, f"http://127.0.0.1:{lease.port}", (proc, lease))

    def wait_healthy(self, deployment, timeout_s):
        proc, _ = deployment.handle
        health.wait_http_ok(deployment.base_url + deployment.launch.health_path, timeout_s,
                            exit_code=proc.poll, logs=lambda: self.logs(deployment))

    def logs(self, deployment):
        path = deployment.launch.log_dir / "engine.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self, deployment):
        proc, lease = deployment.handle
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=self.grace_s)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        lease.release()

    def reap(self, owner_prefix, live=False):
        return []  # it records no runner: a run stops only its own engines, in stop()
'''

REGISTRY = "deployments/registry.py"
IMPORT_LINE = "from tuneops.deployments import docker, local, ome\n"
ENTRY_BEFORE = "}\nMODE_ENTRY_POINTS"

# The child: imports the scratch copy's tuneops, then validate, render and run the toy
# experiment; prints the trial's status and metrics as JSON on its last line.
DRIVER = '''
import json, sys
layout, deps, exp_path, out = sys.argv[1:5]
sys.path[:0] = [layout, deps]
import tuneops
assert tuneops.__file__.startswith(layout), tuneops.__file__
from pathlib import Path
from tuneops import cli
from tuneops.deployments.registry import BUILTIN_MODES
from tuneops.runner.run import RunOptions, run_experiment
from tuneops.validate import load_experiment
assert "toy" in BUILTIN_MODES, sorted(BUILTIN_MODES)
assert cli.main(["validate", exp_path]) == 0
assert cli.main(["render", exp_path, "--out", out + "/manifests"]) == 0
summary = run_experiment(load_experiment(exp_path), RunOptions(
    runs_root=Path(out) / "runs", reports_root=Path(out) / "reports", quiet=True))
print(json.dumps([{"status": r.status, "metrics": bool(r.metrics), "id": r.trial_id}
                  for r in summary.results]))
'''


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
                          cwd=cwd, check=True, capture_output=True, text=True).stdout


def scratch_copy(dest: Path) -> Path:
    """Every file git knows in this checkout (tracked, and new ones not ignored), committed
    into a fresh repository at ``dest``."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], cwd=REPO, check=True,
                            capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        src = REPO / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    _git(dest, "init", "-q")
    _git(dest, "add", "-A")
    _git(dest, "commit", "-q", "-m", "scratch")
    return dest


def installed_layout(root: Path, dest: Path) -> Path:
    """The `tuneops` package as installed: a copy following pyproject's package-dir map."""
    package_dir = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-dir"]
    skip = shutil.ignore_patterns("__pycache__")
    shutil.copytree(root / package_dir["tuneops"], dest / "tuneops", ignore=skip)
    for package, folder in package_dir.items():
        if package != "tuneops":
            shutil.copytree(root / folder, dest / "tuneops" / package.removeprefix("tuneops."),
                            ignore=skip)
    return dest


def lint_imports(layout: Path, config: Path) -> subprocess.CompletedProcess:
    """import-linter (`make lint`'s contracts) over the copy, not this checkout."""
    code = ("import sys; sys.path[:0] = [sys.argv.pop(1), sys.argv.pop(1)]; "
            "from importlinter.cli import lint_imports_command; lint_imports_command()")
    return subprocess.run([sys.executable, "-S", "-c", code, str(layout),
                           sysconfig.get_paths()["purelib"], "--no-cache", str(config)],
                          cwd=layout, capture_output=True, text=True, timeout=300)


def add_toy_mode(root: Path) -> None:
    folder = root / "deployments" / "toy"
    folder.mkdir()
    for name, text in (("__init__.py", TOY_INIT), ("mode.py", TOY_MODE),
                       ("backend.py", TOY_BACKEND)):
        (folder / name).write_text(textwrap.dedent(text).lstrip())
    registry = root / REGISTRY
    text = registry.read_text()
    assert text.count(IMPORT_LINE) == 1 and text.count(ENTRY_BEFORE) == 1
    text = text.replace(IMPORT_LINE, IMPORT_LINE.rstrip("\n") + ", toy\n")
    registry.write_text(text.replace(ENTRY_BEFORE, '    "toy": toy.MODE,\n' + ENTRY_BEFORE))


def test_a_builtin_mode_is_one_folder_and_one_registry_line(tmp_path):
    root = scratch_copy(tmp_path / "repo")
    add_toy_mode(root)

    # nothing changed but the new folder and the registry
    status = _git(root, "status", "--porcelain", "--untracked-files=all").splitlines()
    assert sorted(status) == sorted([f" M {REGISTRY}"] + [
        f"?? deployments/toy/{n}" for n in ("__init__.py", "backend.py", "mode.py")]), status
    changed = [line.split("\t") for line in _git(root, "diff", "--numstat").splitlines()]
    assert changed == [["2", "1", REGISTRY]], changed
    diff = [line for line in _git(root, "diff", "-U0", REGISTRY).splitlines()
            if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert diff == ["-" + IMPORT_LINE.rstrip("\n"), "+" + IMPORT_LINE.rstrip("\n") + ", toy",
                    '+    "toy": toy.MODE,'], diff

    # the contracts hold the new folder without an edit to .importlinter: they keep...
    layout = installed_layout(root, tmp_path / "site")
    done = lint_imports(layout, root / ".importlinter")
    assert done.returncode == 0 and "0 broken" in done.stdout, done.stdout[-3000:] + done.stderr
    # ... and break as soon as the new mode leans on another one
    with open(layout / "tuneops" / "deployments" / "toy" / "backend.py", "a") as f:
        f.write("from tuneops.deployments.local import backend as _  # noqa\n")
    done = lint_imports(layout, root / ".importlinter")
    assert done.returncode != 0, done.stdout[-3000:]
    assert ("tuneops.deployments.toy is not allowed to import tuneops.deployments.local"
            in " ".join(done.stdout.split())), done.stdout[-3000:]
    (layout / "tuneops" / "deployments" / "toy" / "backend.py").write_text(
        (root / "deployments" / "toy" / "backend.py").read_text())

    # ... and the copy runs a simulated trial through the new mode, end to end
    marker = uuid.uuid4().hex
    exp_path = h.write_experiment(
        tmp_path, "toy", deployment={"mode": "toy", "toy": {"greeting": "hello"}},
        parameters={"max-running-requests": [8]},
    )
    env = {**os.environ, h.MARKER: marker,
           "TUNEOPS_RUNTIME_DIR": str(tmp_path / "runtime")}
    out = tmp_path / "out"
    try:
        done = subprocess.run(
            [sys.executable, "-S", "-c", DRIVER, str(layout), sysconfig.get_paths()["purelib"],
             str(exp_path), str(out)],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=480)
    finally:
        h.kill_marked(marker)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    [result] = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["status"] == "completed" and result["metrics"], result
    rendered = json.loads((out / "manifests" / "toy" / result["id"] / "toy.json").read_text())
    assert rendered["greeting"] == "hello" and "{port}" in rendered["argv"]
