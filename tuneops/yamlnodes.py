"""Compose and construct experiment YAML fast, as YAML 1.2, keeping every position.

Parsing a 1 MB experiment with ruamel.yaml's pure-Python scanner took ~8 s; libyaml (through
PyYAML's C parser) scans the same file in a fraction of a second. Only libyaml's *events*
are used: the node graph is composed here, so nesting depth is counted (and refused past
the limit, at the node that crosses it) while parsing, before a hostile file can make any
recursion deep; and scalars are resolved by YAML 1.2's core rules, the rules ruamel.yaml
applied before (its `VersionedResolver` table for 1.2, copied below): `yes`, `no`, `on`,
`off` are text, `0o17` is octal, `017` is seventeen, `1:30` is text. PyYAML's own resolver
is YAML 1.1 and is never used. ruamel.yaml is kept for round-trip *writes* (promote.py).

Without libyaml (a platform with no wheel) PyYAML's pure-Python parser gives the same
events, slower.

Constructed mappings and lists carry `lc` like ruamel's round-trip containers
(`lc.key(k)`, `lc.value(k)`, `lc.item(i)`: 0-based line and column), which is all that
`yamlio.position` and `key_position` read.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

_T = "tag:yaml.org,2002:"
STR, SEQ, MAP, INT, FLOAT = (_T + t for t in ("str", "seq", "map", "int", "float"))
LIBYAML = bool(getattr(yaml, "__with_libyaml__", False))
if LIBYAML:
    from yaml.cyaml import CParser as _Parser
else:  # the pure-Python reader, scanner and parser: the same events, slower
    _Parser = yaml.SafeLoader

# ruamel.yaml 0.19's resolver.py `implicit_resolvers`, the (1, 2) rows, in its order:
# (tag, pattern, first characters it applies to; "" is the empty scalar).
_YAML12: list[tuple[str, str, Any]] = [
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("float", r"""^(?:
         [-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |[-+]?\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""", "-+0123456789."),
    ("int", r"""^(?:[-+]?0b[0-1_]+
        |[-+]?0o?[0-7_]+
        |[-+]?[0-9_]+
        |[-+]?0x[0-9a-fA-F_]+)$""", "-+0123456789"),
    ("merge", r"^(?:<<)$", "<"),
    ("null", r"^(?: ~ |null|Null|NULL | )$", ["~", "n", "N", ""]),
    ("timestamp", r"""^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]
        |[0-9][0-9][0-9][0-9] -[0-9][0-9]? -[0-9][0-9]?
        (?:[Tt]|[ \t]+)[0-9][0-9]?
        :[0-9][0-9] :[0-9][0-9] (?:\.[0-9]*)?
        (?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$""", "0123456789"),
    ("value", r"^(?:=)$", "="),
    ("yaml", r"^(?:!|&|\*)$", "!&*"),
]
_BY_FIRST: dict[str, list[tuple[str, re.Pattern[str]]]] = {}
for _name, _pattern, _firsts in _YAML12:
    for _c in _firsts:
        _BY_FIRST.setdefault(_c, []).append((_T + _name, re.compile(_pattern, re.X)))
# ruamel's SafeConstructor.bool_values: an explicit `!!bool yes` still reads as true.
_BOOLS = {"yes": True, "no": False, "y": True, "n": False, "true": True, "false": False,
          "on": True, "off": False}


def resolve(value: str) -> str:
    """The YAML 1.2 tag of a plain scalar (what ruamel.yaml's 1.2 resolver gives)."""
    if value.isdigit() and value.isascii():  # the common case, and what the int row says
        return INT
    for tag, regexp in _BY_FIRST.get(value[:1], ()):
        if regexp.match(value):
            return tag
    return STR


class Problem(Exception):
    """A refusal found while composing: message, 0-based mark, hint."""

    def __init__(self, message: str, mark: Any, hint: str = "") -> None:
        super().__init__(message)
        self.message, self.mark, self.hint = message, mark, hint


class _Composer:
    """libyaml's events to PyYAML nodes, counting depth as ruamel's composer did."""

    def __init__(self, parser: Any, max_depth: int) -> None:
        self.parser = parser
        self.max_depth = max_depth
        self.anchors: dict[str, Any] = {}

    def documents(self) -> list[Any]:
        get = self.parser.get_event
        get()  # StreamStartEvent
        roots = []
        while True:
            event = get()
            if isinstance(event, StreamEndEvent):
                return roots
            assert isinstance(event, DocumentStartEvent)
            if event.version is not None and tuple(event.version) != (1, 2):
                raise Problem(
                    f"the %YAML {'.'.join(map(str, event.version))} directive is not supported",
                    event.start_mark,
                    "experiments are YAML 1.2: drop the directive (yes/no/on/off are text, "
                    "0o17 is octal)",
                )
            self.anchors = {}
            roots.append(self.node(get(), 0))
            get()  # DocumentEndEvent

    def scalar(self, event: Any) -> Any:
        tag = event.tag
        if tag is None or tag == "!":
            tag = resolve(event.value) if event.implicit[0] else STR
        node = ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
        if event.anchor is not None:
            self.anchors[event.anchor] = node
        return node

    def node(self, event: Any, depth: int) -> Any:
        kind = event.__class__
        if kind is AliasEvent:
            if event.anchor not in self.anchors:
                raise Problem(f"YAML syntax error: found undefined alias {event.anchor!r}",
                              event.start_mark)
            return self.anchors[event.anchor]
        depth += 1
        if depth > self.max_depth:
            raise Problem(f"nesting is deeper than {self.max_depth} levels", event.start_mark,
                          "an experiment needs a handful")
        if kind is ScalarEvent:
            return self.scalar(event)
        # Scalars inside a collection that is not at the limit are composed inline: most
        # nodes are scalars, and a call per node was most of the time spent here.
        inline = depth < self.max_depth
        get, scalar = self.parser.get_event, self.scalar
        tag = event.tag
        if kind is SequenceStartEvent:
            node = SequenceNode(SEQ if tag in (None, "!") else tag, [], event.start_mark, None)
            if event.anchor is not None:  # before the items: ruamel allowed `&a [*a]`
                self.anchors[event.anchor] = node
            items = node.value
            child = get()
            while child.__class__ is not SequenceEndEvent:
                if inline and child.__class__ is ScalarEvent:
                    items.append(scalar(child))
                else:
                    items.append(self.node(child, depth))
                child = get()
        else:
            assert kind is MappingStartEvent
            node = MappingNode(MAP if tag in (None, "!") else tag, [], event.start_mark, None)
            if event.anchor is not None:
                self.anchors[event.anchor] = node
            pairs = node.value
            child = get()
            while child.__class__ is not MappingEndEvent:
                if inline and child.__class__ is ScalarEvent:
                    key = scalar(child)
                else:
                    key = self.node(child, depth)
                child = get()
                if inline and child.__class__ is ScalarEvent:
                    pairs.append((key, scalar(child)))
                else:
                    pairs.append((key, self.node(child, depth)))
                child = get()
        node.end_mark = child.end_mark
        return node


# What libyaml refuses although YAML allows it; PyYAML's pure parser reads these the way
# ruamel.yaml did: JSON's escaped surrogate pairs ("\ud83d\ude80", joined by yamlio) and
# flow collections nested past libyaml's 1,000 levels, which its scanner reaches while
# looking ahead (the pure parser lets the composer stop at the level that crosses
# max_depth, and say where).
_LIBYAML_ONLY = ("invalid Unicode character escape code", "exceeded maximum nesting depth")


def compose_all(text: str, max_depth: int) -> list[Any]:
    """Every document's root node; yaml.YAMLError for a syntax error, Problem for a refusal."""
    try:
        return _compose_with(_Parser, text, max_depth)
    except yaml.MarkedYAMLError as exc:
        if not (LIBYAML and any(p in str(exc.problem) for p in _LIBYAML_ONLY)):
            raise
    return _compose_with(yaml.SafeLoader, text, max_depth)


def _compose_with(parser: Any, text: str, max_depth: int) -> list[Any]:
    composer = _Composer(parser(text), max_depth)
    try:
        return composer.documents()
    finally:
        dispose = getattr(composer.parser, "dispose", None)
        if dispose:
            dispose()


class LineCol:
    """Where a container's keys, values and items start (0-based), as ruamel's `.lc`."""

    __slots__ = ("_at",)

    def __init__(self) -> None:
        self._at: dict[Any, tuple[int, int, int, int]] = {}

    def key(self, k: Any) -> tuple[int, int]:
        return self._at[k][:2]

    def value(self, k: Any) -> tuple[int, int]:
        return self._at[k][2:]

    def item(self, i: int) -> tuple[int, int]:
        return self._at[i][:2]


class PosDict(dict):  # type: ignore[type-arg]
    """A mapping that remembers where each key and value were written."""

    def __init__(self) -> None:
        super().__init__()
        self.lc = LineCol()


class PosList(list):  # type: ignore[type-arg]
    """A list that remembers where each item was written."""

    def __init__(self) -> None:
        super().__init__()
        self.lc = LineCol()


class DuplicateKey(Exception):
    """A key written twice in one mapping (YAML would silently keep the last)."""

    def __init__(self, key: str, mark: Any) -> None:
        super().__init__(f"duplicate key {key!r} at line {mark.line + 1}")
        self.key, self.mark = key, mark


def _int(text: str) -> int:
    """ruamel's RoundTripConstructor.construct_yaml_int under YAML 1.2 (`017` is 17)."""
    digits = text.replace("_", "")
    sign = -1 if digits[:1] == "-" else 1
    digits = digits[1:] if digits[:1] in ("+", "-") else digits
    base = {"0b": 2, "0x": 16, "0o": 8}.get(digits[:2], 10)
    return sign * int(digits[2:] if base != 10 else digits, base)


def _float(text: str) -> float:
    """ruamel's construct_yaml_float under YAML 1.2: `_` ignored, `.inf`/`.nan` spelled."""
    digits = text.replace("_", "").lower()
    sign = -1.0 if digits[:1] == "-" else 1.0
    digits = digits[1:] if digits[:1] in ("+", "-") else digits
    if digits == ".inf":
        return sign * float("inf")
    if digits == ".nan":
        return float("nan")
    return sign * float(digits)


_SAFE = yaml.constructor.SafeConstructor()


def _timestamp(node: Any) -> Any:
    return _SAFE.construct_yaml_timestamp(node)


_SCALARS = {
    _T + "null": lambda node: None,
    _T + "bool": lambda node: _BOOLS[node.value.lower()],
    FLOAT: lambda node: _float(node.value),
    _T + "timestamp": _timestamp,
}


def construct(root: Any) -> Any:
    """Plain Python values (PosDict/PosList) from a checked node graph; aliases shared.

    The graph has been checked (depth, size, tags, text keys), so plain recursion is safe.
    Collections are built once and shared by their aliases, as ruamel.yaml did.
    """
    made: dict[int, Any] = {}

    def scalar(node: Any) -> Any:
        tag, text = node.tag, node.value
        if tag == STR:
            return text
        if tag == INT:
            return int(text) if text.isdigit() else _int(text)
        return _SCALARS[tag](node)

    def build(node: Any) -> Any:
        if node.__class__ is ScalarNode:
            return scalar(node)
        done = made.get(id(node))
        if done is not None:
            return done
        if node.__class__ is SequenceNode:
            items = made[id(node)] = PosList()
            at = items.lc._at
            for child in node.value:
                mark = child.start_mark
                at[len(items)] = (mark.line, mark.column, mark.line, mark.column)
                items.append(build(child))
            return items
        mapping = made[id(node)] = PosDict()
        at = mapping.lc._at
        for key_node, value_node in node.value:
            key = scalar(key_node)  # checked: every key is a text scalar
            if key in mapping:
                raise DuplicateKey(key, key_node.start_mark)
            k, v = key_node.start_mark, value_node.start_mark
            at[key] = (k.line, k.column, v.line, v.column)
            mapping[key] = build(value_node)
        return mapping

    return build(root)
