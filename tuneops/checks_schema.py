"""Turn JSON Schema errors into diagnostics a person can act on.

jsonschema reports what the *schema* says ("'x' is not valid under any of the given
schemas"); people need what the *field* wants, where it is, and the likely fix. So every
error is reduced to its most specific cause (oneOf/anyOf branches that fail only because
the value has the wrong shape are dropped), worded from the failing keyword plus the
schema's `x-expected` phrase, positioned with yamlio, and given a difflib suggestion for
misspelt keys and enum values. The validator is compiled once per process.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError

from tuneops import registry, schemas, yamlio
from tuneops.deployments.registry import deployment_modes
from tuneops.errors import Diagnostic

Path_ = tuple[str | int, ...]
_MAX_LISTED = 12


def _is_integer(checker: Any, instance: Any) -> bool:
    """Integers are ints: JSON Schema also counts 1e9 (a float) as one, which then reaches
    `range()`, thread pools and seeds as a float."""
    return isinstance(instance, int) and not isinstance(instance, bool)


# Control and format characters (newline, NUL, escape, zero-width and bidi marks, line and
# paragraph separators) never belong in a name: they hide in terminals, split lines in
# scripts and logs, and make two different names look the same.
HIDDEN_CATEGORIES = ("Cc", "Cf", "Zl", "Zp")


def hidden_character(text: str) -> tuple[int, str] | None:
    """(index, character) of the first control or format character in `text`, or None."""
    for i, ch in enumerate(text):
        if unicodedata.category(ch) in HIDDEN_CATEGORIES:
            return i, ch
    return None


def char_name(ch: str) -> str:
    """'U+000A (LINE FEED)': how a hidden character is named in a message."""
    name = unicodedata.name(ch, "") or {"\n": "LINE FEED", "\t": "TAB", "\r": "CARRIAGE RETURN",
                                        "\x00": "NUL"}.get(ch, "control character")
    return f"U+{ord(ch):04X} ({name})"


def ecma_pattern(pattern: str) -> str:
    """A schema pattern with ECMA-262 anchors for Python's `re`.

    JSON Schema patterns are ECMA-262, where `$` (no multiline flag) matches only at the
    very end. Python's `$` also matches before a final newline, so `^[a-z]+$` accepted
    "name\\n". Every `$` outside a character class becomes `\\Z` (end of text only)."""
    out, i, in_class = [], 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "$":
            ch = r"\Z"
        out.append(ch)
        i += 1
    return "".join(out)


@lru_cache(maxsize=256)
def compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(ecma_pattern(pattern))


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterable[ValidationError]:
    """The `pattern` keyword with ECMA-262 anchors, and one rule for every patterned field:
    no control or format characters (the fields with a pattern are the names)."""
    if not isinstance(instance, str):
        return
    if hidden_character(instance) is not None or not compiled(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


_Validator = validators.extend(
    Draft202012Validator,
    validators={"pattern": _pattern},
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer),
)


@lru_cache(maxsize=1)
def validator() -> Draft202012Validator:
    schema = registry.experiment_schema(schemas.load_json("experiment.schema.json"),
                                        deployment_modes())
    Draft202012Validator.check_schema(schema)
    return _Validator(schema)


MAX_SHOWN = 60  # characters of a value or key echoed back; longer ones end in an ellipsis


def shorten(text: str, limit: int = MAX_SHOWN) -> str:
    """`text` cut to `limit` characters with '…': a 200k-character key is not echoed whole."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def format_path(path: Sequence[str | int]) -> str:
    """('parameters', 'tp-size', 'values', 1) -> 'parameters.tp-size.values[1]'."""
    out = ""
    for part in path:
        if isinstance(part, str):
            part = shorten(part)
        if isinstance(part, int):
            out += f"[{part}]"
        elif part and all(c.isalnum() or c in "-_" for c in part):
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]"
    return out


def did_you_mean(word: Any, options: Iterable[Any]) -> str:
    """A hint naming the closest option, or '' when nothing is close."""
    if not isinstance(word, str):
        return ""
    opts = [o for o in options if isinstance(o, str)]
    lowered = {o.lower(): o for o in opts}
    if word.lower() in lowered:
        return f"did you mean {lowered[word.lower()]!r}?"
    match = difflib.get_close_matches(word, opts, n=1, cutoff=0.6)
    return f"did you mean {match[0]!r}?" if match else ""


