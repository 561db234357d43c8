"""An engine's log written through a redacting pipe, so no secret ever reaches the disk.

The engine's stdout/stderr go into a pipe; a thread in the runner reads it, masks secrets
(tuneops.secrets) line by line and appends the result to the log file. Redacting the file
afterwards (as before) left the engine's echo of a token in clear text whenever the runner
was killed with -9 before it got there; now a killed runner takes the unwritten bytes with
it, and the file only ever holds redacted text. A line longer than MAX_LINE is written in
pieces, holding back as many bytes as the longest secret so none is cut in two unmasked.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from tuneops import secrets

MAX_LINE = 64 * 1024
_HOLD = 256  # longer than any token shape or registered secret we expect


class RedactingLog:
    """`write_fd` goes to the child (stdout=, stderr=); call `close_writer` once it has it."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        read_fd, self.write_fd = os.pipe()
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
        self._out = os.open(self.path, flags, 0o644)
        self._in = os.fdopen(read_fd, "rb", buffering=0)
        self._thread = threading.Thread(target=self._pump, name=f"log {self.path}", daemon=True)
        self._thread.start()

    def close_writer(self) -> None:
        """Drop our copy of the pipe's write end: EOF then comes when the engine exits."""
        if self.write_fd >= 0:
            os.close(self.write_fd)
            self.write_fd = -1

    def join(self, timeout: float = 5.0) -> None:
        """Wait for the engine's last bytes to be written (after it stopped)."""
        self._thread.join(timeout)

    def _write(self, data: bytes) -> None:
        view = memoryview(secrets.redact_bytes(data))
        while view:
            view = view[os.write(self._out, view):]

    def _pump(self) -> None:
        pending = b""
        try:
            while True:
                chunk = self._in.read(65536)
                if not chunk:
                    break
                pending += chunk
                cut = pending.rfind(b"\n") + 1
                if not cut and len(pending) > MAX_LINE:
                    cut = len(pending) - _HOLD
                if cut:
                    self._write(pending[:cut])
                    pending = pending[cut:]
            if pending:
                self._write(pending)
        except OSError:
            pass  # a full disk: the engine's output is lost, never written unredacted
        finally:
            self._in.close()
            os.close(self._out)
