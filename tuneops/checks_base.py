"""What every check beyond the schema shares: the document, its positions, and a collector.

Checks report into one Context so a file's problems come back together, each pointing at
the YAML line of the value (or key) it is about.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tuneops import yamlio
from tuneops.checks_schema import format_path
from tuneops.errors import Diagnostic
from tuneops.spec import Experiment


@dataclass
class Context:
    file: str
    doc: Any  # the ruamel document (positions)
    plain: dict  # the same as plain data
    exp: Experiment
    text: str = ""  # the source, for column arithmetic inside quoted scalars
    diagnostics: list[Diagnostic] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)  # reported, not fatal

    def error(
        self,
        path: tuple[str | int, ...],
        message: str,
        hint: str = "",
        *,
        key: bool = False,
        column_offset: int = 0,
    ) -> None:
        """Record a problem at `path` (at its key when `key`, e.g. for unknown names)."""
        line, col = (yamlio.key_position if key else yamlio.position)(self.doc, path)
        self.diagnostics.append(
            Diagnostic(self.file, line, col + column_offset, format_path(path), message, hint)
        )

    def warn(self, path: tuple[str | int, ...], message: str, hint: str = "") -> None:
        """Record something that runs but whose numbers will mislead (e.g. a p99 from 10
        requests)."""
        line, col = yamlio.position(self.doc, path)
        self.warnings.append(Diagnostic(self.file, line, col, format_path(path), message, hint,
                                        severity="warning"))

    def get(self, *path: str | int, default: Any = None) -> Any:
        node: Any = self.plain
        for part in path:
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                return default
        return node
