"""Waiting for an engine to serve, shared by every backend.

Engines start in anything from a second (the simulator) to minutes (weights, CUDA graphs,
torch.compile), so a fixed 5 s poll either wastes time or hammers the server. The poll
starts at 50 ms and backs off by 1.5x up to 2 s. Between polls a callback says whether the
engine already exited: a dead engine fails the trial at once as a ConfigFailure with its
exit code and log tail instead of waiting out the timeout, unless its log shows the
machinery was at fault (port taken), which is an InfraFailure worth a retry.
"""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from tuneops.deployments.common import causes
from tuneops.deployments.common.backend import ConfigFailure, InfraFailure, TrialFailure

FIRST_DELAY_S = 0.05
MAX_DELAY_S = 2.0
BACKOFF = 1.5
TAIL_LINES = 40
# EX_TEMPFAIL: launchers (tuneops.engines.llamacpp) exit with it when the machine, not the config,
# stopped them (e.g. the port was taken), since the engine itself cannot tell them apart.
EXIT_TEMPFAIL = 75

# Log lines that mean the machine, not the trial's settings, made the engine exit.
INFRA_PATTERNS = re.compile(
    r"address already in use|EADDRINUSE|errno 98|no space left on device|ENOSPC|"
    r"input/output error|\bEIO\b|disk quota exceeded", re.IGNORECASE
)
# Lines worth quoting in the failure reason, most telling first.
CAUSE_PATTERNS = re.compile(
    r"out of memory|unrecognized arguments|invalid choice|error|exception|killed",
    re.IGNORECASE,
)

# Log lines that mean an engine which had been serving died of its own settings (memory,
# an internal check): a failed_config, not a failed_benchmark.
DEATH_CONFIG_PATTERNS = re.compile(
    r"out of memory|outofmemory|\bOOM\b|std::bad_alloc|cannot allocate memory|"
    r"assert(ion)?\b.*(fail|error)|AssertionError|GGML_ASSERT|failed to allocate",
    re.IGNORECASE,
)

# Talk to the engine directly even when the environment sets an HTTP proxy.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def tail(text: str, lines: int = TAIL_LINES) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def cause_line(logs: str) -> str:
    """The last line of the log that names the error, else its last line."""
    lines = [line.strip() for line in logs.splitlines() if line.strip()]
    for line in reversed(lines):
        if CAUSE_PATTERNS.search(line):
            return line
    return lines[-1] if lines else "(no output)"


def exit_failure(code: int, logs: str) -> TrialFailure:
    """Classify an engine that exited before it served."""
    reason = f"engine exited with code {code} before serving: {cause_line(logs)}"
    if causes.killing_signal(code):  # killed from outside: says nothing about the config
        return InfraFailure(f"{causes.signal_reason(code, 'before serving')}: "
                            f"{cause_line(logs)}", tail(logs))
    if code == EXIT_TEMPFAIL or INFRA_PATTERNS.search(tail(logs)):
        return InfraFailure(reason, tail(logs))
    return ConfigFailure(reason, tail(logs))


def probe(url: str, timeout_s: float) -> bool:
    """One GET; True on a 2xx answer."""
    try:
        with _opener.open(url, timeout=timeout_s) as response:
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError, ValueError):
        # refused, reset, timed out, or a 5xx while loading: not serving yet
        return False


def refused(url: str, timeout_s: float = 1.0) -> bool:
    """True when nothing listens at `url` any more (connection refused or reset). A slow or
    busy engine (timeout, 5xx) is not gone: under load a health check may wait."""
    try:
        with _opener.open(url, timeout=timeout_s):
            return False
    except urllib.error.HTTPError:
        return False
    except urllib.error.URLError as e:
        return isinstance(e.reason, (ConnectionRefusedError, ConnectionResetError))
    except (ConnectionRefusedError, ConnectionResetError):
        return True
    except (OSError, ValueError):
        return False


class EngineWatch:
    """Says why the engine is gone, or None while it lives; polled while genai-bench runs.

    Gone: its process exited (when the backend can tell, `exit_code`), or its health URL
    refused connections `misses` times in a row, probed at most every `every_s`."""

    def __init__(self, url: str, exit_code: Callable[[], int | None] | None = None,
                 *, misses: int = 3, every_s: float = 1.0) -> None:
        self.url = url
        self.exit_code = exit_code
        self.misses = misses
        self.every_s = every_s
        self._refusals = 0
        self._last = 0.0

    def __call__(self, now: bool = False) -> str | None:
        code = self.exit_code() if self.exit_code is not None else None
        if code is not None:
            return f"engine exited with code {code}"
        t = time.monotonic()
        if not now and t - self._last < self.every_s:
            return None
        self._last = t
        for _ in range(self.misses if now else 1):
            if not refused(self.url):
                self._refusals = 0
                return None
            self._refusals += 1
            if now:
                time.sleep(0.2)
        if self._refusals >= self.misses:
            return f"engine stopped answering {self.url} (connection refused)"
        return None


EXIT_CODE = re.compile(r"engine exited with code (-?\d+)\b")


def death_failure(why: str, logs: str) -> TrialFailure:
    """Classify an engine that died while being measured: its own log blames its settings
    (OOM, a failed assertion) -> ConfigFailure (failed_config); killed by a signal from
    outside -> InfraFailure (common/causes.py: retried, never the configuration's); a crash
    that names no cause -> a plain TrialFailure, which the runner records as
    failed_benchmark. `why` may carry more after the code ("...; genai-bench stopped")."""
    text = tail(logs, 200)
    found = EXIT_CODE.match(why)
    code = int(found.group(1)) if found else None
    if causes.killing_signal(code) and not DEATH_CONFIG_PATTERNS.search(text):
        return InfraFailure(f"{causes.signal_reason(code, 'while being measured')}",
                            tail(logs))
    if DEATH_CONFIG_PATTERNS.search(text):
        line = next((ln.strip() for ln in reversed(text.splitlines())
                     if DEATH_CONFIG_PATTERNS.search(ln)), "")
        return ConfigFailure(f"{why} while being measured: {line}", tail(logs))
    return TrialFailure(f"{why} while being measured: {cause_line(logs)}", tail(logs))


def wait_http_ok(
    url: str,
    timeout_s: float,
    exit_code: Callable[[], int | None],
    logs: Callable[[], str],
    *,
    first_delay_s: float = FIRST_DELAY_S,
    max_delay_s: float = MAX_DELAY_S,
) -> float:
    """Poll ``url`` until it answers 2xx; return the seconds it took.

    ``exit_code`` returns None while the engine runs and its exit code once it stopped;
    ``logs`` returns everything it printed. Raises what ``exit_failure`` says when the
    engine exits, InfraFailure when ``timeout_s`` passes.
    """
    started = time.monotonic()
    deadline = started + timeout_s
    delay = first_delay_s
    while True:
        code = exit_code()
        if code is not None:
            raise exit_failure(code, logs())
        remaining = deadline - time.monotonic()
        if probe(url, timeout_s=max(0.1, min(max_delay_s, remaining))):
            return time.monotonic() - started
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            code = exit_code()
            if code is not None:
                raise exit_failure(code, logs())
            text = logs()
            raise InfraFailure(
                f"engine did not serve {url} within {timeout_s:g}s (last line: {cause_line(text)})",
                tail(text),
            )
        time.sleep(min(delay, remaining))
        delay = min(delay * BACKOFF, max_delay_s)
