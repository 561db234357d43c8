"""The libyaml-based loader reads experiments exactly as ruamel.yaml's YAML 1.2 loader did.

Experiments were read with ruamel.yaml (YAML 1.2) until parsing a 1 MB file took seconds;
they are now parsed by libyaml and composed by tuneops.yamlnodes. Every check here holds
the new loader against ruamel.yaml itself (the real library, not a table written here):
the tag and value of each scalar, and the line and column of every key, value and item.
"""

from __future__ import annotations

import gc
import io
from pathlib import Path

import pytest
import yaml
from ruamel.yaml import YAML
from ruamel.yaml.resolver import VersionedResolver

from tuneops import yamlio, yamlnodes
from tuneops.errors import UserError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "experiments" / "examples").glob("*.yaml"))
# The spellings where YAML 1.1 and 1.2 disagree, and the ones each resolver row matches.
SCALARS = [
    "yes", "no", "Yes", "NO", "on", "off", "On", "OFF", "y", "n", "Y", "N", "true", "True",
    "TRUE", "tRUE", "false", "False", "FALSE", "0o17", "017", "08", "0x1F", "0x1f", "0b101",
    "-0b11", "+12", "-0", "1_000", "1__0", "_1", "1:30", "190:20:30", "1:30.5", "1e3", "1E3",
    "1.5e-3", ".5", "-.5", "+.5e+3", "1.", "6.8523015e+5", "685.230_15e+03", "~", "null",
    "Null", "NULL", "nULL", "=", "<<x", "2001-12-14", "2001-12-14t21:59:43.10-05:00",
    "2001-12-14 21:59:43.10 -5", "12:30:45", "0.", "00", "+", ".", "0x", "x1", "1x",
]


def _ruamel_tag(value: str) -> str:
    resolver = VersionedResolver(version=(1, 2))
    from ruamel.yaml.nodes import ScalarNode

    return str(resolver.resolve(ScalarNode, value, (True, False)))


@pytest.mark.parametrize("value", SCALARS)
def test_plain_scalars_resolve_as_ruamel_yaml_1_2_does(value: str):
    assert yamlnodes.resolve(value) == _ruamel_tag(value)


@pytest.mark.parametrize("value", [v for v in SCALARS if _ruamel_tag(v).endswith(
    ("int", "float", "bool", "null", "str"))])
def test_plain_scalars_load_to_ruamel_yaml_1_2_values(value: str, tmp_path: Path):
    text = f"key: {value}\nlist: [{value}]\n"
    path = tmp_path / "s.yaml"
    path.write_text(text)
    theirs = YAML(typ="safe", pure=True).load(text)  # ruamel's default: YAML 1.2
    ours = yamlio.to_plain(yamlio.load(path))
    assert ours == theirs
    assert type(ours["key"]) is type(theirs["key"])


def test_yaml_1_1_spellings_are_text_and_octal_is_0o(tmp_path: Path):
    path = tmp_path / "s.yaml"
    path.write_text("a: yes\nb: off\nc: 0o17\nd: 017\ne: 1:30\nf: 1_000\n")
    assert yamlio.to_plain(yamlio.load(path)) == {
        "a": "yes", "b": "off", "c": 15, "d": 17, "e": "1:30", "f": 1000,
    }


def test_a_yaml_1_1_directive_is_refused_not_obeyed(tmp_path: Path):
    """ruamel.yaml switched to YAML 1.1 there (`yes` a boolean); tuneops reads 1.2 only."""
    path = tmp_path / "s.yaml"
    path.write_text("%YAML 1.1\n---\na: yes\n")
    with pytest.raises(UserError) as caught:
        yamlio.load(path)
    (diag,) = caught.value.diagnostics
    assert diag.message == "the %YAML 1.1 directive is not supported"
    assert (diag.line, diag.column) == (1, 1)
    assert "YAML 1.2" in diag.hint


