"""Every pattern in the experiment schema matches the whole value, found by walking the schema.

Python's `$` also matches before a final newline, so an anchored pattern written for JSON
Schema (ECMA-262) accepted `name\\n` in 16 fields. Nothing here lists those fields: the
schema is walked, each pattern gets a value it accepts (drawn from the pattern itself), and
that value with a trailing newline, a zero-width space or a line separator must be refused,
both by the pattern alone and in a whole experiment at the field's own place.
"""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, find, settings
from hypothesis import strategies as st

from tuneops import checks_schema, yamlio
from tuneops.validate import validate_document

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "experiments" / "examples").glob("*.yaml"))
# the schema validate uses: the committed one with the modes' blocks and the engine names
SCHEMA = checks_schema.validator().schema
HIDDEN = {"\n": "U+000A (LINE FEED)", "\u200b": "U+200B (ZERO WIDTH SPACE)",
          "\u2028": "U+2028 (LINE SEPARATOR)"}


def patterned(node, path=()):
    """(schema path, schema node) of every node with a `pattern`, in the merged schema."""
    if isinstance(node, dict):
        if "pattern" in node:
            yield path, node
        for key, child in node.items():
            yield from patterned(child, (*path, key))
    elif isinstance(node, list):
        for i, child in enumerate(node):
            yield from patterned(child, (*path, i))


PATTERNED = list(patterned(SCHEMA))
IDS = ["/".join(map(str, p)) for p, _ in PATTERNED]


def accepted_value(node: dict) -> str:
    """A simple text the node's pattern (and length limits) accept, drawn from the pattern."""
    return _accepted(node["pattern"], node.get("minLength", 0), node.get("maxLength", 10**6))


@cache
def _accepted(pattern: str, shortest: int, longest: int) -> str:
    return find(
        st.from_regex(checks_schema.ecma_pattern(pattern), fullmatch=True),
        lambda s: checks_schema.hidden_character(s) is None and shortest <= len(s) < longest,
        settings=settings(database=None, derandomize=True, phases=[Phase.generate],
                          suppress_health_check=list(HealthCheck)),
    )


def test_the_walk_finds_the_anchored_fields():
    # the fields the issue found by hand are among them (a floor, not the list)
    joined = " ".join(IDS)
    for field in ("metadata/properties/name", "engine/properties/image", "env/propertyNames",
                  "fromEnv", "servedName", "docker/properties/ipc", "ome/properties/namespace"):
        assert field in joined
    assert len(PATTERNED) >= 30


@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize(("schema_path", "node"), PATTERNED, ids=IDS)
def test_each_pattern_matches_the_whole_value(schema_path, node, hidden):
    good = accepted_value(node)
    check = checks_schema._Validator(node)
    assert check.is_valid(good), good
    for bad in (good + hidden, hidden + good):
        assert not check.is_valid(bad), (schema_path, bad)


def instance_path(schema_path: tuple) -> tuple:
    """Where a schema node's value sits in an experiment (a oneOf branch: the same place)."""
    out: list = []
    parts = list(schema_path)
    i = 0
    while i < len(parts):
        part = parts[i]
        if part == "properties":
            out.append(parts[i + 1])
            i += 2
            continue
        if part == "items":
            out.append(0)
        elif part in ("additionalProperties", "propertyNames"):
            out.append("<key>" if part == "propertyNames" else "TUNEOPS_PROBE")
        elif part == "oneOf":
            i += 2  # the same instance
            continue
        i += 1
    return tuple(out)


DOCS = [(p, yamlio.to_plain(yamlio.load(p, yamlio.read_text(p)))) for p in EXAMPLES]


def _place(doc: dict, path: tuple, value: str) -> str:
    """Put `value` at `path` (as a key when the last part is <key>), creating the mappings
    and lists on the way that this example lacks; the field path a diagnostic should name."""
    node: dict | list = doc
    for part, after in zip(path[:-1], path[1:], strict=True):
        empty: dict | list = [] if after == 0 else {}
        if isinstance(node, list):
            if not node or not isinstance(node[0], type(empty)):
                node[:] = [empty]
            node = node[0]
        else:
            if not isinstance(node.get(part), type(empty)):
                node[part] = empty
            node = node[part]
    last = path[-1]
    if last == "<key>":
        assert isinstance(node, dict)
        node[value] = next(iter(node.values())) if node else "1"
        return checks_schema.format_path((*path[:-1], value))
    if isinstance(node, list):
        node[:] = [value]
        return checks_schema.format_path((*path[:-1], 0))
    node[last] = value
    return checks_schema.format_path(path)


@pytest.mark.parametrize(("schema_path", "node"), PATTERNED, ids=IDS)
def test_a_trailing_newline_is_refused_at_the_field_in_an_experiment(schema_path, node):
    path = instance_path(schema_path)
    bad = accepted_value(node) + "\n"
    file, plain = DOCS[0]
    doc = copy.deepcopy(plain)
    where = _place(doc, path, bad)
    _, diags = validate_document(doc, str(file), base_dir=file.parent)
    found = [d for d in diags if d.path == where]
    assert found, (where, [str(d) for d in diags])
    assert "U+000A (LINE FEED)" in found[0].message, str(found[0])
