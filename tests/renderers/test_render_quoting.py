"""Values come out of every renderer inert: YAML scalars, shell words, Kubernetes words."""

from __future__ import annotations

import shlex

import pytest
import yaml
from jinja2.exceptions import SecurityError
from ruamel.yaml import YAML
from tuneops.renderers.quoting import (
    k8s_expand,
    k8s_word,
    shell_line,
    yaml_block,
    yaml_key,
    yaml_scalar,
)
from tuneops.renderers.templating import environment

NASTY = [
    "{{ 7*7 }}",
    "{% raw %}x{% endraw %}",
    "'; rm -rf / #",
    '"double" and \\back\\slash',
    "line one\nline two\r\n\tindented",
    "$(HOME) $HOME ${HOME} `id` $$(X)",
    "yes", "no", "on", "off", "null", "~", "true", "0x10", "1e3", "010", ".inf", "",
    "- not a list", "key: value", "# not a comment", "&anchor", "*alias", "!!python/object",
    "trailing space ", " leading", "colon:", "a: b: c",
    "caf\u00e9 \u4e2d\u6587 \U0001f600",
    "nel\x85 ls\u2028 ps\u2029 bom\ufeff del\x7f nul\x00 bell\x07",
]


def _both_readers(text: str):
    return yaml.safe_load(text), YAML(typ="safe", pure=True).load(text)


@pytest.mark.parametrize("value", NASTY)
def test_yaml_scalar_reads_back_exactly(value):
    text = "v: " + yaml_scalar(value) + "\n"
    assert text.isascii()
    for loaded in _both_readers(text):
        assert loaded == {"v": value}


def test_yaml_block_round_trips_nested_structure_with_nasty_keys_and_values():
    doc = {
        "list": NASTY,
        "map": {v: v for v in NASTY},
        "nested": [{"a": [1, 2.5, True, None, {"b": []}], "c": {}}, [["deep", {"x": "y"}]]],
        "numbers": [0, -1, 3.0, 1e-9, 12345678901234567890],
        "yes": "no",
    }
    text = "root:" + yaml_block(doc, 2) + "\n"
    for loaded in _both_readers(text):
        assert loaded == {"root": doc}
    assert " \n" not in text  # no trailing spaces


def test_keys_are_plain_only_when_unambiguous():
    assert yaml_key("nvidia.com/gpu") == "nvidia.com/gpu"
    assert yaml_key("yes") == '"yes"'
    assert yaml_key("8080") == '"8080"'
    assert yaml_key("a b") == '"a b"'


def test_non_finite_numbers_are_refused():
    with pytest.raises(ValueError):
        yaml_scalar(float("nan"))


@pytest.mark.parametrize(
    "argv",
    [
        NASTY,
        ["~/.cache/hf:/root/.cache:ro", "~", "~/", "~/with space/x", "~user/x", "a~/b"],
        ["--gpus", '"device=0,1"', "--env", "A=b c"],
    ],
)
def test_shell_line_splits_back_to_the_same_argv(argv):
    assert shlex.split(shell_line(argv)) == argv


def test_leading_tilde_is_left_for_the_shell_to_expand():
    line = shell_line(["~/.cache/huggingface:/root/.cache/huggingface:ro"])
    assert line.startswith("~/")  # unquoted: the shell expands it at run time


@pytest.mark.parametrize("value", NASTY)
def test_kubernetes_escaping_survives_variable_expansion(value):
    env = {"HOME": "/root", "X": "expanded", "MODEL_PATH": "/mnt/models"}
    assert k8s_expand(k8s_word(value), env) == value
    assert k8s_expand("$(MODEL_PATH)", env) == "/mnt/models"


def test_template_cannot_print_an_unquoted_value():
    env = environment()
    with pytest.raises(TypeError, match="unquoted"):
        env.from_string("{{ x }}").render(x="{{ 7*7 }}")
    assert env.from_string("{{ x | q }}").render(x="{{ 7*7 }}") == '"{{ 7*7 }}"'


def test_template_is_sandboxed_and_strict():
    env = environment()
    with pytest.raises(SecurityError):
        env.from_string("{{ x.__class__.__mro__ | q }}").render(x="")
    with pytest.raises(Exception, match="undefined"):
        env.from_string("{{ missing | q }}").render()


def test_pretty_json_is_byte_identical_to_the_standard_library():
    import json

    from tuneops.renderers.quoting import json_pretty

    doc = {"b": [1, 2.5, True, None, {"z": [], "a": {}}], "a": NASTY}
    doc["c"] = {v: [[v]] for v in NASTY}
    assert json_pretty(doc) == json.dumps(doc, indent=2, sort_keys=True)
