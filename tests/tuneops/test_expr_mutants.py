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


# --- and/or ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text,want", [
    ("f and t", False), ("t and f", False), ("f or t", True), ("t or f", True),
    # the right side is not evaluated once the left decides, as in Python
    ("f and a / 0 > 1", False), ("t or a / 0 > 1", True),
])
def test_and_or_need_both_sides_and_short_circuit(text, want):
    """`and` holds only when both sides hold, `or` when either does, and the right side is
    not evaluated once the left decides, so `b > 0 and a / b > 1` is safe when b is 0."""
    assert parse(text).evaluate(ENV) is want


# --- the bounds on cost (a constraint is evaluated on every grid point) ---------------------

def _refused(text, env=None):
    with pytest.raises(ExprError) as info:
        parse(text) if env is None else parse(text).evaluate(env)
    return info.value


def test_text_length_is_bounded_at_1000_characters():
    """At most MAX_LENGTH (1000) characters: the 1001st is refused, and the column points
    just past the limit."""
    assert parse("t" + " " * 999).evaluate(ENV) is True
    err = _refused("t" + " " * 1000)
    assert (err.message, err.column) == ("expression is 1001 characters; at most 1000", 1001)


def test_token_count_is_bounded_at_300_before_anything_else():
    """At most MAX_TOKENS (300) tokens, the end marker not counted; the 301st is refused
    whatever it is, before any check of the token itself."""
    assert parse("-" + "1+" * 149 + "1").evaluate({}) is True  # exactly 300 tokens
    more = "more than 300 tokens; split it into several constraints"
    assert _refused("1+" * 150 + "1").message == more
    # the 301st token is also a number with too many digits: the count is what is refused
    assert _refused("1+" * 150 + "12345678901234567890").message == more


@pytest.mark.parametrize("text,ok", [
    ("1234567890123456789", True),  # 19 digits
    ("12345678901234567890", False),
    ("1.234567890123456789", True),  # digits are counted, not characters
    ("1.2345678901234567890", False),
    ("123456789012345678e1", True),
    ("1234567890123456789e1", False),  # the exponent's digits count too
])
def test_number_literals_have_at_most_19_digits(text, ok):
    """A number literal has at most MAX_NUMBER_DIGITS (19) digits, all of them counted
    (fraction and exponent too); the refusal points at the number."""
    if ok:
        assert parse(f"a + {text} > 0").evaluate(ENV) is True
    else:
        err = _refused(f"a + {text} > 0")
        assert err.message == f"number {text[:20]}... has more than 19 digits"
        assert err.column == 5


def test_the_digit_refusal_quotes_the_first_20_characters():
    """A long number is quoted by its first 20 characters only."""
    assert _refused("1" * 30).message == f"number {'1' * 20}... has more than 19 digits"


@pytest.mark.parametrize("text", [
    "a12345678901234567890 == 2",
    "s == '12345678901234567890'",
    "s == \"123456789012345678901234567890\"",
])
def test_only_number_literals_are_digit_bounded(text):
    """Names and strings may hold any number of digits: only number literals are bounded."""
    env = dict(ENV, a12345678901234567890=1)
    assert parse(text).evaluate(env) is False


# Each way of nesting, written `depth` deep around `core`.
NESTINGS = {
    "not": lambda depth, core="t": "not " * depth + core,
    "unary minus": lambda depth, core="1": "-" * depth + core,
    "parentheses": lambda depth, core="1": "(" * depth + core + ")" * depth,
    "function call": lambda depth, core="1": "abs(" * depth + core + ")" * depth,
}
OPENER_WIDTH = {"not": 4, "unary minus": 1, "parentheses": 1, "function call": 4}
OPENER_END = {"not": 1, "unary minus": 1, "parentheses": 1, "function call": 4}


@pytest.mark.parametrize("kind", sorted(NESTINGS))
def test_nesting_is_bounded_at_32_levels(kind):
    """Parentheses, unary operators and function calls nest at most MAX_DEPTH (32) deep;
    the 33rd level is refused at its opening token (`not`, `-`, or the `(`)."""
    nest = NESTINGS[kind]
    assert parse(nest(32)).evaluate(ENV) in (True, False)
    err = _refused(nest(33))
    assert err.message == "nested more than 32 levels deep"
    assert err.column == OPENER_WIDTH[kind] * 32 + OPENER_END[kind]


@pytest.mark.parametrize("kind", sorted(NESTINGS))
def test_depth_is_nesting_not_count(kind):
    """A level closes when its construct ends: forty siblings one level deep are fine, and
    a sibling before a 33-deep nest does not buy it a level."""
    nest = NESTINGS[kind]
    one = nest(1, "f" if kind == "not" else "1")
    join = " or " if kind == "not" else " + "
    assert parse(join.join([one] * 40)).evaluate(ENV) in (True, False)
    assert _refused(one + join + nest(33)).message == "nested more than 32 levels deep"


def test_the_depth_counts_every_kind_together():
    """One depth for all four ways of nesting: 8 of each is 32, one more is refused."""
    inner = "1"
    for _ in range(8):
        inner = "not -(abs(" + inner + "))"
    assert parse(inner).evaluate({}) is True  # not -abs(1) is False, not -abs(False) True
    assert _refused("not " + inner).message == "nested more than 32 levels deep"


# --- values: arithmetic takes numbers only, of bounded size ---------------------------------

@pytest.mark.parametrize("text", [
    "s * 2 == 'lpmlpm'", "s + s == 'lpmlpm'", "'%d' % 1 == '1'", "-s == 0",
    "t + 1 == 2", "t * 3 == 3", "-t == -1", "1 - f == 1",
])
def test_arithmetic_takes_numbers_only(text):
    """Strings and booleans are no numbers: no `'x' * 10**9`, no `%`-formatting, and a flag
    is not a count (`true + 1` is refused, not 2)."""
    err = _refused(text, ENV)
    assert "arithmetic needs numbers, got " in err.message


def test_a_refused_value_is_quoted_to_120_characters():
    """The refusal quotes a long value only so far: its sentence stops at 120 characters."""
    err = _refused("s + 1 > 0", {"s": "y" * 500})
    head = "cannot evaluate 's + 1 > 0': "
    assert err.message == head + ("arithmetic needs numbers, got '" + "y" * 500)[:120]


@pytest.mark.parametrize("text,x,ok", [
    ("x + 0 > 0", 2**256 - 1, True),  # 256 bits
    ("x + 0 > 0", 2**256, False),  # an operand of 257 bits
    ("x - 1 + x > 0", 2**255, True),  # 2**256 - 1
    ("x + x > 0", 2**255, False),  # a result of 257 bits
    ("-x < 0", 2**256, False),
])
def test_integers_in_arithmetic_have_at_most_256_bits(text, x, ok):
    """An integer operand or result of arithmetic has at most MAX_INT_BITS (256) bits;
    larger ones are refused, not computed."""
    if ok:
        assert parse(text).evaluate({"x": x}) is True
    else:
        assert _refused(text, {"x": x}).message.endswith(": an integer above 2**256")
