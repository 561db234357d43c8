"""The mutation operators of scripts/mutation_ops.py: each makes the slip it is named for,
produces code that still parses, and numbers its mutants the same way every time."""

from __future__ import annotations

import ast
import importlib.util
import os
import sys

import pytest

from tests.paths import ROOT

REPO = ROOT


def _load():
    spec = importlib.util.spec_from_file_location("mutation_ops", REPO / "scripts/mutation_ops.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


ops = _load()


def _of(source: str, operator: str) -> list[str]:
    return [m.source for m in ops.mutants(source) if m.operator == operator]


def test_drop_operand_drops_each_conjunct_and_disjunct():
    src = "ok = a and b(x) and not c\nany_ = p or q\n"
    assert _of(src, "tuneops/DropOperand") == [
        "ok = ((b(x)) and (not c))\nany_ = p or q\n",
        "ok = ((a) and (not c))\nany_ = p or q\n",
        "ok = ((a) and (b(x)))\nany_ = p or q\n",
        "ok = a and b(x) and not c\nany_ = ((q))\n",
        "ok = a and b(x) and not c\nany_ = ((p))\n",
    ]


def test_swap_min_max_only_touches_the_builtin_calls():
    src = "lo = min(a, b)\nhi = max(xs, key=f)\ny = obj.min(3)\n"
    assert _of(src, "tuneops/SwapMinMax") == [
        "lo = max(a, b)\nhi = max(xs, key=f)\ny = obj.min(3)\n",
        "lo = min(a, b)\nhi = min(xs, key=f)\ny = obj.min(3)\n",
    ]


def test_swap_checks_swaps_two_guards_in_a_row():
    src = ("def f(x):\n"
           "    if x is None:\n        return 'none'\n"
           "    if x < 0:\n        raise ValueError(x)\n"
           "    return x\n")
    (swapped,) = _of(src, "tuneops/SwapChecks")
    assert swapped == ("def f(x):\n"
                       "    if x < 0:\n        raise ValueError(x)\n"
                       "    if x is None:\n        return 'none'\n"
                       "    return x\n")


def test_swap_checks_swaps_the_first_two_branches_of_an_elif_chain():
    src = ("if v is None:\n    out = 'violated'\n"
           "elif lo < limit:\n    out = 'uncertain'\n"
           "else:\n    out = 'met'\n")
    (swapped,) = _of(src, "tuneops/SwapChecks")
    assert swapped == ("if lo < limit:\n    out = 'uncertain'\n"
                       "elif v is None:\n    out = 'violated'\n"
                       "else:\n    out = 'met'\n")
    f = {}
    exec(compile(swapped, "m", "exec"), {"lo": 1, "limit": 2, "v": None}, f)
    assert f["out"] == "uncertain"  # the order now decides differently


def test_return_early_takes_a_guard_every_time():
    src = "for r in rows:\n    if r.bad:\n        continue\n    keep(r)\n"
    assert _of(src, "tuneops/ReturnEarly") == [
        "for r in rows:\n    if True:\n        continue\n    keep(r)\n"]
    assert _of("if x:\n    y = 1\n", "tuneops/ReturnEarly") == []  # not a guard


@pytest.mark.parametrize("path", ["runner/score.py", "runner/stats.py", "runner/store.py",
                                  "tuneops/secrets.py", "tuneops/ci/compare.py",
                                  "runner/bench/levels.py", "runner/confirm.py"])
def test_every_mutant_of_a_deciding_module_parses_and_differs(path):
    source = (REPO / path).read_text()
    found = ops.mutants(source)
    assert found  # every deciding module has guards or conditions to mutate
    for m in found:
        assert m.source != source, m
        ast.parse(m.source)
        assert source.splitlines()[m.line - 1].strip()
    # occurrences count each operator's mutants from 0, in a stable order
    for op in ops.OPERATORS:
        assert [m.occurrence for m in found if m.operator == op] == list(
            range(sum(m.operator == op for m in found)))
    assert ops.mutants(source) == found


def _script():
    spec = importlib.util.spec_from_file_location("mutation_script", REPO / "scripts/mutation.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_import_errors_and_timeouts_are_not_kills():
    m = _script()
    assert m.outcome(False, "timeout") == "timeouts"
    assert m.outcome(True, "Traceback ...") == "import errors"  # cosmic-ray: incompetent
    assert m.outcome(False, "ERROR collecting tests/test_x.py\n1 error during collection") \
        == "import errors"
    assert m.outcome(False, "E   SyntaxError: invalid syntax") == "import errors"
    assert m.outcome(False, "FAILED tests/test_x.py::test_y - assert 1 == 2") == "killed"


def test_an_except_clause_cosmic_ray_replaced_lets_the_exception_through(tmp_path):
    """cosmic-ray's ExceptionReplacer writes `except CosmicRayTestingException:`. In the
    mutation runs (scripts/mutation_builtins.py loaded) that clause catches nothing the
    original caught: a test that needs the catch fails on the exception itself and the
    mutant is killed, not set apart as an import error by a NameError."""
    m = _script()
    (tmp_path / "test_catch.py").write_text(
        "def lookup(d):\n"
        "    try:\n        return d['k']\n"
        "    except CosmicRayTestingException:\n        return None\n\n"
        "def test_a_missing_key_is_none():\n    assert lookup({}) is None\n")
    env = {**os.environ, "PYTHONPATH": str(m.SCRIPTS), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    status, output = m.run_tests(["test_catch.py"], tmp_path, env, 120)
    assert status == m.KILLED
    assert "KeyError" in output and "NameError" not in output
    assert m.outcome(False, output) == "killed"


def test_a_mutant_that_does_not_compile_is_not_python_and_never_run(tmp_path):
    """cosmic-ray turns the `**` of a dict display into other operators; the results do not
    compile. They are set apart as "not Python" (no pytest run, neither kill nor import
    error); a mutant that compiles is judged by its tests."""
    from cosmic_ray.mutating import use_mutation
    from cosmic_ray.plugins import get_operator

    m = _script()
    source = 'def f(a):\n    return {**a, "k": 1}\n'
    assert m.not_python(source, "x.py") is None
    seen = []
    for name in ("core/ReplaceBinaryOperator_Pow_Mul", "core/ReplaceBinaryOperator_Pow_Add"):
        path = tmp_path / "x.py"
        path.write_text(source)
        with use_mutation(path, get_operator(name)(), 0) as (_, after):
            seen.append(after)
    assert all(after is not None for after in seen)  # cosmic-ray does write these mutants
    assert all(m.not_python(after, "x.py").startswith("not Python: ") for after in seen)


def test_the_table_scores_killed_over_killed_and_survived_and_flags_below_90():
    m = _script()
    row = {"name": "stats", "total": 14, "killed": 9, "import errors": 2, "timeouts": 2,
           "survivors": [("runner/stats.py", 1, "core/X", 0, "x", "")],
           "unscored": {"equivalent": 3}, "seconds": 12.0}
    assert m.score_of(row) == 90.0  # 9 / (9 + 1): import errors and timeouts apart
    lines = m.table([row]).splitlines()
    assert lines[0].split() == ["module", "mutants", "killed", "survived", "equivalent",
                                "import", "errors", "timeouts", "score", "wall"]
    assert lines[1].split() == ["stats", "14", "9", "1", "3", "2", "2", "90.0", "%", "12s"]
    assert m.score_of({**row, "killed": 8}) < 90.0


def test_an_equivalent_names_its_occurrences():
    m = _script()
    assert m.names_occurrence({"occurrence": 27}, 27)
    assert not m.names_occurrence({"occurrence": 27}, 26)  # 8 -> 9 is not 8 -> 7
    assert m.names_occurrence({"occurrence": [1, 2]}, 2)
    assert m.names_occurrence({"occurrence": "every"}, 99)
