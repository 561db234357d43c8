"""Per-mutant test selection in `make mutation` (scripts/mutation_select.py): the tests that
execute a mutated line run first, and selection never changes an outcome, because a mutant
they let through is judged by the module's full test set."""

from __future__ import annotations

import importlib.util
import os
import sys
import textwrap

from tests.paths import ROOT


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


select = _load("mutation_select")
mutation = _load("mutation")

SOURCE = textwrap.dedent('''\
    LIMIT = 3


    def clip(x, low=0):
        if x < low:
            return low
        return min(x,
                   LIMIT)
    ''')


def test_a_line_inside_a_multi_line_statement_maps_to_the_whole_statement():
    """A tracer may report a multi-line statement on its first line only: the mutant on
    the second line must find the tests that ran the first."""
    assert select.statement_lines(SOURCE, 8, 8) == {7, 8}


def test_a_compound_statement_owns_its_header_not_its_body():
    """A mutant in `if x < low:` is selected by the tests that evaluated the condition,
    not by every test that ran the function; a `def` line (its defaults) is its own."""
    assert select.statement_lines(SOURCE, 5, 5) == {5}
    assert select.statement_lines(SOURCE, 4, 4) == {4}


def test_changed_lines_spans_every_line_a_mutation_touched():
    before = "a\nb\nc\nd\n"
    assert select.changed_lines(before, "a\nB\nc\nd\n") == (2, 2)
    assert select.changed_lines(before, "a\nc\nb\nd\n") == (2, 3)  # two checks swapped
    assert select.changed_lines(before, "a\nb\nc\nd\nx\n") == (5, 5)  # a line appended


def test_tests_for_keeps_the_full_runs_order_and_falls_back_to_the_full_set():
    """Node ids come back in the full run's order (with -x, the same first failure); a
    line run outside any test, or by no test, asks for the full set (None)."""
    cov = {"tests": ["t::a", "t::b", "t::c"],
           "files": {"m.py": {"5": [2, 0], "6": [1], "1": [-1, 1]}}}
    assert select.tests_for(cov, "m.py", {5, 6}) == ["t::a", "t::b", "t::c"]
    assert select.tests_for(cov, "m.py", {6}) == ["t::b"]
    assert select.tests_for(cov, "m.py", {1, 6}) is None  # run at import
    assert select.tests_for(cov, "m.py", {9}) is None  # no test runs it
    assert select.tests_for(cov, "other.py", {5}) is None


TESTS = textwrap.dedent('''\
    import pytest

    import square


    @pytest.fixture(scope="module")
    def nine():
        return square.square(3)


    def test_positive(nine):
        assert nine > 0


    def test_exact(nine):
        assert nine == 9


    def test_unrelated():
        assert square.NAME == "square"
    ''')
MODULE = textwrap.dedent('''\
    NAME = "square"


    def square(x):
        return x * x


    def unused(x):
        return x + 1
    ''')


def test_a_mutant_the_selected_tests_let_through_is_judged_by_the_full_set(tmp_path,
                                                                              monkeypatch):
    """The module-scoped fixture runs `square` during test_positive's setup only, so
    coverage gives that line to test_positive alone; `x * x` -> `x + x` passes it and is
    killed by test_exact, which reuses the cached value. The full set must decide."""
    (tmp_path / "square.py").write_text(MODULE)
    (tmp_path / "test_square.py").write_text(TESTS)
    monkeypatch.setattr(mutation, "WORK", tmp_path)
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    judge = mutation.Judge("toy", mutation.Target("square.py", ("test_square.py",)), tmp_path,
                           env, 60.0, ["test_square.py"], select=True)
    assert select.tests_for(judge.map, "square.py", {5}) == ["test_square.py::test_positive"]

    def verdict(old: str, new: str) -> str:
        mutant = MODULE.replace(old, new)
        first, last = select.changed_lines(MODULE, mutant)
        (tmp_path / "square.py").write_text(mutant)
        try:
            return judge("square.py", MODULE, first, last)[0]
        finally:
            (tmp_path / "square.py").write_text(MODULE)

    assert verdict("x * x", "x - x") == mutation.KILLED  # by the selected test alone
    assert judge.runs == {"selected": 1, "full": 0}
    assert verdict("x * x", "x + x") == mutation.KILLED  # only the full set kills it
    assert judge.runs == {"selected": 2, "full": 1}
    assert verdict("x + 1", "x - 1") == mutation.SURVIVED  # no test runs it: full set
    assert judge.runs == {"selected": 2, "full": 2}
