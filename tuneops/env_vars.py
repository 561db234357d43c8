"""Every TUNEOPS_* environment variable, checked before a command uses it.

The environment is input like any file: `TUNEOPS_PORT_RANGE=abc` (or `30000-20000`) used
to reach `int()` deep in the port allocator and exit 3. Here each variable tuneops reads
has one rule, checked at the start of every command (tuneops.cli), and a bad value is
exit 2 naming the variable, what it holds (shortened) and what is allowed. A TUNEOPS_*
name tuneops does not know is a warning (a misspelling is then visible, not silent).
"""

from __future__ import annotations

import difflib
import os
import unicodedata
from collections.abc import Callable, Mapping

from tuneops.errors import Diagnostic, UserError

MAX_PATH = 4096
PORT_RANGE_DEFAULT = (20000, 29999)


def _no_hidden(value: str) -> str:
    for ch in value:
        if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp"):
            return f"contains U+{ord(ch):04X}; control and format characters are not allowed"
    return ""


def _path(absolute: bool) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not value:
            return "is empty; unset it to use the default"
        if len(value) > MAX_PATH:
            return f"is {len(value)} characters long; a path has at most {MAX_PATH}"
        if absolute and not value.startswith("/"):
            return "must be an absolute path (starting with /)"
        return _no_hidden(value)
    return check


def parse_port_range(value: str) -> tuple[int, int]:
    """'20000-29999' -> (20000, 29999); ValueError saying what is wrong."""
    low, dash, high = value.strip().partition("-")
    if not dash or not low.strip().isdigit() or not high.strip().isdigit():
        raise ValueError("expected LOW-HIGH, two port numbers such as 20000-29999")
    lo, hi = int(low), int(high)
    if not (1024 <= lo <= hi <= 65535):
        raise ValueError(f"expected 1024 <= LOW <= HIGH <= 65535, got {lo}-{hi}")
    return lo, hi


def _port_range(value: str) -> str:
    try:
        parse_port_range(value)
    except ValueError as exc:
        return str(exc)
    return ""


def _pid(value: str) -> str:
    return "" if value.isdigit() and 0 < int(value) < 2**22 else "expected a process id"


def _text(value: str) -> str:
    return _no_hidden(value)  # empty is allowed: CI passes an unset secret as ""


RULES: dict[str, Callable[[str], str]] = {
    "TUNEOPS_PORT_RANGE": _port_range,
    "TUNEOPS_RUNTIME_DIR": _path(absolute=True),
    "TUNEOPS_LOG_DIR": _path(absolute=False),
    "TUNEOPS_CACHE_DIR": _path(absolute=False),
    "TUNEOPS_CRD_DIR": _path(absolute=False),
    "TUNEOPS_SIM_CATALOG": _path(absolute=False),
    "TUNEOPS_SIM_TOKENIZER": _path(absolute=False),
    "TUNEOPS_PUSH_TOKEN": _text,
    "TUNEOPS_BOT_TOKEN": _text,
    "TUNEOPS_WORKER_PARENT": _pid,
    # read by the test suite and tooling, not by commands; known so they are not warned about
    "TUNEOPS_PARSER_VENVS": _path(absolute=False),
    "TUNEOPS_FUZZ_SCALE": lambda v: "" if v.isdigit() and 0 < int(v) <= 1000 else
    "expected a whole number from 1 to 1000",
    "TUNEOPS_REGEN_GOLDEN": _text,
    "TUNEOPS_TEST_OWNER": _text,
}
SECRET_VALUES = ("TUNEOPS_PUSH_TOKEN", "TUNEOPS_BOT_TOKEN")  # never echoed


def _shown(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:39] + "…")


def check(environ: Mapping[str, str] | None = None) -> list[Diagnostic]:
    """Warnings for unknown TUNEOPS_* names; raises UserError (exit 2) for a bad value."""
    environ = os.environ if environ is None else environ
    problems, warnings = [], []
    for name in sorted(n for n in environ if n.startswith("TUNEOPS_")):
        rule = RULES.get(name)
        if rule is None:
            close = difflib.get_close_matches(name, RULES, n=1)
            warnings.append(Diagnostic("environment", 0, 0, name, "is not a variable tuneops "
                                       "reads", f"did you mean {close[0]}?" if close else "",
                                       severity="warning"))
            continue
        why = rule(environ[name])
        if why:
            shown = "" if name in SECRET_VALUES else f"is {_shown(environ[name])}: "
            problems.append(Diagnostic("environment", 0, 0, name, f"{shown}{why}"))
    if problems:
        raise UserError(problems, summary="bad TUNEOPS_* environment variable")
    return warnings