def describe(value: Any) -> str:
    """How a value reads in a message: its type for containers, the value for scalars."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the text {shorten(value)!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


_TYPE_WORDS = {
    "integer": "an integer",
    "number": "a number",
    "string": "text",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
    "null": "null",
}


def _type_words(expected: str | list[str]) -> str:
    names = [expected] if isinstance(expected, str) else list(expected)
    words = [_TYPE_WORDS.get(n, n) for n in names]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _shape_rejected(branch: list[ValidationError], parent: ValidationError) -> bool:
    """True when a oneOf/anyOf branch fails only because the value is the wrong type."""
    return any(e.validator == "type" and e.absolute_path == parent.absolute_path for e in branch)


def _keys_rejected(branch: list[ValidationError], parent: ValidationError) -> bool:
    """True when a branch refuses the field names themselves (unknown or missing ones)."""
    return any(
        e.validator in ("additionalProperties", "required")
        and e.absolute_path == parent.absolute_path
        for e in branch
    )


def specific(error: ValidationError) -> list[ValidationError]:
    """Replace a oneOf/anyOf error by the errors of the one branch that fits, if one does."""
    if error.validator not in ("oneOf", "anyOf") or not error.context:
        return [error]
    branches: dict[Any, list[ValidationError]] = defaultdict(list)
    for e in error.context:
        branches[e.relative_schema_path[0]].append(e)
    relevant = [b for b in branches.values() if not _shape_rejected(b, error)]
    if len(relevant) > 1:  # of several mappings, the one whose field names fit was meant
        fitting = [b for b in relevant if not _keys_rejected(b, error)]
        relevant = fitting if len(fitting) == 1 else relevant
    if len(relevant) == 1:
        return [leaf for e in relevant[0] for leaf in specific(e)]
    return [error]


def _expected(error: ValidationError) -> str:
    schema = error.schema if isinstance(error.schema, dict) else {}
    return schema.get("x-expected", "")


def _message(error: ValidationError) -> tuple[str, str]:
    """(message, hint) for one leaf error, in plain words."""
    v, value, arg = error.validator, error.instance, error.validator_value
    expected = _expected(error)
    if v == "type":
        return f"expected {expected or _type_words(arg)}, got {describe(value)}", ""
    if v == "enum":
        hint = did_you_mean(value, arg)
        if len(arg) > _MAX_LISTED and expected:
            return f"{describe(value)} is not {expected}", hint or "see docs/experiment.md"
        return f"{describe(value)} is not one of: {', '.join(map(str, arg))}", hint
    if v == "const":
        return f"must be {arg!r}, got {describe(value)}", ""
    if v == "pattern":
        hidden = hidden_character(value)
        if hidden is not None:
            return (
                f"contains {char_name(hidden[1])} at character {hidden[0] + 1}",
                "control and format characters (newlines, tabs, zero-width or bidi marks, "
                "line separators) are not allowed here",
            )
        return f"expected {expected or 'text matching ' + arg}, got {describe(value)}", ""
    if v in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        words = {
            "minimum": "at least",
            "exclusiveMinimum": "greater than",
            "maximum": "at most",
            "exclusiveMaximum": "less than",
        }[v]
        return f"must be {words} {arg}, got {value!r}", ""
    if v == "minLength":
        return ("must not be empty" if arg == 1 else f"must be at least {arg} characters"), ""
    if v == "maxLength":
        return f"must be at most {arg} characters, got {len(value)}", ""
    if v == "minItems":
        return ("must not be empty" if arg == 1 else f"needs at least {arg} items"), ""
    if v == "uniqueItems":
        seen, dup = [], None
        for item in value:
            if item in seen:
                dup = item
                break
            seen.append(item)
        return f"lists {dup!r} more than once", "each value may appear once"
    if v == "maxProperties":
        return f"expected {expected}", ""
    if v in ("oneOf", "anyOf"):
        if v == "oneOf" and not error.context:
            return f"expected {expected or 'one form only'}, but it matches more than one", ""
        return f"expected {expected or 'a different value'}, got {describe(value)}", ""
    return error.message, ""


def _property_hint(schema: dict, name: str) -> str:
    prop = (schema.get("properties") or {}).get(name)
    desc = prop.get("description", "") if isinstance(prop, dict) else ""
    return desc.split(". ")[0].rstrip(".") if desc else ""


def _diagnostics(error: ValidationError, doc: Any, file: str) -> list[Diagnostic]:
    path: Path_ = tuple(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = list(schema.get("properties") or {})
        out = []
        for key in error.instance:
            if key in known:
                continue
            line, col = yamlio.key_position(doc, (*path, key))
            hint = did_you_mean(key, known) or (
                f"allowed here: {', '.join(known)}" if known else "no fields allowed here"
            )
            out.append(
                Diagnostic(file, line, col, format_path((*path, key)),
                           f"unknown field {shorten(str(key))!r}", hint)
            )
        return out
    if error.validator == "required" and isinstance(error.instance, dict):
        line, col = yamlio.position(doc, path)
        out = []
        for name in error.validator_value:
            if name not in error.instance:
                hint = _property_hint(schema, name) or _expected(error)
                out.append(
                    Diagnostic(
                        file,
                        line,
                        col,
                        format_path((*path, name)),
                        f"missing required field {name!r}",
                        hint,
                    )
                )
        return out
    if "propertyNames" in error.relative_schema_path or "propertyNames" in error.schema_path:
        key = error.instance
        line, col = yamlio.key_position(doc, (*path, key))
        hint = (f"write it without dashes: {shorten(key.lstrip('-'))!r}"
                if str(key).startswith("-") else "")
        hidden = hidden_character(key) if isinstance(key, str) else None
        if hidden is not None:
            message = (f"{shorten(key)!r} is not allowed as a key here: it contains "
                       f"{char_name(hidden[1])}")
            hint = "control and format characters are not allowed in names"
        else:
            message = f"{shorten(str(key))!r} is not allowed as a key here: expected " \
                f"{_expected(error)}"
        return [
            Diagnostic(
                file,
                line,
                col,
                format_path((*path, key)),
                message,
                hint,
            )
        ]
    message, hint = _message(error)
    line, col = yamlio.position(doc, path)
    return [Diagnostic(file, line, col, format_path(path), message, hint)]


def check(doc: Any, plain: Any, file: str) -> list[Diagnostic]:
    """Every schema problem in `plain` (positions taken from the ruamel `doc`), one per field."""
    leaves = [leaf for err in validator().iter_errors(plain) for leaf in specific(err)]
    # A wrong discriminator (e.g. `type: boolean`) makes the fields it would require moot.
    wrong_kind = {
        tuple(e.absolute_path)[:-1]
        for e in leaves
        if e.validator in ("enum", "const") and e.absolute_path
    }
    leaves = [
        e
        for e in leaves
        if not (e.validator == "required" and tuple(e.absolute_path) in wrong_kind)
    ]
    diags: dict[str, Diagnostic] = {}
    for leaf in leaves:
        for d in _diagnostics(leaf, doc, file):
            diags.setdefault(d.path, d)
    return sorted(diags.values(), key=lambda d: (d.line, d.column, d.path))
