"""Deployment modes are plug-ins read from one registry, and the runner launches exactly
what `tuneops render` committed to manifests/.

The toy-mode test installs nothing and edits no file of tuneops: it writes a package and
its entry point (a ``*.dist-info`` folder, as pip would) into tmp_path, puts that folder on
sys.path, and runs a trial of the simulator through the new mode end to end.
"""

from __future__ import annotations

import json
import textwrap
import uuid
from pathlib import Path

import pytest
from tuneops.deployments import registry as registry_of_modes
from tuneops.renderers.render import SHARED, launch_objects, mode_of, read_file
from tuneops.runner.bench import local_path
from tuneops.runner.results import COMPLETED
from tuneops.runner.run import RunOptions, run_experiment, trial_launch

from tests import e2e_helpers as h
from tests.paths import ROOT
from tuneops import checks_schema, cli, registry, schemas
from tuneops.plan import make_plan
from tuneops.validate import load_experiment

REPO = ROOT
EXAMPLES = sorted((REPO / "experiments" / "examples").glob("*.y*ml"))


def test_the_registry_feeds_the_schema_and_the_cli():
    modes = registry_of_modes.deployment_modes()
    assert set(modes) == set(registry_of_modes.BUILTIN_MODES) == {"docker", "local", "ome"}
    schema = checks_schema.validator().schema
    deployment = schema["properties"]["deployment"]["properties"]
    assert deployment["mode"]["enum"] == sorted(modes)
    for name, mode in modes.items():
        assert mode.name == name
        if mode.options_schema is not None:
            assert deployment[name] == mode.options_schema
    # the committed schema is the composition for the built-in modes (make docs rewrites it)
    committed = schemas.load_json("experiment.schema.json")
    builtin = registry_of_modes.BUILTIN_MODES
    assert registry.experiment_schema(committed, builtin, with_engine_names=False) == committed
    reap = cli.build_parser()._subparsers._group_actions[0].choices["reap"]
    [backends] = [a for a in reap._actions if a.dest == "backends"]
    assert list(backends.choices) == sorted(modes)


def _committed_objects(folder: Path, trial_id: str) -> dict:
    """A trial's rendered objects read back from manifests/, shared ones as _shared/<file>."""
    out = {p.name: read_file(p.name, p.read_text()) for p in (folder / trial_id).iterdir()}
    if (folder / SHARED).is_dir():
        out |= {f"{SHARED}/{p.name}": read_file(p.name, p.read_text())
                for p in (folder / SHARED).iterdir()}
    return out


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_the_runner_launches_what_manifests_shows(path, tmp_path):
    """For every trial with a folder in manifests/, the launch the runner builds equals the
    one derived from the committed files: same objects, same command, env and spec."""
    exp = load_experiment(path)
    folder = REPO / "manifests" / exp.name
    trials = [t for t in make_plan(exp).trials if (folder / t.id).is_dir()]
    assert trials, f"nothing of {exp.name} is committed in manifests/"
    mode = mode_of(exp)
    for trial in trials:
        committed = _committed_objects(folder, trial.id)
        assert committed == json.loads(json.dumps(launch_objects(exp, trial))), trial.id
        launch = trial_launch(exp, trial, owner="o/r", gpus=(), log_dir=tmp_path)
        from_files = mode.launch(exp, trial, committed, resolve=lambda p: local_path(exp, p))
        assert (launch.command, launch.env, launch.container_port) == (
            from_files.command, from_files.env, from_files.container_port)
        assert json.loads(json.dumps(dict(launch.spec))) == json.loads(
            json.dumps(dict(from_files.spec)))


TOY_PACKAGE = '''
"""A deployment mode that is not part of tuneops: the simulator as a local process,
started through a backend of its own and rendered as toy.json."""
import sys

from tuneops.deployments.base import PORT_PLACEHOLDER, DeploymentMode, LaunchPlan
from tuneops.renderers.command import engine_command
from tuneops.deployments.local.backend import LocalBackend


class ToyBackend(LocalBackend):
    name = "toy"


class ToyMode(DeploymentMode):
    name = "toy"
    description = "a toy mode from a plug-in package"
    options_schema = {"type": "object", "description": "Options for mode toy.",
                      "additionalProperties": False,
                      "properties": {"greeting": {"type": "string", "description": "Hi."}}}
    runs_image = False
    backend = ToyBackend  # a plug-in is one module: its backend is its own class

    def trial_objects(self, exp, trial):
        argv = engine_command(exp, trial.args, host="127.0.0.1", port=PORT_PLACEHOLDER,
                              local=True)
        return {"toy.json": {"argv": argv, "greeting": exp.deployment.options["greeting"]}}

    def launch(self, exp, trial, objects, resolve):
        argv = list(objects["toy.json"]["argv"])
        argv[0] = sys.executable
        return LaunchPlan(command=argv, env=dict(exp.engine.env), container_port=30000)
'''


@pytest.fixture
def toy_mode(tmp_path, monkeypatch):
    site = tmp_path / "site"
    (site / "toy_mode").mkdir(parents=True)
    (site / "toy_mode" / "__init__.py").write_text(textwrap.dedent(TOY_PACKAGE))
    info = site / "toy_mode-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-mode\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[tuneops.deployments]\ntoy = toy_mode:ToyMode\n")
    monkeypatch.syspath_prepend(str(site))
    caches = (registry_of_modes.deployment_modes, checks_schema.validator)
    for cached in caches:
        cached.cache_clear()
    yield
    for cached in caches:
        cached.cache_clear()


@pytest.mark.genai_bench
@pytest.mark.slow
def test_a_mode_from_a_plugin_package_runs_a_trial(toy_mode, tmp_path, monkeypatch, capsys):
    marker = uuid.uuid4().hex
    monkeypatch.setenv(h.MARKER, marker)
    monkeypatch.setenv("TUNEOPS_RUNTIME_DIR", str(tmp_path / "runtime"))
    path = h.write_experiment(
        tmp_path, "toy", deployment={"mode": "toy", "toy": {"greeting": "hello"}},
        parameters={"max-running-requests": [8]},
    )
    assert "toy" in registry_of_modes.deployment_modes()
    try:
        assert cli.main(["validate", str(path)]) == 0
        assert cli.main(["render", str(path), "--out", str(tmp_path / "manifests")]) == 0
        exp = load_experiment(path)
        [trial] = make_plan(exp).trials
        rendered = json.loads((tmp_path / "manifests" / "toy" / trial.id / "toy.json").read_text())
        assert rendered["greeting"] == "hello" and "{port}" in rendered["argv"]
        summary = run_experiment(exp, RunOptions(runs_root=tmp_path / "runs",
                                                 reports_root=tmp_path / "reports", quiet=True))
    finally:
        h.kill_marked(marker)
    [result] = summary.results
    assert result.status == COMPLETED, result
    assert result.metrics, "the trial was measured"
    # a mode that is not registered is still an exit-2 error with the registry's choices
    bad = h.write_experiment(tmp_path, "nomode", deployment={"mode": "tyo"})
    assert cli.main(["validate", str(bad)]) == 2
    assert "toy" in capsys.readouterr().err
