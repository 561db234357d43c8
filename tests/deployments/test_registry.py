"""The registry of modes is the only way in, and it is an import import-linter can see.

Modes and their backends used to be loaded from ``"module:Class"`` strings (the registry
from below the modes, the runner for backends), which hid two upward dependencies from
the layer contracts. These tests keep that from coming back: no module of tuneops imports
by name, and every mode's backend is a class joined to it, not a string.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from tuneops.deployments import registry
from tuneops.deployments.base import DeploymentMode

REPO = Path(__file__).resolve().parents[2]
PACKAGE_DIRS = ("tuneops", "runner", "renderers", "deployments", "engines", "schemas", "assets")
# Loading code by a name is how a plug-in comes in, and only there: the registry's entry
# points. Anything else calling these would hide a dependency from .importlinter.
BY_NAME = {"import_module", "__import__", "spec_from_file_location", "entry_points"}
ALLOWED = {
    ("deployments/registry.py", "entry_points"),
    # the warm AIPerf parent runs in AIPerf's own venv and never imports tuneops: it preloads
    # the modules AIPerf's plugin registry (aiperf/plugin/plugins.yaml) names, by name
    ("runner/loadgen/aiperf_warm.py", "import_module"),
}


def _calls_by_name(path: Path) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in BY_NAME:
                found.append((name, node.lineno))
    return found


def test_nothing_in_tuneops_imports_code_by_a_name():
    offenders = []
    for folder in PACKAGE_DIRS:
        for path in sorted((REPO / folder).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            offenders += [f"{rel}:{line} {name}()" for name, line in _calls_by_name(path)
                          if (rel, name) not in ALLOWED]
    assert offenders == []


def test_the_scan_finds_a_call_by_name(tmp_path):
    """The scan above can fail: both spellings of loading by name are caught."""
    probe = tmp_path / "probe.py"
    probe.write_text("import importlib\nm = importlib.import_module('x')\nn = __import__('y')\n")
    assert _calls_by_name(probe) == [("import_module", 2), ("__import__", 3)]


@pytest.mark.parametrize("name", sorted(registry.BUILTIN_MODES))
def test_every_builtin_mode_comes_with_its_backend_class(name):
    mode = registry.BUILTIN_MODES[name]
    assert isinstance(mode, DeploymentMode) and mode.name == name
    assert isinstance(mode.backend, type), mode.backend
    assert mode.backend.name == name  # the backend a mode runs is the one of its own folder
    assert mode.backend.__module__ == f"tuneops.deployments.{name}.backend"


def test_local_ships_its_winner_with_the_docker_mode_it_was_given():
    local = registry.BUILTIN_MODES["local"]
    assert local.container is registry.BUILTIN_MODES["docker"]


def test_a_plugin_whose_backend_is_still_a_string_is_refused(monkeypatch):
    """The old plug-in API (``backend = "module:Class"``) fails loudly, naming the fix,
    instead of being looked up by name."""

    class OldMode(DeploymentMode):
        name = "old"
        description = "an old-style plug-in"
        backend = "old_mode:OldBackend"

    class EntryPoint:
        name, value = "old", "old_mode:OldMode"

        def load(self):
            return OldMode

    monkeypatch.setattr(registry, "entry_points", lambda group: [EntryPoint()])
    registry.deployment_modes.cache_clear()
    try:
        with pytest.raises(ValueError, match="must be its backend class"):
            registry.deployment_modes()
    finally:
        registry.deployment_modes.cache_clear()
