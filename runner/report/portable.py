"""Commands and paths as a committed report may hold them: without the machine's layout.

Reports are committed and read on other machines, so the engine command a report offers
("deploy it") and the paths it records must not carry `/tmp/<clone>/.venv/bin/python` or
a model's absolute path: they are written relative to the repository, with `<python>`
for the interpreter tuneops ran the launcher with and `<port>` for the port it reserved.
A path outside the repository keeps only its name, behind `<outside>/`. The functions are
idempotent, so a reused trial's already portable command passes through unchanged.
"""

from __future__ import annotations

import os
import sys
from functools import cache
from pathlib import Path

PYTHON = "<python>"  # the interpreter tuneops runs in (`python3` in the rendered command)
PORT = "<port>"  # the port the run reserved for the trial
OUTSIDE = "<outside>"  # stands for a folder outside the repository


def repo_root(start: str | None = None) -> Path:
    """The work tree of the git repository holding `start` (default: the working
    directory), else the folder of `start` itself."""
    return _repo_root(Path(start or os.getcwd()).resolve())


@cache
def _repo_root(here: Path) -> Path:
    try:
        import git

        tree = git.Repo(here, search_parent_directories=True).working_tree_dir
        if tree:
            return Path(tree).resolve()
    except Exception:  # noqa: BLE001 - no git, no repository: the folder itself
        pass
    return here if here.is_dir() else here.parent


def path(value: str, root: Path) -> str:
    """`value` relative to `root` when it is an absolute path inside it; `<outside>/name`
    when it is absolute elsewhere; unchanged when already relative (or empty)."""
    if not value or not os.path.isabs(value):
        return value
    p = Path(os.path.normpath(value))
    for base in {root, root.resolve()}:
        try:
            return p.relative_to(base).as_posix() or "."
        except ValueError:
            continue
    return f"{OUTSIDE}/{p.name}"


def command(argv: list[str], root: Path, *, python: str = sys.executable,
            port: str | None = None) -> list[str]:
    """`argv` with the interpreter as `<python>`, `port` as `<port>` where it is the value
    of a port flag (`--port N`, `--port=N`), and every absolute path made portable
    (`path`)."""
    out = []
    for word in argv:
        if word == python or (os.path.isabs(word) and _same_file(word, python)):
            out.append(PYTHON)
        elif port is not None and word == port and out and out[-1].endswith("port"):
            out.append(PORT)  # the value of --port (another flag's equal number stays)
        elif word.startswith("-") and "=" in word:
            flag, _, value = word.partition("=")
            value = (PORT if port is not None and value == port and flag.endswith("port")
                     else path(value, root))
            out.append(f"{flag}={value}")
        else:
            out.append(path(word, root))
    return out


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
