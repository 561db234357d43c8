"""Fuzzing the two grammars hostile input reaches: YAML and constraint expressions.

Whatever the text, `tuneops validate` answers 0 (valid) or 2 (a diagnostic), never 3 (a
crash), and never hangs. Three generators: mutations of the shipped examples (tokens of
YAML's grammar spliced in at random places: anchors, aliases, merge keys, tags, flow
brackets, odd scalars), whole documents built from a recursive YAML-ish grammar, and token
soup from the expression grammar, both parsed directly and placed into an experiment.

Bounded for CI by `max_examples` (EXAMPLES_PER_PASS in all, derandomized: the same
examples every pass) and a generous per-example deadline: a hang or a quadratic blow-up
fails the test instead of stalling CI. For a deeper hunt on a quiet machine,
TUNEOPS_FUZZ_SCALE=10 multiplies every count and draws fresh random examples.
"""

from __future__ import annotations

import datetime
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tuneops.renderers.render import render_experiment

from tests.paths import ROOT
from tuneops import cli, expr
from tuneops.validate import validate_file

SCALE = int(os.environ.get("TUNEOPS_FUZZ_SCALE", "1"))
EXAMPLE_FILES = sorted((ROOT / "experiments" / "examples").glob("*.yaml"))  # the seeds
MUTATION_EXAMPLES = 400 * SCALE
DOCUMENT_EXAMPLES = 300 * SCALE
EXPRESSION_EXAMPLES = 1000 * SCALE
EXPRESSION_IN_FILE_EXAMPLES = 100 * SCALE
EXAMPLES_PER_PASS = (
    MUTATION_EXAMPLES + DOCUMENT_EXAMPLES + EXPRESSION_EXAMPLES + EXPRESSION_IN_FILE_EXAMPLES
)
_SETTINGS = dict(
    deadline=datetime.timedelta(seconds=20), derandomize=SCALE == 1, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.filter_too_much],
)
pytestmark = pytest.mark.timeout(900)

YAML_TOKENS = [
    "[", "]", "{", "}", ",", ": ", "- ", "? ", "&a ", "*a", "<<: *a", "!!int ", "!!float ",
    "!!str ", "!!binary ", "!!set ", "!!omap ", "!custom ", "|\n  ", ">-\n  ", "'", '"', "\\",
    "#", "\n", "\t", "  ", "---\n", "...\n", "%YAML 1.1\n", ".nan", "-.inf", "1e999",
    "0x" + "f" * 30, "9" * 30, "~", "null", "yes", "on", "2001-12-14t21:59:43.10-05:00",
    "\"\\ud800\"", "\"\\0\"", "\u00e9", "\U0001f680", "\ufeff", "\x85", "\u2028", "=",
    "hf_" + "a" * 30, "{fromEnv: X}", "{secretKeyRef: {name: a, key: b}}",
]
SCALARS = st.one_of(
    st.sampled_from(["1", "-0", ".5", "1e3", "0o17", "true", "~", "''", '""', "x y", "D(1,1)",
                     "tuneops/v1", "Experiment", "sglang", "docker", "grid", ".inf", "1_000"]),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=12).map(repr),
)


def _validate_text(tmp_path, text: str, capsys) -> int:
    path = tmp_path / "fuzz.yaml"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    code = cli.main(["validate", str(path)])
    out = capsys.readouterr()
    assert code in (0, 2), out.err
    assert "internal error" not in out.err
    return code


@st.composite
def mutated_example(draw) -> str:
    text = draw(st.sampled_from(EXAMPLE_FILES)).read_text()
    for _ in range(draw(st.integers(1, 8))):
        at = draw(st.integers(0, len(text)))
        if draw(st.booleans()):
            text = text[:at] + draw(st.sampled_from(YAML_TOKENS)) + text[at:]
        else:
            text = text[:at] + text[at + draw(st.integers(1, 20)):]
    return text


def _node(children):
    return st.one_of(
        st.lists(children, max_size=4).map(lambda xs: "[" + ", ".join(xs) + "]"),
        st.dictionaries(SCALARS, children, max_size=4).map(
            lambda d: "{" + ", ".join(f"{k}: {v}" for k, v in d.items()) + "}"
        ),
        st.tuples(st.sampled_from(["&a ", "&b ", "!!str ", "!!int ", "!!seq ", ""]), children)
        .map("".join),
    )


DOCUMENTS = st.dictionaries(
    st.sampled_from(["apiVersion", "kind", "metadata", "model", "engine", "deployment",
                     "parameters", "constraints", "benchmark", "objective", "slos", "search",
                     "x", "*a", "<<"]),
    st.recursive(st.one_of(SCALARS, st.sampled_from(["*a", "*b"])), _node, max_leaves=30),
    max_size=12,
).map(lambda d: "".join(f"{k}: {v}\n" for k, v in d.items()))

EXPR_TOKENS = [
    "a", "b", "tp-size", "gpus", "not", "and", "or", "in", "true", "false", "min", "max",
    "abs", "pow", "(", ")", ",", "+", "-", "*", "/", "//", "%", "<", "<=", ">", ">=", "==",
    "!=", "0", "1", "2.5", "1e308", "9" * 19, "9" * 40, ".5", "'x'", '"%0999d"', "'", "__import__",
    "[", "]", ".", "**", "lambda", "\\", "\u00e9", " ",
]
EXPRESSIONS = st.lists(st.sampled_from(EXPR_TOKENS), min_size=1, max_size=60).map(" ".join)


@settings(max_examples=MUTATION_EXAMPLES, **_SETTINGS)
@given(text=mutated_example())
def test_mutated_examples_exit_0_or_2(tmp_path_factory, capsys, text):
    tmp = tmp_path_factory.mktemp("m")
    if _validate_text(tmp, text, capsys) == 0:  # still valid: it must render too
        exp, _ = validate_file(tmp / "fuzz.yaml")
        render_experiment(exp, tmp / "manifests")


@settings(max_examples=DOCUMENT_EXAMPLES, **_SETTINGS)
@given(text=DOCUMENTS)
def test_generated_documents_exit_0_or_2(tmp_path_factory, capsys, text):
    assert _validate_text(tmp_path_factory.mktemp("d"), text, capsys) == 2


@settings(max_examples=EXPRESSION_EXAMPLES, **_SETTINGS)
@given(text=EXPRESSIONS, a=st.one_of(st.integers(-10**18, 10**18), st.floats(), st.text()),
       b=st.one_of(st.integers(), st.booleans(), st.just("x" * 10)))
def test_expressions_parse_or_fail_with_expr_error(text, a, b):
    try:
        parsed = expr.parse(text)
        parsed.evaluate({"a": a, "b": b, "tp-size": 2, "gpus": 8})
    except expr.ExprError as exc:
        assert exc.message
        assert 0 <= exc.column <= len(text) + expr.MAX_LENGTH + 1


@settings(max_examples=EXPRESSION_IN_FILE_EXAMPLES, **_SETTINGS)
@given(text=EXPRESSIONS)
def test_expressions_in_an_experiment_exit_0_or_2(tmp_path_factory, capsys, text):
    example = next(p for p in EXAMPLE_FILES if p.stem == "sim-small").read_text()
    quoted = text.replace("\\", "\\\\").replace('"', '\\"')
    doc = example.replace("search:\n", f'constraints:\n  - "{quoted}"\n\nsearch:\n', 1)
    tmp = tmp_path_factory.mktemp("e")
    _validate_text(tmp, doc, capsys)
    _, diags = validate_file(tmp / "fuzz.yaml")
    assert all(d.line > 0 for d in diags)  # every problem is located
