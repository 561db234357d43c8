"""Turn values into inert text: YAML scalars and blocks, shell words, Kubernetes command words.

Every value that reaches a rendered file passes through one of these functions, so a
value holding quotes, newlines, shell metacharacters or template syntax (`{{ 7*7 }}`)
comes out as data, never as structure. YAML strings are always double-quoted and
pure ASCII (anything else is escaped), so no YAML reader can take them for a number,
a boolean, a comment, an anchor or a second line.
"""

from __future__ import annotations

import json
import math
import re
import shlex
from functools import lru_cache
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


@lru_cache(maxsize=1 << 16)
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
        text = repr(value)
        if "e" in text and "." not in text:  # YAML 1.1 readers need 1.0e-09, not 1e-09
            text = text.replace("e", ".0e")
        return text
    if isinstance(value, str):
        return yaml_string(value)
    raise TypeError(f"not a YAML scalar: {type(value).__name__}")


_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*")
_YAML_WORDS = frozenset(
    "y n yes no on off true false null".split()
)  # YAML 1.1 readers take these for booleans / null


@lru_cache(maxsize=1 << 14)
def yaml_key(key: str) -> str:
    """A mapping key: plain when it cannot be misread, quoted otherwise."""
    if _PLAIN_KEY.fullmatch(key) and key.lower() not in _YAML_WORDS:
        return key
    return yaml_string(key)


def yaml_block(value: Any, indent: int) -> str:
    """A value as YAML, to follow `key:` directly: ` scalar`, ` []`, ` {}`, or a nested
    block on the next lines indented by `indent` spaces."""
    out: list[str] = []
    _emit(value, indent, out)
    return "".join(out)


def _emit(value: Any, indent: int, out: list[str]) -> None:
    if type(value) is str:  # the common case first
        out.append(" " + yaml_string(value))
    elif isinstance(value, dict):
        if not value:
            out.append(" {}")
            return
        pad = "\n" + " " * indent
        for key, item in value.items():
            out.append(f"{pad}{yaml_key(str(key))}:")
            _emit(item, indent + 2, out)
    elif isinstance(value, (list, tuple)):
        if not value:
            out.append(" []")
            return
        dash = "\n" + " " * indent + "-"
        inner = "\n" + " " * (indent + 2)
        for item in value:
            if isinstance(item, dict) and item:
                lead = dash + " "
                for key, sub in item.items():  # "- key: value" then keys under the first
                    out.append(f"{lead}{yaml_key(str(key))}:")
                    _emit(sub, indent + 4, out)
                    lead = inner
            else:
                out.append(dash)
                _emit(item, indent + 2, out)
    else:
        out.append(" " + yaml_scalar(value))


@lru_cache(maxsize=1 << 16)
def _json_string(text: str) -> str:
    return json.dumps(text)


def json_pretty(value: Any) -> str:
    """`json.dumps(value, indent=2, sort_keys=True)` (the same bytes), several times faster:
    the standard library only uses its C encoder without `indent`."""
    out: list[str] = []
    _emit_json(value, "\n", out)
    return "".join(out)


def _emit_json(value: Any, pad: str, out: list[str]) -> None:
    if type(value) is str:
        out.append(_json_string(value))
    elif isinstance(value, dict):
        if not value:
            out.append("{}")
            return
        inner = pad + "  "
        sep = "{"
        for key in sorted(value):
            out.append(f"{sep}{inner}{_json_string(str(key))}: ")
            _emit_json(value[key], inner, out)
            sep = ","
        out.append(pad + "}")
    elif isinstance(value, (list, tuple)):
        if not value:
            out.append("[]")
            return
        inner = pad + "  "
        sep = "["
        for item in value:
            out.append(sep + inner)
            _emit_json(item, inner, out)
            sep = ","
        out.append(pad + "]")
    else:
        out.append(json.dumps(value))


@lru_cache(maxsize=1 << 16)
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
