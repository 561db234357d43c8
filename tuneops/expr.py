"""A tiny, safe expression language for constraints between parameters.

    tp-size * dp-size <= gpus
    max-running-requests <= 128 or mem-fraction-static >= 0.85
    schedule-policy == "lpm" and not disable-radix-cache

Names may contain hyphens (engine flags do), so subtraction needs spaces: `a - b`.
Parsed by recursive descent into a closure tree; nothing is ever handed to Python's eval.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_TOKEN = re.compile(
    r"""\s*(?:
    (?P<num>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)
  | (?P<str>"[^"\\]*"|'[^'\\]*')
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:-[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<op>//|<=|>=|==|!=|[-+*/%<>(),])
  )""",
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "true", "false", "in"}
_COMPARE = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt,
    ">=": operator.ge, "==": operator.eq, "!=": operator.ne,
}
_ARITH = {
    "+": operator.add, "-": operator.sub, "*": operator.mul,
    "/": operator.truediv, "//": operator.floordiv, "%": operator.mod,
}
_FUNCS = {"min": min, "max": max, "abs": abs}

Env = dict[str, Any]
Node = Callable[[Env], Any]


class ExprError(ValueError):
    def __init__(self, message: str, column: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.column = column  # 1-based within the expression; 0 when not positional


@dataclass(frozen=True)
class Expression:
    text: str
    names: frozenset[str]
    _node: Node

    def evaluate(self, env: Env) -> bool:
        missing = sorted(n for n in self.names if n not in env)
        if missing:
            raise ExprError(f"unknown name(s) {', '.join(missing)} in {self.text!r}")
        try:
            return bool(self._node(env))
        except (TypeError, ZeroDivisionError) as exc:
            raise ExprError(f"cannot evaluate {self.text!r}: {exc}") from None


def _tokenize(text: str) -> list[tuple[str, str, int]]:
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            col = pos + len(text[pos:]) - len(text[pos:].lstrip()) + 1
            raise ExprError(f"unexpected character {text[col - 1]!r}", col)
        kind = m.lastgroup
        value = m.group(kind)
        col = m.start(kind) + 1
        if kind == "name" and value in _KEYWORDS:
            kind = "kw"
        tokens.append((kind, value, col))
        pos = m.end()
    tokens.append(("end", "", len(text) + 1))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.i = 0
        self.names: set[str] = set()

    def peek(self) -> tuple[str, str, int]:
        return self.tokens[self.i]

    def take(self, value: str | None = None) -> tuple[str, str, int]:
        tok = self.tokens[self.i]
        if value is not None and tok[1] != value:
            raise ExprError(f"expected {value!r}, found {tok[1] or 'end of expression'!r}", tok[2])
        self.i += 1
        return tok

    def parse(self) -> Node:
        node = self.or_()
        kind, value, col = self.peek()
        if kind != "end":
            raise ExprError(f"unexpected {value!r}", col)
        return node

    def or_(self) -> Node:
        left = self.and_()
        while self.peek()[1] == "or":
            self.take()
            right = self.and_()
            left = (lambda a, b: lambda e: a(e) or b(e))(left, right)
        return left

    def and_(self) -> Node:
        left = self.not_()
        while self.peek()[1] == "and":
            self.take()
            right = self.not_()
            left = (lambda a, b: lambda e: a(e) and b(e))(left, right)
        return left

    def not_(self) -> Node:
        if self.peek()[1] == "not":
            self.take()
            inner = self.not_()
            return lambda e: not inner(e)
        return self.compare()

    def compare(self) -> Node:
        left = self.sum_()
        pairs = []
        while self.peek()[1] in _COMPARE:
            op = _COMPARE[self.take()[1]]
            pairs.append((op, self.sum_()))
        if not pairs:
            return left

        def chained(e: Env, first=left, rest=tuple(pairs)) -> bool:
            a = first(e)
            for op, node in rest:
                b = node(e)
                if not op(a, b):
                    return False
                a = b
            return True

        return chained

    def sum_(self) -> Node:
        left = self.term()
        while self.peek()[1] in ("+", "-"):
            op = _ARITH[self.take()[1]]
            right = self.term()
            left = (lambda f, a, b: lambda e: f(a(e), b(e)))(op, left, right)
        return left

    def term(self) -> Node:
        left = self.unary()
        while self.peek()[1] in ("*", "/", "//", "%"):
            op = _ARITH[self.take()[1]]
            right = self.unary()
            left = (lambda f, a, b: lambda e: f(a(e), b(e)))(op, left, right)
        return left

    def unary(self) -> Node:
        if self.peek()[1] == "-":
            self.take()
            inner = self.unary()
            return lambda e: -inner(e)
        return self.atom()

    def atom(self) -> Node:
        kind, value, col = self.take()
        if kind == "num":
            num = float(value) if any(c in value for c in ".eE") else int(value)
            return lambda e: num
        if kind == "str":
            s = value[1:-1]
            return lambda e: s
        if kind == "kw" and value in ("true", "false"):
            b = value == "true"
            return lambda e: b
        if kind == "name":
            if self.peek()[1] == "(":
                if value not in _FUNCS:
                    raise ExprError(f"unknown function {value!r} (allowed: min, max, abs)", col)
                self.take("(")
                args = [self.or_()]
                while self.peek()[1] == ",":
                    self.take()
                    args.append(self.or_())
                self.take(")")
                fn = _FUNCS[value]
                return lambda e: fn(*(a(e) for a in args)) if len(args) > 1 else fn(args[0](e))
            self.names.add(value)
            return lambda e: e[value]
        if value == "(":
            inner = self.or_()
            self.take(")")
            return inner
        raise ExprError(f"unexpected {value or 'end of expression'!r}", col)


def parse(text: str) -> Expression:
    if not isinstance(text, str) or not text.strip():
        raise ExprError("empty expression")
    p = _Parser(text)
    node = p.parse()
    return Expression(text, frozenset(p.names), node)
