"""One exception root and fixed exit codes, so scripts and CI can tell bad input from bugs."""

from __future__ import annotations

from dataclasses import dataclass, field

EXIT_OK = 0
EXIT_FAILURE = 1  # the run went through but found nothing feasible, or a check failed
EXIT_USAGE = 2  # bad input, or a file tuneops cannot read or write: the user can fix it
EXIT_INTERRUPTED = 130
EXIT_BUG = 3  # unexpected: a traceback is logged
MAX_MESSAGE = 400  # characters of one message; what an input echoes cannot flood a terminal
MAX_DIAGNOSTICS = 50  # problems listed per error; the rest are counted
EXIT_INFRA = 4  # the run ended, but lost trials to the machine (a full disk, a killed engine)

# Where a crash log goes: the run's own folder once a run is open (tuneops.runner.journal
# sets it), else TUNEOPS_LOG_DIR or the private runtime dir (tuneops.cli).
crash_dir: str | None = None


class TuneopsError(Exception):
    """Root of every error tuneops raises on purpose."""

    exit_code = EXIT_FAILURE


@dataclass(frozen=True)
class Diagnostic:
    """One problem in one input file, pointing at the bad value."""

    file: str
    line: int  # 1-based; 0 when unknown
    column: int  # 1-based; 0 when unknown
    path: str  # field path, e.g. "parameters.tp-size.values[1]"
    message: str
    hint: str = ""
    severity: str = "error"  # error (exit 2) | warning (printed; the experiment still runs)

    def __post_init__(self) -> None:
        for name in ("path", "message", "hint"):
            text = getattr(self, name)
            if len(text) > MAX_MESSAGE:  # an echoed 200k-character key, shortened
                object.__setattr__(self, name, text[: MAX_MESSAGE - 1] + "…")

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        field_part = f" {self.path}:" if self.path else ""
        hint = f" ({self.hint})" if self.hint else ""
        level = " warning:" if self.severity == "warning" else ""
        return f"{where}:{level}{field_part} {self.message}{hint}"

    def as_dict(self) -> dict:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "path": self.path,
            "message": self.message,
            "hint": self.hint,
            "severity": self.severity,
        }


class FileProblem(TuneopsError):
    """A file or folder tuneops cannot read or write (permissions, a full disk, a read-only
    file system): the message names the path; the user can fix it."""

    exit_code = EXIT_USAGE

    def __init__(self, path: object, action: str, exc: BaseException) -> None:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        super().__init__(f"cannot {action} {path}: {reason}")
        self.path = path


@dataclass
class UserError(TuneopsError):
    """Bad input the user can fix; carries every diagnostic found, not just the first."""

    diagnostics: list[Diagnostic] = field(default_factory=list)
    summary: str = ""
    exit_code = EXIT_USAGE

    def __post_init__(self) -> None:
        super().__init__(self.summary or "\n".join(map(str, self.diagnostics)))

    def __str__(self) -> str:
        lines = [self.summary] if self.summary else []
        lines += [str(d) for d in self.diagnostics[:MAX_DIAGNOSTICS]]
        if len(self.diagnostics) > MAX_DIAGNOSTICS:
            lines.append(f"... and {len(self.diagnostics) - MAX_DIAGNOSTICS} more problem(s) "
                         "not shown (fix these first)")
        return "\n".join(lines)

