"""Turn values into inert text: YAML scalars and blocks, shell words, Kubernetes command words.

Every value that reaches a rendered file passes through one of these functions, so a
value holding quotes, newlines, shell metacharacters or template syntax (`{{ 7*7 }}`)
comes out as data, never as structure. YAML strings are always double-quoted and
pure ASCII (anything else is escaped), so no YAML reader can take them for a number,
a boolean, a comment, an anchor or a second line.
"""

from __future__ import annotations

import math
import re
import shlex
from typing import Any

_SIMPLE_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\n": "\\n",
    "\t": "\\t",
    "\r": "\\r",
    "\0": "\\0",
}


_PLAIN_ASCII = re.compile(r'[ !#-\[\]-~]*')  # printable ASCII except " and \


def yaml_string(text: str) -> str:
    """A double-quoted YAML scalar in printable ASCII that reads back as exactly `text`."""
    if _PLAIN_ASCII.fullmatch(text):
        return f'"{text}"'
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[ch])
        elif 0x20 <= code < 0x7F:
            out.append(ch)
        elif code <= 0xFF:
            out.append(f"\\x{code:02x}")
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def yaml_scalar(value: Any) -> str:
    """One YAML scalar: strings quoted, numbers and booleans plain, None as null."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot render a non-finite number: {value!r}")
        return repr(value)
    if isinstance(value, str):
        return yaml_string(value)
    raise TypeError(f"not a YAML scalar: {type(value).__name__}")


_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*")
_YAML_WORDS = frozenset(
    "y n yes no on off true false null".split()
)  # YAML 1.1 readers take these for booleans / null


def yaml_key(key: str) -> str:
    """A mapping key: plain when it cannot be misread, quoted otherwise."""
    if _PLAIN_KEY.fullmatch(key) and key.lower() not in _YAML_WORDS:
        return key
    return yaml_string(key)


def yaml_block(value: Any, indent: int) -> str:
    """A value as YAML, to follow `key:` directly: ` scalar`, ` []`, ` {}`, or a nested
    block on the next lines indented by `indent` spaces."""
    if isinstance(value, dict):
        if not value:
            return " {}"
        return "".join(_mapping_lines(value, indent))
    if isinstance(value, (list, tuple)):
        if not value:
            return " []"
        return "".join(_sequence_lines(value, indent))
    return " " + yaml_scalar(value)


def _mapping_lines(mapping: dict, indent: int):
    pad = " " * indent
    for key, item in mapping.items():
        yield f"\n{pad}{yaml_key(str(key))}:{yaml_block(item, indent + 2)}"


def _sequence_lines(items, indent: int):
    pad = " " * indent
    for item in items:
        if isinstance(item, dict) and item:
            (key, first), *rest = item.items()
            head = f"\n{pad}- {yaml_key(str(key))}:{yaml_block(first, indent + 4)}"
            yield head + "".join(_mapping_lines(dict(rest), indent + 2))
        else:
            yield f"\n{pad}-{yaml_block(item, indent + 2)}"


def shell_word(word: str) -> str:
    """A shell word for `word`; a leading `~/` stays unquoted so the shell expands it at run
    time (and `shlex.split` still gives back `word` unchanged)."""
    if word == "~":
        return "~"
    if word.startswith("~/"):
        rest = word[2:]
        return "~/" + (shlex.quote(rest) if rest else "")
    return shlex.quote(word)


def shell_line(argv: list[str]) -> str:
    return " ".join(shell_word(w) for w in argv)


def k8s_word(word: str) -> str:
    """Escape `$` as `$$` so Kubernetes passes a value through literally instead of
    expanding `$(NAME)` references in a container's command."""
    return word.replace("$", "$$")


def k8s_expand(word: str, env: dict[str, str]) -> str:
    """What Kubernetes makes of a command word: `$$` -> `$`, `$(NAME)` -> env value when
    NAME is defined (kept as written otherwise)."""
    out: list[str] = []
    i = 0
    while i < len(word):
        ch = word[i]
        nxt = word[i + 1] if i + 1 < len(word) else ""
        if ch == "$" and nxt == "$":
            out.append("$")
            i += 2
        elif ch == "$" and nxt == "(":
            end = word.find(")", i + 2)
            if end < 0:
                out.append(word[i:])
                break
            name = word[i + 2 : end]
            out.append(env.get(name, word[i : end + 1]))
            i = end + 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)
