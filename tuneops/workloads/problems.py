"""One problem in a workload file, at its line: what validate reports and a run refuses."""

from __future__ import annotations

from dataclasses import dataclass

MAX_PROBLEMS = 20  # a broken file says what is wrong with its first rows, not with all
MAX_FILE_BYTES = 512 * 1024 * 1024  # read whole: refuse what would not fit in memory


@dataclass(frozen=True)
class Problem:
    line: int  # 1-based, in the workload file
    message: str
    hint: str = ""
