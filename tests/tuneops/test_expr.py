"""The constraint grammar: what it accepts, how it evaluates, and that it never runs Python."""

from __future__ import annotations

import pytest

from tuneops.expr import ExprError, parse


@pytest.mark.parametrize(
    ("text", "env", "want"),
    [
        ("tp-size * dp-size <= gpus", {"tp-size": 2, "dp-size": 2, "gpus": 4}, True),
        ("tp-size * dp-size <= gpus", {"tp-size": 4, "dp-size": 2, "gpus": 4}, False),
        ("a - b == 1", {"a": 3, "b": 2}, True),
        ("1 + 2 * 3 == 7", {}, True),
        ("(1 + 2) * 3 == 9", {}, True),
        ("7 // 2 == 3 and 7 % 2 == 1", {}, True),
        ("-a < 0", {"a": 1}, True),
        ("1 < a < 3", {"a": 2}, True),
        ("1 < a < 3", {"a": 3}, False),
        ("not flag", {"flag": False}, True),
        ("x or y and z", {"x": False, "y": True, "z": False}, False),
        ("policy == 'lpm' and not cache", {"policy": "lpm", "cache": False}, True),
        ('policy != "fcfs"', {"policy": "lpm"}, True),
        ("max(a, b) == 5 and min(a, b) == 2 and abs(-3) == 3", {"a": 2, "b": 5}, True),
        ("frac >= .85 and big > 1e3", {"frac": 0.9, "big": 2000}, True),
        ("flag == true", {"flag": True}, True),
    ],
)
def test_evaluates(text, env, want):
    assert parse(text).evaluate(env) is want


def test_names_keep_hyphens_and_exclude_keywords_and_functions():
    e = parse("max(tp-size, 2) <= gpus and not disable-radix-cache or x == true")
    assert e.names == frozenset({"tp-size", "gpus", "disable-radix-cache", "x"})


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ("a <=> 1", "unexpected '>'", 5),
        ("a $ 1", "unexpected character '$'", 3),
        ("(a < 1", "expected ')', found 'end of expression'", 7),
        ("a <", "unexpected 'end of expression'", 4),
        ("__import__('os')", "unknown function '__import__' (allowed: min, max, abs)", 1),
        ("a.b", "unexpected character '.'", 2),
        ("a[0]", "unexpected character '['", 2),
        ("lambda: 1", "unexpected character ':'", 7),
        ("a in b", "unexpected 'in'", 3),
    ],
)
def test_rejects_with_message_and_column(text, message, column):
    with pytest.raises(ExprError) as info:
        parse(text)
    assert info.value.message == message
    assert info.value.column == column


@pytest.mark.parametrize("text", ["", "   ", None])
def test_empty_is_an_error(text):
    with pytest.raises(ExprError, match="empty expression"):
        parse(text)


def test_evaluation_errors_are_expr_errors():
    with pytest.raises(ExprError, match="unknown name"):
        parse("a < b").evaluate({"a": 1})
    with pytest.raises(ExprError, match="cannot evaluate"):
        parse("a < 1").evaluate({"a": "lpm"})
    with pytest.raises(ExprError, match="cannot evaluate"):
        parse("a / b > 1").evaluate({"a": 1, "b": 0})
