"""Quoting as round trips, for any value hypothesis can think of: what renderers/quoting.py
writes reads back as exactly what went in, with a YAML 1.1 reader (PyYAML, where `Yes` and
`ON` are booleans) and a YAML 1.2 one (ruamel), with the shell's word splitting and with
Kubernetes' `$(VAR)` expansion. Plus the exact bytes of the cases mutation testing found
unpinned (`make mutation MODULES=quoting`)."""

from __future__ import annotations

import json
import shlex

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from ruamel.yaml import YAML
from tuneops.renderers import quoting

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**18, 10**18),
                    st.floats(allow_nan=False, allow_infinity=False), text)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(text, inner, max_size=4)), max_leaves=12)
YAML_WORDS = ["y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON",
              "off", "Off", "OFF", "true", "True", "TRUE", "false", "False", "FALSE",
              "null", "Null", "NULL"]


def _ruamel(doc: str):
    return YAML(typ="safe", pure=True).load(doc)


def _tuples_to_lists(value):
    if isinstance(value, (list, tuple)):
        return [_tuples_to_lists(v) for v in value]
    if isinstance(value, dict):
        return {k: _tuples_to_lists(v) for k, v in value.items()}
    return value


@given(value=st.dictionaries(text, values, min_size=1, max_size=5))
def test_yaml_block_reads_back_the_same_in_yaml_1_1_and_1_2(value):
    doc = "root:" + quoting.yaml_block(value, 2) + "\n"
    assert yaml.safe_load(doc) == {"root": value}
    assert _ruamel(doc) == {"root": value}


@given(value=st.lists(st.one_of(values, st.dictionaries(text, values, min_size=1, max_size=3)),
                      max_size=4))
def test_yaml_lists_of_mappings_read_back(value):
    doc = "root:" + quoting.yaml_block(value, 0) + "\n"
    assert yaml.safe_load(doc) == {"root": value}


@pytest.mark.parametrize("word", YAML_WORDS)
def test_keys_yaml_1_1_reads_as_booleans_or_null_are_quoted(word):
    assert quoting.yaml_key(word) == f'"{word}"'
    doc = "m:" + quoting.yaml_block({word: 1}, 2) + "\n"
    assert yaml.safe_load(doc) == {"m": {word: 1}}


@pytest.mark.parametrize("key,written", [
    ("plain_key", "plain_key"), ("a.b/c-d", "a.b/c-d"), ("_x9", "_x9"),
    ("9lives", '"9lives"'), ("has space", '"has space"'), ("", '""'), ("-x", '"-x"'),
    ("yess", "yess"), ("only", "only"), ("k:v", '"k:v"'), ("#c", '"#c"'),
])
def test_key_quoting(key, written):
    assert quoting.yaml_key(key) == written


@pytest.mark.parametrize("value,written", [
    ("plain", '"plain"'), ('q"uote', '"q\\"uote"'), ("back\\slash", '"back\\\\slash"'),
    ("nl\nx", '"nl\\nx"'), ("tab\t", '"tab\\t"'), ("cr\r", '"cr\\r"'), ("nul\0", '"nul\\0"'),
    ("~", '"~"'), ("\x7f", '"\\x7f"'), ("é", '"\\xe9"'), ("\xff", '"\\xff"'),
    ("\u0100", '"\\u0100"'), ("€", '"\\u20ac"'), ("\uffff", '"\\uffff"'),
    ("😀", '"\\U0001f600"'), ("\x1f", '"\\x1f"'), (" ", '" "'),
])
def test_yaml_string_bytes(value, written):
    assert quoting.yaml_string(value) == written
    assert yaml.safe_load(written) == value


@pytest.mark.parametrize("value,written", [
    (None, "null"), (True, "true"), (False, "false"), (0, "0"), (-3, "-3"),
    (1.5, "1.5"), (1e-09, "1.0e-09"), (1e100, "1.0e+100"), (2.5e-07, "2.5e-07"), ("1", '"1"'),
])
def test_yaml_scalar_bytes(value, written):
    assert quoting.yaml_scalar(value) == written
    assert yaml.safe_load(written) == value


@pytest.mark.parametrize("bad", [float("inf"), float("-inf"), float("nan")])
def test_non_finite_numbers_are_refused(bad):
    with pytest.raises(ValueError, match="non-finite"):
        quoting.yaml_scalar(bad)


def test_other_types_are_refused():
    with pytest.raises(TypeError, match="not a YAML scalar: set"):
        quoting.yaml_scalar({1})


