"""Load experiment YAML safely, keeping line/column positions for error messages.

libyaml (PyYAML's C parser) scans the text; tuneops.yamlnodes composes its events into
nodes as YAML 1.2 (the semantics ruamel.yaml gave before: `yes`/`on` are text, `0o17` is
octal), counting depth as it goes, and constructs dicts and lists that remember where
each key, value and item was written, so that a schema error can point at
`file:line:column`. The file is parsed once. ruamel.yaml is only used to *write* YAML
(promote.py's round-trip edits): its pure-Python scanner made a 1 MB experiment take
seconds to validate.

Everything hostile input can do to a loader is bounded here, each refusal pointing at its
line and column: only regular files, read with a bounded read (a FIFO or `/dev/zero`
neither hangs nor fills memory); nesting depth, also after expanding aliases (deeper
documents would exhaust Python's recursion in every later stage); alias bombs ("billion
laughs"), by the expanded size of the node graph; integer literals longer than
MAX_INT_DIGITS; floats that are not finite (`.nan`, `.inf`, `1e999`); NUL characters; and
mapping keys that are not text (`{1: a, "1": b}` would collapse into one key). Duplicate
keys are refused at the second one.
"""

from __future__ import annotations

import gc
import math
import os
import re
import stat
import unicodedata
from pathlib import Path
from typing import Any

from yaml.error import MarkedYAMLError, YAMLError
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from tuneops import yamlnodes
from tuneops.errors import Diagnostic, UserError

MAX_BYTES = 1_000_000
MAX_EXPANDED_NODES = 200_000
MAX_DEPTH = 32  # nesting levels; an experiment needs 6
MAX_INT_DIGITS = 19  # int64's range: no field means anything larger

Path_ = tuple[str | int, ...]
_SURROGATE = re.compile("[\ud800-\udfff]")
_ODD_BREAK = re.compile("[\u2028\u2029\x85]")  # line breaks only to YAML 1.1
_INT, _FLOAT, _STR = (f"tag:yaml.org,2002:{t}" for t in ("int", "float", "str"))
# Plain data only: !!set, !!omap, !!binary, !!python/… and local tags build objects that
# no field takes.
_TAGS = {
    f"tag:yaml.org,2002:{t}"
    for t in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp")
}


def _fail(file: str, message: str, line: int = 0, column: int = 0, hint: str = "") -> UserError:
    return UserError([Diagnostic(file, line, column, "", message, hint)])


