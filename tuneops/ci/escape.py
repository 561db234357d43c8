"""Untrusted strings into the bot's Markdown: every name, value, description and failure
message an experiment file, a report or a trial can carry goes through `code`.

A pull request once put `` `x` @acme/team ![](https://evil/p.png) <!-- `` into a parameter
value: it broke out of its code span, mentioned a team, loaded a remote image and hid the
result table. `code` returns a code span that cannot be left: one line (control characters
and newlines become spaces), a fence of backticks longer than any run of them inside
(CommonMark 6.1), `|` escaped so a table cell stays one cell (GFM tables: "include a pipe
in a cell's content by escaping it, including inside other inline spans"), and a bounded
length. Inside a code span `@`, `![]()` and `<!--` are text.
"""

from __future__ import annotations

import re

MAX_CHARS = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


def code(value: object, limit: int = MAX_CHARS, *, table: bool = False) -> str:
    """`value` as a code span; `table`: it sits in a table cell (pipes escaped)."""
    text = _CONTROL.sub(" ", str(value))
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    if table:
        text = text.replace("|", "\\|")
    runs = [len(r) for r in re.findall(r"`+", text)]
    fence = "`" * (max(runs, default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{pad}{text}{pad}{fence}" if text else "` `"


def annotation(diag, root: str = "") -> str:
    """A GitHub `::error` workflow command for one Diagnostic (its file, line, column),
    with the command's own escaping (%, CR, LF; and `:`/`,` in properties)."""
    def data(s: str) -> str:
        return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")

    def prop(s: str) -> str:
        return data(s).replace(":", "%3A").replace(",", "%2C")

    file = str(diag.file)
    if root and file.startswith(root.rstrip("/") + "/"):  # annotations name repo paths
        file = file[len(root.rstrip("/")) + 1:]
    props = [f"file={prop(file)}"]
    if diag.line:
        props.append(f"line={diag.line}")
    if diag.column:
        props.append(f"col={diag.column}")
    if diag.path:
        props.append(f"title={prop(diag.path)}")
    message = diag.message + (f" ({diag.hint})" if diag.hint else "")
    level = "warning" if diag.severity == "warning" else "error"
    return f"::{level} {','.join(props)}::{data(message)}"
