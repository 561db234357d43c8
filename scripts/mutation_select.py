#!/usr/bin/env python3
"""Which of a module's tests can kill a mutant: the tests that execute the mutated lines.

A sweep used to run every test of a module once per mutant, though most tests never reach
the mutated line. Here the module's tests run once under coverage.py, with one coverage
context per test (its node id, set around the test's setup, call and teardown), and a
mutant is first run against only the tests that executed one of its lines, as mutmut does.

Selection must never change an outcome, so it only decides what runs first
(scripts/mutation.py):
- a mutant the selected tests kill is killed: those tests are part of the full set, and
  they run in the full set's order, so with `-x` the full run would stop at the same test;
- a mutant they let through is run again against the module's full set before it counts as
  a survivor (a test could depend on the line through a cached, module-scoped fixture, or
  run it in a child process that coverage does not see);
- a line run outside any test (at import: module constants, `def` lines, default values,
  class bodies, test parameters) can change what every test sees, so its mutants run the
  full set;
- a mutant on a line no test executes runs the full set too (it is most likely a survivor,
  and the full run says so).

Usage (from the tree the tests run in): python mutation_select.py OUT.json FILE... -- PYTEST_ARGS
"""

from __future__ import annotations

import ast
import difflib
import json
import os
import sys
from pathlib import Path

import pytest

OUTSIDE = ""  # coverage's context for lines run outside any test (collection, imports)


def statement_lines(source: str, first: int, last: int) -> set[int]:
    """The lines a tracer may report for code on lines first..last: those lines, and every
    line of each statement they touch (a multi-line statement reports its first line or
    any of its own, by Python version). A compound statement (if, for, def, ...) owns only
    its header, not its body."""
    wanted = set(range(first, last + 1))
    out = set(wanted)
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.stmt):
            continue
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
            own = set(range(node.lineno, max(node.lineno, body[0].lineno - 1) + 1))
        else:
            own = set(range(node.lineno, node.end_lineno + 1))
        if own & wanted:
            out |= own
    return out


def changed_lines(before: str, after: str) -> tuple[int, int]:
    """First and last line (1-based, of `before`) that a mutation changed."""
    a, b = before.splitlines(), after.splitlines()
    rows = []
    for tag, i1, i2, _, _ in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag != "equal":
            rows += [i1 + 1, max(i1 + 1, i2)]  # an insertion at i1 touches line i1 + 1
    if not rows:
        raise ValueError("the mutant does not differ from the source")
    return min(rows), max(rows)


def tests_for(coverage_map: dict, path: str, lines: set[int]) -> list[str] | None:
    """The node ids, in the full run's order, of the tests that executed one of `lines` of
    `path`; None for "run the full set" (a line run outside any test, or no test at all)."""
    by_line = coverage_map["files"].get(path, {})
    picked: set[int] = set()
    for line in lines:
        for index in by_line.get(str(line), []):
            if index < 0:  # run outside any test
                return None
            picked.add(index)
    if not picked:
        return None
    return [coverage_map["tests"][i] for i in sorted(picked)]


def _coverage_map(data, root: Path, files: list[str], tests: list[str]) -> dict:
    index = {nodeid: i for i, nodeid in enumerate(tests)}
    wanted = {os.path.realpath(root / f): f for f in files}
    out: dict[str, dict[str, set[int]]] = {}
    for measured in data.measured_files():
        rel = wanted.get(os.path.realpath(measured))
        if rel is None:
            continue
        lines = out.setdefault(rel, {})
        for line, contexts in data.contexts_by_lineno(measured).items():
            lines.setdefault(str(line), set()).update(
                -1 if c == OUTSIDE else index[c] for c in contexts)
    return {"tests": tests, "files": {f: {line: sorted(ids) for line, ids in lines.items()}
                                      for f, lines in out.items()}}


class _PerTest:
    """pytest plugin: one coverage context per test, around its setup, call and teardown."""

    def __init__(self, cov) -> None:
        self.cov = cov
        self.order: list[str] = []

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        self.cov.switch_context(item.nodeid)
        self.order.append(item.nodeid)
        try:
            return (yield)
        finally:
            self.cov.switch_context(OUTSIDE)


def measure(out: Path, files: list[str], pytest_args: list[str]) -> int:
    """Run the tests once under coverage (this run is also the sweep's baseline: the tests
    must pass unmutated) and write the per-test line map to `out`."""
    import coverage

    root = Path.cwd()
    sys.path[0] = str(root)  # as `python -m pytest` in this tree: its tuneops, not the install
    cov = coverage.Coverage(data_file=None, config_file=False, include=[f"{root}/*"])
    cov.start()
    plugin = _PerTest(cov)
    try:
        status = pytest.main(pytest_args, plugins=[plugin])
    finally:
        cov.stop()
    out.write_text(json.dumps(_coverage_map(cov.get_data(), root, files, plugin.order)))
    return int(status)


if __name__ == "__main__":
    split = sys.argv.index("--")
    raise SystemExit(measure(Path(sys.argv[1]), sys.argv[2:split], sys.argv[split + 1:]))
