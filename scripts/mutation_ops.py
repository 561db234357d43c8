"""Mutation operators cosmic-ray lacks, for the slips that decide answers wrongly.

cosmic-ray's core operators change one token (`<` to `<=`, delete a `not`, a number +-1, a
comparison operator, `and` to `or`). The slips found by hand in the deciding rules were
often larger (issue 26): a condition dropped from a conjunction, `min` where `max` was
meant, two checks run in the other order, a guard that returns whatever its condition.
These operators make exactly those, from Python's own syntax tree:

- `tuneops/DropOperand`: drop one operand of an `and`/`or` (a forgotten conjunct or
  disjunct);
- `tuneops/SwapMinMax`: `min(...)` <-> `max(...)`;
- `tuneops/SwapChecks`: two guards in a row (`if ...: return/raise/continue/break`), or
  the first two branches of an `if/elif` chain, in the other order;
- `tuneops/ReturnEarly`: a guard's condition taken as true (the function returns, or
  the loop moves on, at the guard every time).

`<`/`<=` swaps and a removed `not` are cosmic-ray's own (ReplaceComparisonOperator_*,
ReplaceUnaryOperator_Delete_Not), so they are not repeated here.

A mutant is (operator, line, occurrence, new source): `occurrence` counts that operator's
mutants in the module in source order, as cosmic-ray counts its own, so an equivalent in
tests/mutation_equivalents.toml names one mutant the same way for either tool.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator
from dataclasses import dataclass

OPERATORS = ("tuneops/DropOperand", "tuneops/SwapMinMax", "tuneops/SwapChecks",
             "tuneops/ReturnEarly")


@dataclass(frozen=True)
class Mutant:
    operator: str
    line: int  # 1-based line of the mutated code
    occurrence: int  # index among this operator's mutants in the module
    description: str
    source: str  # the whole module, mutated


def _offsets(source: str) -> list[int]:
    """Character offset of each line's start (ast positions are line + UTF-8 byte column)."""
    out, pos = [0], 0
    for line in source.splitlines(keepends=True):
        pos += len(line)
        out.append(pos)
    return out


class _Text:
    def __init__(self, source: str) -> None:
        self.source = source
        self.lines = source.splitlines(keepends=True)
        self.starts = _offsets(source)

    def pos(self, line: int, col: int) -> int:
        raw = self.lines[line - 1].encode()[:col].decode()
        return self.starts[line - 1] + len(raw)

    def span(self, node: ast.AST) -> tuple[int, int]:
        return (self.pos(node.lineno, node.col_offset),
                self.pos(node.end_lineno, node.end_col_offset))

    def replace(self, start: int, end: int, text: str) -> str:
        return self.source[:start] + text + self.source[end:]


def _is_guard(stmt: ast.stmt) -> bool:
    """`if cond: ... <return|raise|continue|break>` with no else: a check that leaves."""
    return (isinstance(stmt, ast.If) and not stmt.orelse
            and isinstance(stmt.body[-1], (ast.Return, ast.Raise, ast.Continue, ast.Break)))


def _bodies(tree: ast.AST) -> Iterator[list[ast.stmt]]:
    for node in ast.walk(tree):
        for name in ("body", "orelse", "finalbody"):
            block = getattr(node, name, None)
            if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
                yield block


def _candidates(tree: ast.AST, text: _Text) -> Iterator[tuple[str, int, int, str, str]]:
    """(operator, sort position, line, description, mutated source), unordered."""
    for node in ast.walk(tree):
        if isinstance(node, ast.BoolOp):
            start, end = text.span(node)
            word = " and " if isinstance(node.op, ast.And) else " or "
            for i, _ in enumerate(node.values):
                rest = [ast.get_source_segment(text.source, v) for j, v in
                        enumerate(node.values) if j != i]
                new = "(" + word.join(f"({r})" for r in rest) + ")"
                yield ("tuneops/DropOperand", start * 16 + i, node.lineno,
                       f"drop operand {i + 1} of `{word.strip()}`",
                       text.replace(start, end, new))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id in ("min", "max")):
            start, end = text.span(node.func)
            other = "max" if node.func.id == "min" else "min"
            yield ("tuneops/SwapMinMax", start * 16, node.lineno,
                   f"{node.func.id} -> {other}", text.replace(start, end, other))
        if isinstance(node, ast.If) and _is_guard(node):
            start, end = text.span(node.test)
            yield ("tuneops/ReturnEarly", start * 16, node.lineno,
                   "guard always taken", text.replace(start, end, "True"))
    for block in _bodies(tree):
        for a, b in itertools.pairwise(block):
            if _is_guard(a) and _is_guard(b) and a.col_offset == b.col_offset:
                sa = text.starts[a.lineno - 1]
                mid = text.starts[b.lineno - 1]
                eb = text.starts[b.end_lineno]
                first, second = text.source[sa:mid], text.source[mid:eb]
                if not first.endswith("\n") or not second.endswith("\n"):
                    continue
                yield ("tuneops/SwapChecks", sa * 16, a.lineno,
                       f"guards at lines {a.lineno} and {b.lineno} swapped",
                       text.source[:sa] + second + first + text.source[eb:])
    for node in ast.walk(tree):
        if (isinstance(node, ast.If) and len(node.orelse) == 1
                and isinstance(node.orelse[0], ast.If)
                and node.orelse[0].lineno != node.lineno):
            elif_ = node.orelse[0]
            a_test, b_test = (ast.get_source_segment(text.source, t)
                              for t in (node.test, elif_.test))
            a_body, b_body = node.body, elif_.body
            # swap the (condition, body) pairs; single-line headers only
            if (node.test.end_lineno != node.lineno or elif_.test.end_lineno != elif_.lineno
                    or text.lines[elif_.lineno - 1].lstrip()[:5] != "elif "):
                continue
            a_src = text.source[text.starts[a_body[0].lineno - 1]:
                                text.starts[a_body[-1].end_lineno]]
            b_src = text.source[text.starts[b_body[0].lineno - 1]:
                                text.starts[b_body[-1].end_lineno]]
            head = text.starts[node.lineno - 1]
            stop = text.starts[b_body[-1].end_lineno]
            indent = text.lines[node.lineno - 1][:node.col_offset]
            new = (f"{indent}if {b_test}:\n{b_src}{indent}elif {a_test}:\n{a_src}")
            if text.source[head:stop] == new:
                continue
            yield ("tuneops/SwapChecks", head * 16 + 1, node.lineno,
                   f"branches at lines {node.lineno} and {elif_.lineno} swapped",
                   text.source[:head] + new + text.source[stop:])


def mutants(source: str) -> list[Mutant]:
    """Every mutant of `source` by these operators, each operator's in source order."""
    tree = ast.parse(source)
    text = _Text(source)
    found = sorted(_candidates(tree, text), key=lambda c: (OPERATORS.index(c[0]), c[1]))
    counts: dict[str, int] = {}
    out = []
    for op, _, line, what, new in found:
        n = counts.get(op, 0)
        counts[op] = n + 1
        out.append(Mutant(op, line, n, what, new))
    return out