def read_bounded(path: Path, limit: int, what: str = "file") -> bytes:
    """At most `limit` bytes of a regular file, or OSError/ValueError saying why not.

    Opened non-blocking, so a FIFO cannot hang the open, and checked to be a regular file
    (after following symlinks) before a single byte is read; the read itself stops at
    `limit + 1` bytes, so a device or a growing file cannot fill memory.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
            raise ValueError(f"{what} is {kind}")
        if st.st_size > limit:
            raise ValueError(f"{what} is {st.st_size} bytes; the limit is {limit}")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise ValueError(f"{what} is more than {limit} bytes; the limit is {limit}")
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_text(path: Path) -> str:
    """Read a file as UTF-8 text, refusing binaries, empties, giants and non-files."""
    name = str(path)
    try:
        data = read_bounded(path, MAX_BYTES, "the experiment file")
    except OSError as exc:
        raise _fail(name, f"cannot read file: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise _fail(name, str(exc), hint="an experiment is a YAML text file") from None
    if b"\x00" in data:
        raise _fail(name, "not a text file (contains NUL bytes)", hint="expected UTF-8 YAML")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _fail(name, f"not UTF-8 text (bad byte at offset {exc.start})") from None
    odd = _ODD_BREAK.search(text)
    if odd:  # YAML 1.1 parsers (ruamel's reader) break lines there, YAML 1.2 does not
        i = odd.start()
        line, col = text.count("\n", 0, i) + 1, i - text.rfind("\n", 0, i)
        raise _fail(name, f"U+{ord(odd.group()):04X} ({unicodedata.name(odd.group(), 'NEXT LINE')})"
                    " is not allowed in an experiment", line, col,
                    hint="parsers disagree whether it ends a line; inside a quoted value write "
                    "it escaped (\"\\u2028\")")
    if not text.strip() or all(
        ln.strip() == "" or ln.lstrip().startswith("#") for ln in text.splitlines()
    ):
        raise _fail(name, "file is empty", hint="an experiment needs apiVersion, kind, metadata…")
    return text


def _at(node: Any) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _scalar_problem(node: ScalarNode) -> tuple[str, str] | None:
    """(message, hint) when a scalar is a value no field can use, else None."""
    value = node.value
    if node.tag == _STR and value.isascii() and "\x00" not in value:
        return None  # most scalars: nothing to look at
    if "\x00" in value:
        return "text contains a NUL character", "no field can carry one"
    if _SURROGATE.search(value):
        try:  # JSON's "\ud83d\ude80" spelling of one character: join the pair
            node.value = value.encode("utf-16", "surrogatepass").decode("utf-16")
        except UnicodeDecodeError:
            return "text contains a lone UTF-16 surrogate", "write the character itself"
    if node.tag == _INT and len(value) > MAX_INT_DIGITS:
        body = value.strip().lstrip("+-")
        if body[:2].lower() in ("0x", "0o", "0b"):
            body = body[2:]
        digits = sum(c.isalnum() for c in body)
        if digits > MAX_INT_DIGITS:
            return (
                f"integer literal has {digits} digits; at most {MAX_INT_DIGITS}",
                "no field takes a number that large",
            )
    elif node.tag == _FLOAT:
        try:
            number = float(value.replace("_", ""))
        except ValueError:  # .nan, .inf and their spellings
            number = math.nan if "nan" in value.lower() else math.inf
        if not math.isfinite(number):
            return (f"{value!r} is not a finite number", "use an ordinary number")
    return None


def _check_nodes(file: str, root: Any) -> None:
    """Reject alias bombs, over-deep nesting and unusable scalars, pointing at each."""
    memo: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded size, expanded depth)
    # Iterative post-order walk: (node, children visited?)
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            size, deepest = 1, 0
            for kid in _children(node):
                kid_size, kid_depth = memo[id(kid)]
                size += kid_size
                deepest = max(deepest, kid_depth)
            depth = 1 + deepest
            memo[key] = (min(size, MAX_EXPANDED_NODES + 1), depth)
            if size > MAX_EXPANDED_NODES:
                raise _fail(
                    file,
                    "YAML aliases expand to too many nodes (an alias bomb?)",
                    root.start_mark.line + 1,
                    1,
                    hint=f"at most {MAX_EXPANDED_NODES} after expanding anchors",
                )
            if depth > MAX_DEPTH:
                raise _fail(
                    file,
                    f"nesting is deeper than {MAX_DEPTH} levels after expanding aliases",
                    *_at(node),
                    hint="an experiment needs a handful",
                )
            continue
        if key in memo:
            continue
        if node.tag not in _TAGS:
            raise _fail(
                file, f"the tag {node.tag.replace('tag:yaml.org,2002:', '!!')} is not allowed",
                *_at(node),
                hint="plain text, numbers, true/false, null, lists and mappings only",
            )
        if node.__class__ is ScalarNode:
            problem = _scalar_problem(node)
            if problem:
                raise _fail(file, problem[0], *_at(node), hint=problem[1])
            memo[key] = (1, 1)
            continue
        memo[key] = (MAX_EXPANDED_NODES + 1, MAX_DEPTH + 1)  # a cycle counts as infinite
        if isinstance(node, MappingNode):
            for k, _ in node.value:
                if isinstance(k, ScalarNode) and k.tag == "tag:yaml.org,2002:merge":
                    raise _fail(
                        file, "merge keys (<<) are not supported", *_at(k),
                        hint="write the fields out: an experiment is reviewed as it reads, "
                        "and a merge hides what a block holds (anchors and aliases of whole "
                        "values are fine)",
                    )
                if not (isinstance(k, ScalarNode) and k.tag == _STR):
                    scalar = isinstance(k, ScalarNode)
                    raise _fail(
                        file,
                        f"mapping key {k.value!r} is not text" if scalar
                        else "a mapping key is a collection, not text",
                        *_at(k),
                        hint=f'keys are names: quote it, "{k.value}"' if scalar else "",
                    )
        stack.append((node, True))
        stack.extend((k, False) for k in reversed(_children(node)) if id(k) not in memo)


def _children(node: Any) -> list[Any]:
    if isinstance(node, MappingNode):
        return [x for pair in node.value for x in pair]
    if isinstance(node, SequenceNode):
        return list(node.value)
    return []


def load(path: Path, text: str | None = None) -> Any:
    """Parse one YAML document (once); raise UserError pointing at the problem.

    The cyclic garbage collector is paused meanwhile: composing a 1 MB file makes some
    200,000 objects, none of them garbage, and the collector's repeated full passes over
    them took longer than the parse itself.
    """
    name = str(path)
    text = read_text(path) if text is None else text
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _load(name, text)
    finally:
        if was_enabled:
            gc.enable()


def _load(name: str, text: str) -> Any:
    try:
        nodes = yamlnodes.compose_all(text, MAX_DEPTH)
    except yamlnodes.Problem as exc:
        mark = exc.mark
        raise _fail(name, exc.message, mark.line + 1, mark.column + 1, exc.hint) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        problem = exc.problem or exc.context or "invalid YAML"
        raise _fail(name, f"YAML syntax error: {problem}", line, col) from None
    except YAMLError as exc:  # the reader's: a character YAML does not allow
        raise _fail(name, f"YAML syntax error: {exc}") from None
    if len(nodes) != 1:
        raise _fail(name, f"expected one YAML document, found {len(nodes)}")
    _check_nodes(name, nodes[0])
    try:
        return yamlnodes.construct(nodes[0])
    except yamlnodes.DuplicateKey as exc:
        raise _fail(
            name, f"duplicate key {exc.key!r}", exc.mark.line + 1, exc.mark.column + 1,
            hint="each key may appear once",
        ) from None
    except (ValueError, OverflowError, TypeError, AttributeError, KeyError,
            IndexError, YAMLError) as exc:
        # a scalar no constructor takes, e.g. `!!int x` or a timestamp out of range
        raise _fail(name, f"YAML value cannot be read: {exc}") from None


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
    if isinstance(obj, bool) or obj is None:
        return obj
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return float(obj)
    if isinstance(obj, str):
        return str(obj)
    return obj
