"""A tiny, safe expression language for constraints between parameters.

    tp-size * dp-size <= gpus
    max-running-requests <= 128 or mem-fraction-static >= 0.85
    schedule-policy == "lpm" and not disable-radix-cache

Names may contain hyphens (engine flags do), so subtraction needs spaces: `a - b`.
Parsed by recursive descent into a closure tree; nothing is ever handed to Python's eval.

Every cost is bounded, since constraints are evaluated on every grid point: the text's
length, its number of tokens and its nesting depth (the parser and the closure tree both
recurse), number literals' digits, and values: arithmetic takes numbers only (so no
`'x' * 10**9` or `'%01000000000d' % 1`) and an integer result is capped in size.
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
MAX_LENGTH = 1000  # characters
MAX_TOKENS = 300
MAX_DEPTH = 32  # parentheses, unary operators and function calls inside each other
MAX_NUMBER_DIGITS = 19
MAX_INT_BITS = 256  # larger intermediate integers are refused, not computed

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
        except (TypeError, ZeroDivisionError, OverflowError, ValueError) as exc:
            raise ExprError(f"cannot evaluate {self.text!r}: {exc}") from None


def _number(value: Any) -> Any:
    """Arithmetic operands: numbers only (not bools: a flag is no count), ints of bounded size."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"arithmetic needs numbers, got {value!r}"[:120])
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise OverflowError(f"an integer above 2**{MAX_INT_BITS}")
    return value


def _arith(op: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def apply(a: Any, b: Any) -> Any:
        return _number(op(_number(a), _number(b)))

    return apply


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
        if len(tokens) > MAX_TOKENS:
            raise ExprError(f"more than {MAX_TOKENS} tokens; split it into several constraints")
        if kind == "num" and sum(c.isdigit() for c in value) > MAX_NUMBER_DIGITS:
            raise ExprError(
                f"number {value[:20]}... has more than {MAX_NUMBER_DIGITS} digits", col
            )
    tokens.append(("end", "", len(text) + 1))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.i = 0
        self.depth = 0
        self.names: set[str] = set()

    def nested(self, col: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExprError(f"nested more than {MAX_DEPTH} levels deep", col)

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
            self.nested(self.take()[2])
            inner = self.not_()
            self.depth -= 1
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
            op = _arith(_ARITH[self.take()[1]])
            right = self.term()
            left = (lambda f, a, b: lambda e: f(a(e), b(e)))(op, left, right)
        return left

    def term(self) -> Node:
        left = self.unary()
        while self.peek()[1] in ("*", "/", "//", "%"):
            op = _arith(_ARITH[self.take()[1]])
            right = self.unary()
            left = (lambda f, a, b: lambda e: f(a(e), b(e)))(op, left, right)
        return left

    def unary(self) -> Node:
        if self.peek()[1] == "-":
            self.nested(self.take()[2])
            inner = self.unary()
            self.depth -= 1
            return lambda e: -_number(inner(e))
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
                self.nested(self.take("(")[2])
                args = [self.or_()]
                while self.peek()[1] == ",":
                    self.take()
                    args.append(self.or_())
                self.take(")")
                self.depth -= 1
                fn = _FUNCS[value]
                return lambda e: fn(*(a(e) for a in args)) if len(args) > 1 else fn(args[0](e))
            self.names.add(value)
            return lambda e: e[value]
        if value == "(":
            self.nested(col)
            inner = self.or_()
            self.take(")")
            self.depth -= 1
            return inner
        raise ExprError(f"unexpected {value or 'end of expression'!r}", col)


def parse(text: str) -> Expression:
    if not isinstance(text, str) or not text.strip():
        raise ExprError("empty expression")
    if len(text) > MAX_LENGTH:
        raise ExprError(
            f"expression is {len(text)} characters; at most {MAX_LENGTH}", MAX_LENGTH + 1
        )
    p = _Parser(text)
    node = p.parse()
    return Expression(text, frozenset(p.names), node)
