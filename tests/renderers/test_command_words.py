"""The flag renderer word by word, against hand-made catalogs: how each kind of value is
written, when a boolean is a bare flag, when a list repeats its flag, and the fixed order of
an engine's argv. Written to kill what `make mutation MODULES=command` found passing the
render tests."""

from __future__ import annotations

import pytest
from tuneops.renderers.command import args_words, base_words, flag_words, format_value

from tuneops.registry import Catalog, Flag, engines


def flag(name, type_="str", boolean=False, nargs=None, default=None):
    return Flag(name, type_, boolean, None, default, (), nargs)


CAT = Catalog("x", "x", "1", {
    "switch": flag("switch", "bool", boolean=True, default=False),
    "typed-bool": flag("typed-bool", "bool", boolean=False),  # takes a bare flag too
    "text": flag("text", "str"),
    "one": flag("one", "int", nargs=None),
    "maybe": flag("maybe", "int", nargs="?"),
    "many": flag("many", "int", nargs="+"),
}, {"switch": "switch", "typed-bool": "typed-bool", "text": "text", "s": "switch",
    "one": "one", "maybe": "maybe", "many": "many"}, {})


@pytest.mark.parametrize("value,word", [
    (True, "true"), (False, "false"), (0, "0"), (-7, "-7"), (0.5, "0.5"), (1e-07, "1e-07"),
    ({"b": 1, "a": [1, 2]}, '{"a":[1,2],"b":1}'), ([1, "x"], '[1,"x"]'), ((1,), "[1]"),
    ("text", "text"), (None, "None"),
])
def test_format_value(value, word):
    assert format_value(value) == word


@pytest.mark.parametrize("bad", [float("inf"), float("nan")])
def test_non_finite_values_are_refused(bad):
    with pytest.raises(ValueError, match="not a finite number"):
        format_value(bad)


@pytest.mark.parametrize("name,value,words", [
    ("switch", True, ["--switch"]), ("switch", False, []),  # default false: left out
    ("s", True, ["--switch"]),  # an alias is written as the canonical name
    # a bool-typed flag that takes a value (not a store_true switch) gets the word
    ("typed-bool", True, ["--typed-bool", "true"]),
    ("typed-bool", False, ["--typed-bool", "false"]),
    ("text", True, ["--text", "true"]), ("text", False, ["--text", "false"]),
    ("unknown", True, ["--unknown"]), ("unknown", False, []),
    ("--dashed", 3, ["--dashed", "3"]),
    ("many", [1, 2], ["--many", "1", "2"]),
    ("unknown", [1, 2], ["--unknown", "1", "2"]),
    ("many", (3,), ["--many", "3"]),
    ("text", "a b", ["--text", "a b"]),
])
def test_flag_words(name, value, words):
    assert flag_words(name, value, CAT) == words


@pytest.mark.parametrize("name", ["one", "maybe", "switch", "typed-bool"])
def test_a_list_for_a_one_value_flag_is_refused(name):
    """Rule: a list is written only for a flag that takes several values (nargs, append, a
    comma-list); a one-value flag of any type, a switch included, refuses it."""
    with pytest.raises(ValueError, match="takes one value"):
        flag_words(name, [1, 2], CAT)


def test_false_for_a_switch_without_inverse_and_no_false_default_is_refused():
    cat = Catalog("x", "x", "1", {"on": flag("on", "bool", boolean=True)}, {"on": "on"}, {})
    with pytest.raises(ValueError, match="cannot be set false"):
        flag_words("on", False, cat)


def test_a_flag_type_read_from_a_catalog_file_compares_by_value():
    parsed = "".join(["bo", "ol"])  # as json.loads builds it: not the interned literal
    cat = Catalog("x", "x", "1", {"b": flag("b", parsed, boolean=True, default=False)},
                  {"b": "b"}, {})
    assert flag_words("b", True, cat) == ["--b"] and flag_words("b", False, cat) == []


def test_without_a_catalog_booleans_are_bare_and_lists_follow_one_flag():
    assert flag_words("x", True) == ["--x"] and flag_words("x", False) == []
    assert flag_words("x", [1, 2]) == ["--x", "1", "2"]


def test_args_words_are_sorted_by_name():
    args = {"zeta": 1, "alpha": True, "mid": [1, 2], "off": False}
    assert args_words(args) == ["--alpha", "--mid", "1", "2", "--zeta", "1"]
    assert args_words({}) == []


def test_base_words_order_and_positional_model():
    eng = engines()["sglang"]
    words = base_words(eng, model="org/m", served_name="m", host="0.0.0.0", port=30000,
                       local=False)
    assert words == [*eng.command, eng.model_flag, "org/m", eng.served_name_flag, "m",
                     eng.host_flag, "0.0.0.0", eng.port_flag, "30000"]
    local = base_words(eng, model="m", served_name="s", host="h", port="{port}", local=True)
    assert local[:len(eng.local_command)] == list(eng.local_command)
    bare = base_words(eng, model="m", served_name="s", host="h", port=1, local=False, prefix=())
    assert bare[0] == eng.model_flag
    positional = next(e for e in engines().values() if not e.model_flag)  # vllm serve <model>
    got = base_words(positional, model="m", served_name="s", host="h", port=1, local=False,
                     prefix=())
    assert got[:2] == ["m", positional.served_name_flag]


def test_flags_sort_by_canonical_name_not_by_the_spelling_used():
    """Rule: the order is the canonical names' (so `-zb` and `--beta` render the same
    command): sorting by the spelling the experiment used puts `zb`'s flag last."""
    cat = Catalog("x", "x", "1", {"beta": flag("beta", "int"), "mid": flag("mid", "int")},
                  {"beta": "beta", "zb": "beta", "mid": "mid"}, {})
    assert args_words({"zb": 1, "mid": 2}, cat) == ["--beta", "1", "--mid", "2"]
    assert args_words({"mid": 2, "beta": 1}, cat) == args_words({"zb": 1, "mid": 2}, cat)


@pytest.mark.parametrize("value,words", [(1, ["--switch", "1"]), (0, ["--switch", "0"]),
                                         ("yes", ["--switch", "yes"])])
def test_a_switch_given_no_bool_is_not_read_as_one(value, words):
    """Rule: only True/False make a switch bare or left out; any other value is written as
    given, so the engine's own parser refuses it (never silently read as on or off)."""
    assert flag_words("switch", value, CAT) == words


def test_a_comma_list_flag_gets_one_word_even_when_it_appends():
    """Rule: a comma-list flag takes its list as one `a,b` word, whatever its action: the
    type says how the parser reads the word."""
    both = Flag("tags", "comma-list", False, None, None, (), None, "append")
    cat = Catalog("x", "x", "1", {"tags": both}, {"tags": "tags"}, {})
    assert flag_words("tags", ["a", "b"], cat) == ["--tags", "a,b"]
