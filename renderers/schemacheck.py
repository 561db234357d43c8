"""jsonschema validation that stays fast over thousands of near-identical manifests.

Validating one InferenceService with jsonschema costs about a millisecond, mostly
per-node overhead; 5,000 trials render 10,000 manifests that differ in a handful of
values. This validator walks the plain structure itself — objects whose schema only has
`properties` / `required` / `additionalProperties`, arrays whose schema only has `items`,
and schemas that only name a `type` (the meaning of these keywords is not in doubt) — and
hands every other subschema (patterns, enums, anyOf, sets, ...) to jsonschema, memoized
per (subschema, value). The errors are the ones jsonschema finds on the whole document;
tests compare the two.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from jsonschema import Draft7Validator, validators
from jsonschema.exceptions import ValidationError

Path_ = tuple[Any, ...]
Error = tuple[Path_, str]

_OBJECT_KEYS = frozenset(
    {"type", "properties", "required", "additionalProperties", "propertyNames"}
)
_ARRAY_KEYS = frozenset({"type", "items"})
_SCALARS = (str, int, float, bool, type(None))
_MEMO_LIMIT = 200_000


def _unique_keys(validator, keys, instance, schema):
    """`x-kubernetes-list-type: map`: items are unique by their `x-kubernetes-list-map-keys`."""
    if not validator.is_type(instance, "array"):
        return
    seen: set[str] = set()
    for item in instance:
        if not isinstance(item, dict):
            continue
        ident = json.dumps([item.get(k) for k in keys], sort_keys=True, default=str)
        if ident in seen:
            yield ValidationError(f"duplicate entry for list-map keys {keys}: {ident}")
        seen.add(ident)


JsonSchemaValidator = validators.extend(Draft7Validator, {"uniqueKeys": _unique_keys})


def _is_type(value: Any, name: str) -> bool:
    """Draft 7's meaning of `type`."""
    if name == "string":
        return isinstance(value, str)
    if name == "integer":
        if isinstance(value, bool):
            return False
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list)
    if name == "null":
        return value is None
    return False


def _type_ok(schema: dict, value: Any) -> bool:
    want = schema.get("type")
    if want is None:
        return True
    if isinstance(want, list):
        return any(_is_type(value, t) for t in want)
    return _is_type(value, want)


_ANY, _TYPE, _OBJECT, _ARRAY, _LEAF = range(5)


class _Node:
    """One subschema, sorted by how it is checked; children compiled on first use."""

    __slots__ = ("schema", "kind", "children", "names", "extra", "items", "check")

    def __init__(self, schema: Any) -> None:
        self.schema = schema
        self.check = None
        self.children: dict[str, _Node] = {}
        self.names = self.extra = self.items = None
        keys = schema.keys() if isinstance(schema, dict) else ()
        if schema is True or schema == {}:
            self.kind = _ANY
        elif schema is False:
            self.kind = _LEAF
        elif keys <= _OBJECT_KEYS and schema.get("type", "object") == "object" and (
            "properties" in keys or "additionalProperties" in keys
        ):
            self.kind = _OBJECT
        elif keys <= _ARRAY_KEYS and schema.get("type", "array") == "array" and isinstance(
            schema.get("items", True), (dict, bool)
        ):
            self.kind = _ARRAY
        elif keys == {"type"}:
            self.kind = _TYPE
            if schema["type"] == "string":
                self.check = lambda value: isinstance(value, str)
            else:
                self.check = lambda value: _type_ok(schema, value)
        else:
            self.kind = _LEAF


class Validator:
    """Errors of an instance against one (translated) CRD schema."""

    def __init__(self, schema: dict) -> None:
        self.schema = schema
        self.root = _Node(schema)
        self._memo: dict[tuple, list[Error]] = {}
        self._leaf_validators: dict[int, Any] = {}
        self._lock = threading.Lock()

    def errors(self, instance: Any) -> list[Error]:
        """(path, message) for every problem, like jsonschema's iter_errors on the whole."""
        out: list[Error] = []
        self._walk(self.root, instance, (), out)
        return out

    def _walk(self, node: _Node, value: Any, path: Path_, out: list[Error]) -> None:
        kind = node.kind
        if kind == _ANY:
            return
        if kind == _OBJECT and isinstance(value, dict):
            self._object(node, value, path, out)
        elif kind == _ARRAY and isinstance(value, list):
            items = node.items
            if items is None:
                items = node.items = _Node(node.schema.get("items", True))
            if items.kind == _TYPE:  # e.g. a command: only look closer at a wrong item
                check = items.check
                for i, item in enumerate(value):
                    if not check(item):
                        self._leaf(items.schema, item, (*path, i), out)
            elif items.kind != _ANY:
                for i, item in enumerate(value):
                    self._walk(items, item, (*path, i), out)
        elif kind == _TYPE and node.check(value):
            return
        else:
            self._leaf(node.schema, value, path, out)

    def _object(self, node: _Node, value: dict, path: Path_, out: list[Error]) -> None:
        schema = node.schema
        for name in schema.get("required", ()):
            if name not in value:
                out.append((path, f"{name!r} is a required property"))
        if "propertyNames" in schema:
            if node.names is None:
                node.names = _Node(schema["propertyNames"])
            for key in value:  # jsonschema reports these at the object itself
                self._walk(node.names, key, path, out)
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        unexpected = []
        for key, item in value.items():
            if key in props:
                child = node.children.get(key)
                if child is None:
                    child = node.children[key] = _Node(props[key])
                if child.kind != _TYPE or not child.check(item):
                    self._walk(child, item, (*path, key), out)
            elif extra is False:
                unexpected.append(key)
            elif isinstance(extra, dict):
                if node.extra is None:
                    node.extra = _Node(extra)
                self._walk(node.extra, item, (*path, key), out)
        if unexpected:
            listed = ", ".join(repr(k) for k in unexpected)
            verb = "was" if len(unexpected) == 1 else "were"
            message = f"Additional properties are not allowed ({listed} {verb} unexpected)"
            out.append((path, message))

    def _leaf(self, schema: Any, value: Any, path: Path_, out: list[Error]) -> None:
        if isinstance(value, _SCALARS):
            key = (id(schema), type(value), value)
        elif isinstance(value, list) and all(isinstance(v, _SCALARS) for v in value):
            key = (id(schema), list, tuple((type(v), v) for v in value))
        else:
            key = (id(schema), None, json.dumps(value, sort_keys=True, default=str))
        found = self._memo.get(key)
        if found is None:
            with self._lock:
                v = self._leaf_validators.get(id(schema))
                if v is None:
                    v = self._leaf_validators[id(schema)] = JsonSchemaValidator(schema)
            found = [(tuple(e.absolute_path), e.message) for e in v.iter_errors(value)]
            if len(self._memo) > _MEMO_LIMIT:
                self._memo.clear()
            self._memo[key] = found
        out.extend(((*path, *p), m) for p, m in found)