def test_block_layout():
    got = quoting.yaml_block({"a": [1, {"b": "x", "c": []}], "d": {}, "e": {"f": None}}, 2)
    assert got == ('\n  a:\n    - 1\n    - b: "x"\n      c: []\n  d: {}\n  e:\n    f: null')
    assert quoting.yaml_block([], 4) == " []" and quoting.yaml_block("s", 4) == ' "s"'
    assert quoting.yaml_block([[1, 2]], 0) == "\n-\n  - 1\n  - 2"
    assert quoting.yaml_block(("t",), 0) == '\n- "t"'


@given(value=values)
def test_json_pretty_is_json_dumps_indent_2_sorted(value):
    assert quoting.json_pretty(value) == json.dumps(value, indent=2, sort_keys=True)


def test_json_pretty_of_tuples_and_non_string_keys():
    assert quoting.json_pretty({"b": (1, "x"), "a": {}, "c": []}) == json.dumps(
        {"b": [1, "x"], "a": {}, "c": []}, indent=2, sort_keys=True)
    assert quoting.json_pretty({2: [], 1: ()}) == '{\n  "1": [],\n  "2": []\n}'



@given(argv=st.lists(st.text(st.characters(blacklist_categories=("Cs",),
                                           blacklist_characters="\0"), max_size=20),
                     max_size=6))
def test_shell_line_splits_back_into_the_words(argv):
    assert shlex.split(quoting.shell_line(argv)) == argv


@pytest.mark.parametrize("word,written", [
    ("~", "~"), ("~/", "~/"), ("~/models/a b", "~/'models/a b'"), ("~/x", "~/x"),
    ("~user", "'~user'"), ("a b", "'a b'"), ("", "''"), ("$(x)", "'$(x)'"), ("ok", "ok"),
])
def test_shell_word(word, written):
    assert quoting.shell_word(word) == written
    assert shlex.split(written) == [word]


@given(word=text, env=st.dictionaries(st.from_regex(r"[A-Z_]{1,5}", fullmatch=True), text))
def test_k8s_word_survives_kubernetes_expansion(word, env):
    assert quoting.k8s_expand(quoting.k8s_word(word), env) == word


@pytest.mark.parametrize("word,expanded", [
    ("$(A)", "1"), ("x$(A)y", "x1y"), ("$(B)", "$(B)"), ("$$(A)", "$(A)"), ("$$", "$"),
    ("$(A", "$(A"), ("$", "$"), ("a$", "a$"), ("$(A)$(A)", "11"), ("$x", "$x"),
])
def test_k8s_expand(word, expanded):
    assert quoting.k8s_expand(word, {"A": "1"}) == expanded


@pytest.mark.parametrize("value,written", [
    # the escaping path (a string with one special character) keeps printable ASCII plain,
    # from space to tilde
    ("a b~\n", '"a b~\\n"'), (" !\t", '" !\\t"'), ("}~\x7f", '"}~\\x7f"'),
    ("\x1f ", '"\\x1f "'), ("\xfe\u0100", '"\\xfe\\u0100"'), ("\U00010000", '"\\U00010000"'),
])
def test_escaping_path_bytes(value, written):
    assert quoting.yaml_string(value) == written
    assert yaml.safe_load(written) == value


@pytest.mark.parametrize("indent", [0, 3, 4])
def test_block_layout_at_other_indents(indent):
    pad = " " * indent
    got = quoting.yaml_block({"a": [1, {"b": "x", "c": [2]}, [3]]}, indent)
    assert got == (f"\n{pad}a:\n{pad}  - 1\n{pad}  - b: \"x\"\n{pad}    c:\n{pad}      - 2"
                   f"\n{pad}  -\n{pad}    - 3")
    assert yaml.safe_load("root:" + quoting.yaml_block({"a": [{"b": [1]}]}, indent + 2)) == {
        "root": {"a": [{"b": [1]}]}}


@pytest.mark.parametrize("word,expanded", [
    ("$!", "$!"), ("$#x", "$#x"), ("$(B)y", "$(B)y"), ("a(A)", "a(A)"), ("x)$(A)", "x)1"),
    ("$(A)b)", "1b)"),
    ("$" * 301, "$" * 151), ("y" * 300 + "$(A)", "y" * 300 + "1"),
])
def test_k8s_expand_edges(word, expanded):
    assert quoting.k8s_expand(word, {"A": "1"}) == expanded
