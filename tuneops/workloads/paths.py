"""Where a local file an experiment names lies: next to the experiment file, else in the
working directory, else among the data shipped with tuneops (`assets/...`, which resolves
inside the installed package). One rule for validate and for the runner."""

from __future__ import annotations

from pathlib import Path

from tuneops import assets


def find_local(value: str, source_file: str = "") -> Path | None:
    """The absolute path `value` names, or None when no such file or folder exists (then
    it may be a hub id)."""
    p = Path(value).expanduser()
    if p.is_absolute():
        return p if p.exists() else None
    bases = [Path(source_file).resolve().parent] if source_file else []
    bases += [Path.cwd(), assets.ROOT.parent]  # the repository, or the installed package
    for base in bases:
        if (base / p).exists():
            return (base / p).resolve()
    return None