def test_a_yaml_2_directive_is_refused_by_libyaml_itself(tmp_path: Path):
    path = tmp_path / "s.yaml"
    path.write_text("%YAML 2.0\n---\na: yes\n")
    with pytest.raises(UserError) as caught:
        yamlio.load(path)
    assert caught.value.diagnostics[0].message.startswith("YAML syntax error: ")


def test_a_yaml_1_2_directive_is_accepted(tmp_path: Path):
    path = tmp_path / "s.yaml"
    path.write_text("%YAML 1.2\n---\na: yes\n")
    assert yamlio.to_plain(yamlio.load(path)) == {"a": "yes"}


def _positions(node, ruamel_node, path=()):
    """Pairs (ours, ruamel's) of 0-based positions of every key, value and item."""
    if isinstance(ruamel_node, dict):
        for key in ruamel_node:
            yield path + (key, "key"), node.lc.key(key), tuple(ruamel_node.lc.key(key))
            yield path + (key, "value"), node.lc.value(key), tuple(ruamel_node.lc.value(key))
            yield from _positions(node[key], ruamel_node[key], path + (key,))
    elif isinstance(ruamel_node, list):
        for i, item in enumerate(ruamel_node):
            yield path + (i,), node.lc.item(i), tuple(ruamel_node.lc.item(i))
            yield from _positions(node[i], item, path + (i,))


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_every_position_is_the_one_ruamel_yaml_records(example: Path):
    ours = yamlio.load(example)
    theirs = YAML(typ="rt").load(example.read_text())
    pairs = list(_positions(ours, theirs))
    assert len(pairs) > 50
    wrong = [(where, a, b) for where, a, b in pairs if a != b]
    assert wrong == []
    assert yamlio.to_plain(ours) == yamlio.to_plain(theirs)


def test_without_libyaml_the_pure_parser_gives_the_same_document(monkeypatch):
    example = EXAMPLES[0]
    with_libyaml = yamlio.load(example)
    monkeypatch.setattr(yamlnodes, "_Parser", yaml.SafeLoader)
    monkeypatch.setattr(yamlnodes, "LIBYAML", False)
    pure = yamlio.load(example)
    assert pure == with_libyaml
    assert list(_positions(pure, with_libyaml)) == list(_positions(with_libyaml, with_libyaml))


def test_aliased_collections_are_built_once_and_shared(tmp_path: Path):
    path = tmp_path / "s.yaml"
    path.write_text("a: &x {k: [1, 2]}\nb: *x\n")
    doc = yamlio.load(path)
    assert doc["a"] is doc["b"] and doc["a"] == {"k": [1, 2]}


@pytest.mark.parametrize("text", ["a: 1\n", "a: [\n", "a: 1\na: 2\n"])
def test_the_garbage_collector_runs_again_after_a_load(text: str, tmp_path: Path):
    path = tmp_path / "s.yaml"
    path.write_text(text)
    assert gc.isenabled()
    try:
        yamlio.load(path)
    except UserError:
        pass
    assert gc.isenabled()


def test_json_escaped_surrogate_pairs_join_although_libyaml_refuses_them(tmp_path: Path):
    path = tmp_path / "s.yaml"
    path.write_text('{"a": "\\ud83d\\ude80"}\n')
    with pytest.raises(yaml.YAMLError):  # why yamlnodes falls back to the pure parser
        yamlnodes._compose_with(yamlnodes._Parser, path.read_text(), 32)
    assert yamlio.to_plain(yamlio.load(path)) == {"a": "\U0001f680"}


def test_the_loader_never_reaches_ruamel_yaml():
    source = io.StringIO((ROOT / "tuneops" / "yamlio.py").read_text()
                         + (ROOT / "tuneops" / "yamlnodes.py").read_text())
    imports = [ln for ln in source if ln.startswith(("import ", "from "))]
    assert imports and not [ln for ln in imports if "ruamel" in ln]
