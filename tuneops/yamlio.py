"""Load experiment YAML safely, keeping line/column positions for error messages.

ruamel.yaml's round-trip loader records where every key and item came from; we use it so
that a schema error can point at `file:line:column`. Duplicate keys are rejected by
ruamel itself; alias bombs ("billion laughs") are rejected here before construction by
measuring the expanded size of the composed node graph.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, SequenceNode
from ruamel.yaml.scalarbool import ScalarBoolean

from tuneops.errors import Diagnostic, UserError

MAX_BYTES = 1_000_000
MAX_EXPANDED_NODES = 200_000

Path_ = tuple[str | int, ...]


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.allow_duplicate_keys = False
    return y


def _expanded_size(node: Any, memo: dict[int, int], depth: int = 0) -> int:
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = MAX_EXPANDED_NODES + 1  # a cycle counts as infinite
    if isinstance(node, MappingNode):
        size = 1 + sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    elif isinstance(node, SequenceNode):
        size = 1 + sum(_expanded_size(v, memo) for v in node.value)
    else:
        size = 1
    memo[key] = min(size, MAX_EXPANDED_NODES + 1)
    return memo[key]


def _fail(file: str, message: str, line: int = 0, column: int = 0, hint: str = "") -> UserError:
    return UserError([Diagnostic(file, line, column, "", message, hint)])


def read_text(path: Path) -> str:
    """Read a file as UTF-8 text, refusing binaries, empties and giants with a clear message."""
    name = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _fail(name, f"cannot read file: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise _fail(name, f"file is {len(data)} bytes; experiments are limited to {MAX_BYTES}")
    if b"\x00" in data:
        raise _fail(name, "not a text file (contains NUL bytes)", hint="expected UTF-8 YAML")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _fail(name, f"not UTF-8 text (bad byte at offset {exc.start})") from None
    if not text.strip() or all(
        ln.strip() == "" or ln.lstrip().startswith("#") for ln in text.splitlines()
    ):
        raise _fail(name, "file is empty", hint="an experiment needs apiVersion, kind, metadata…")
    return text


def load(path: Path, text: str | None = None) -> Any:
    """Parse one YAML document; raise UserError pointing at the problem."""
    name = str(path)
    text = read_text(path) if text is None else text
    y = _yaml()
    try:
        nodes = list(y.compose_all(text))
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        problem = exc.problem or exc.context or "invalid YAML"
        raise _fail(name, f"YAML syntax error: {problem}", line, col) from None
    except YAMLError as exc:
        raise _fail(name, f"YAML syntax error: {exc}") from None
    if len(nodes) != 1:
        raise _fail(name, f"expected one YAML document, found {len(nodes)}")
    if _expanded_size(nodes[0], {}) > MAX_EXPANDED_NODES:
        raise _fail(
            name,
            "YAML aliases expand to too many nodes (an alias bomb?)",
            nodes[0].start_mark.line + 1,
            1,
            hint=f"at most {MAX_EXPANDED_NODES} after expanding anchors",
        )
    try:
        return _yaml().load(text)
    except DuplicateKeyError as exc:
        mark = exc.problem_mark
        key = (exc.problem or "").split('"')[1] if '"' in (exc.problem or "") else ""
        raise _fail(
            name,
            f"duplicate key {key!r}" if key else "duplicate key",
            mark.line + 1 if mark else 0,
            mark.column + 1 if mark else 0,
            hint="each key may appear once",
        ) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise _fail(
            name, f"YAML error: {exc.problem}", mark.line + 1 if mark else 0,
            mark.column + 1 if mark else 0,
        ) from None


def position(doc: Any, path: Path_) -> tuple[int, int]:
    """1-based (line, column) of the value at `path`, or of the nearest ancestor that exists."""
    line, col = 1, 1
    node = doc
    for part in path:
        lc = getattr(node, "lc", None)
        try:
            if isinstance(part, int) and isinstance(node, list):
                if lc is not None:
                    line, col = (x + 1 for x in lc.item(part))
                node = node[part]
            elif isinstance(node, dict) and part in node:
                if lc is not None:
                    ln, cl = lc.value(part) if not isinstance(node[part], (dict, list)) else lc.key(
                        part
                    )
                    line, col = ln + 1, cl + 1
                node = node[part]
            else:
                break
        except (KeyError, IndexError, TypeError):
            break
    return line, col


def key_position(doc: Any, path: Path_) -> tuple[int, int]:
    """Position of the *key* at the end of `path` (for unknown-field errors)."""
    parent_path, last = path[:-1], path[-1] if path else None
    parent = doc
    for part in parent_path:
        try:
            parent = parent[part]
        except (KeyError, IndexError, TypeError):
            return position(doc, parent_path)
    lc = getattr(parent, "lc", None)
    if isinstance(parent, dict) and last in parent and lc is not None:
        ln, cl = lc.key(last)
        return ln + 1, cl + 1
    return position(doc, parent_path)


def to_plain(obj: Any) -> Any:
    """Round-trip containers to plain dict/list/scalars (what jsonschema and hashing want)."""
    if isinstance(obj, dict):
        return {str(k): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [to_plain(v) for v in obj]
    if isinstance(obj, ScalarBoolean):  # an anchored true/false: an int subclass
        return bool(obj)
    if isinstance(obj, bool) or obj is None:
        return obj
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return float(obj)
    if isinstance(obj, str):
        return str(obj)
    return obj
