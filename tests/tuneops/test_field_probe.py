"""Every field of an example, replaced by every hostile value: validate answers with
diagnostics or accepts, and whatever it accepts plans and renders (docker and OME).

A systematic companion to the fuzz test (tests/tuneops/test_fuzz_grammar.py): where the fuzz
mutates text, this walks the document, so every field meets every value class at least
once (null, booleans, int64's ends, the float range's ends, empty and huge text, shell and
template syntax, paths, nested and empty collections, secret references).
"""

from __future__ import annotations

import copy
import json

import pytest
from ruamel.yaml import YAML
from tuneops.renderers.render import render_experiment

from tests.paths import ROOT
from tuneops import errors
from tuneops.plan import make_plan
from tuneops.validate import validate_file

EXAMPLES = ("sim-small", "sglang-ome")
VALUES = [
    None, True, 0, -1, 2**63 - 1, -(2**63), 1e308, -1e308, 5e-324, 0.5, "", " ", "x" * 5000,
    "ünï🚀", "$(HOME)", "'\";|&`", "a\nb", "--x", "0", "1e3", [], [1], [[[]]], {}, {"a": 1},
    {"fromEnv": "X"}, {"secretKeyRef": {"name": "s", "key": "k"}}, "~/x", "../../etc/passwd",
    "a:b", "a,b", "%s%n", "{{x}}", "\\",
]


def _paths(node, path=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, (*path, i))
    if path:
        yield path


@pytest.mark.parametrize("example", EXAMPLES)
def test_every_field_with_every_hostile_value(tmp_path, example):
    source = ROOT / "experiments" / "examples" / f"{example}.yaml"
    base = YAML(typ="safe").load(source.read_text())
    probes = accepted = 0
    for path in list(_paths(base)):
        for value in VALUES:
            doc = copy.deepcopy(base)
            target = doc
            for part in path[:-1]:
                target = target[part]
            target[path[-1]] = value
            file = tmp_path / f"{example}.yaml"
            file.write_text(json.dumps(doc))
            exp, diags = validate_file(file)  # never raises
            probes += 1
            assert (exp is None) == bool(diags)
            if exp is None:
                assert all(d.message for d in diags)
                continue
            accepted += 1
            try:
                make_plan(exp)
                render_experiment(exp, tmp_path / "manifests")
            except errors.UserError as exc:  # validate let it through: that is the bug
                pytest.fail(f"{path} = {value!r:.40}: validate accepted, render refused: {exc}")
    assert probes > 1000 and accepted > 0
