"""The constraint language's precedence, operators and errors, pinned case by case: each
case tells a correct parser from one with a plausible slip (`or` binding tighter than `and`,
a comparison chain that forgets a link, `-` parsed as `+`, ...), which tests/tuneops/test_expr.py's
cases did not all do (`make mutation MODULES=expr`)."""

from __future__ import annotations

import pytest

from tuneops.expr import ExprError, parse

ENV = {"a": 1, "b": 2, "c": 3, "t": True, "f": False, "tp-size": 4, "s": "lpm"}


@pytest.mark.parametrize("text,want", [
    # and binds tighter than or, both ways round; not binds tighter than and
    ("t or t and f", True),  # or-first would give False
    ("f and f or t", True),
    ("t and f or t and t", True),
    ("(t or t) and f", False),
    ("not f and f", False),  # not (f and f) would be True
    ("not t or t", True),
    ("not not t", True),
    ("f or f", False),
    ("t and t", True),
    # comparisons, chained like Python's
    ("a < b < c", True), ("a < c < b", False), ("c > b > a", True), ("a < b > c", False),
    ("a <= 1", True), ("a <= 0", False), ("a >= 1", True), ("a >= 2", False),
    ("a < 1", False), ("a > 0", True), ("a > 1", False), ("a == 1", True), ("a == 2", False),
    ("a != 1", False), ("a != 2", True), ("1 < 2 == 2", True), ("2 == 2 < 1", False),
    # arithmetic: precedence, associativity, each operator
    ("1 + 2 * 3 == 7", True), ("(1 + 2) * 3 == 9", True), ("c - b - a == 0", True),
    ("c - b + a == 2", True), ("8 / 2 / 2 == 2", True), ("7 // 2 == 3", True),
    ("7 % 4 == 3", True), ("7 / 2 == 3.5", True), ("2 * 3 // 4 == 1", True),
    ("10 - 2 * 3 == 4", True), ("- a + 3 == 2", True), ("-(a + b) == -3", True),
    ("--a == 1", True), ("c * - b == -6", True), ("tp-size * 2 == 8", True),
    ("tp-size - a == 3", True),
    # numbers, strings, booleans, functions
    ("1.5 * 2 == 3", True), (".5 * 4 == 2", True), ("1e2 == 100", True), ("2E-1 == 0.2", True),
    ("s == \"lpm\"", True), ("s == 'fcfs'", False), ("true", True), ("false", False),
    ("min(a, b, c) == 1", True), ("max(a, c, b) == 3", True), ("abs(a - c) == 2", True),
    ("abs(-4) == 4", True),
    ("min(a + b, c * 2) == 3", True), ("max(t and f, 0) == 0", True),
])
def test_evaluates(text, want):
    assert parse(text).evaluate(ENV) is want


def test_integer_literals_stay_exact():
    # read as floats, these two would be equal
    assert parse("100000000000000001 == 100000000000000000").evaluate({}) is False
    assert parse("100000000000000001.0 == 100000000000000000").evaluate({}) is True


def test_names_are_the_free_names_only():
    e = parse('tp-size * dp-size <= gpus and not disable-x or min(a, b) > 1 and s == "lpm"')
    assert e.names == frozenset({"tp-size", "dp-size", "gpus", "disable-x", "a", "b", "s"})
    assert parse("true or false").names == frozenset()


@pytest.mark.parametrize("text,message,column", [
    ("a < ", "unexpected 'end of expression'", 5),
    ("(a < b", "expected ')', found 'end of expression'", 7),
    ("a < b)", "unexpected ')'", 6),
    ("a $ b", "unexpected character '$'", 3),
    ("  @", "unexpected character '@'", 3),
    ("pow(a, 2)", "unknown function 'pow' (allowed: min, max, abs)", 1),
    ("a and in", "unexpected 'in'", 7),
    ("min(a b)", "expected ')', found 'b'", 7),
    ("a b", "unexpected 'b'", 3),
    ("a x", "unexpected 'x'", 3),  # a name sorting after "or" is no "or"
    ("a zz and b", "unexpected 'zz'", 3),
    ("and", "unexpected 'and'", 1),
])
def test_errors_say_what_and_where(text, message, column):
    with pytest.raises(ExprError) as info:
        parse(text)
    assert info.value.message == message and str(info.value) == message
    assert info.value.column == column


@pytest.mark.parametrize("text", ["", "   ", None, 3])
def test_empty_or_not_text(text):
    with pytest.raises(ExprError, match="empty expression") as info:
        parse(text)
    assert info.value.column == 0


def test_evaluation_errors():
    with pytest.raises(ExprError, match=r"unknown name\(s\) x, y in 'y \+ x > a'"):
        parse("y + x > a").evaluate({"a": 1})
    with pytest.raises(ExprError, match="cannot evaluate 'a / 0 > 1': division by zero"):
        parse("a / 0 > 1").evaluate(ENV)
    with pytest.raises(ExprError, match="cannot evaluate 'a % 0 > 1'"):
        parse("a % 0 > 1").evaluate(ENV)
    with pytest.raises(ExprError, match="cannot evaluate"):
        parse("s < 1").evaluate(ENV)  # str < int: TypeError


def test_the_result_is_a_bool():
    assert parse("a").evaluate(ENV) is True
    assert parse("a - 1").evaluate(ENV) is False
    assert parse("s").evaluate(ENV) is True


def test_trailing_whitespace_and_no_spaces():
    assert parse("a<b ").evaluate(ENV) and parse("(a+b)*c==9\t").evaluate(ENV)


def test_a_parsed_expression_is_immutable():
    import dataclasses

    e = parse("a < b")
    with pytest.raises(dataclasses.FrozenInstanceError):
        e.text = "b < a"  # type: ignore[misc]
