"""The one way a test opens a report in a browser: Debian's headless Chromium, with no
network, a fresh profile, and the page's console captured.

Headless Chromium as root runs without its sandbox and GPU; the virtual-time budget lets
the page's scripts (Plotly drawing every chart) finish before the DOM is dumped or the
screenshot taken. With `--enable-logging=stderr` every console message and every uncaught
exception of the page is a `CONSOLE` line on stderr (Chromium logs them all at INFO, so a
page the tests call clean writes none at all).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

CONSOLE = re.compile(r"^\[[^\]]*:CONSOLE[^\]]*\] (.*)$", re.MULTILINE)


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("no chromium: install it (scripts/system_deps.sh, Debian's `chromium`)")
    return found


def browse(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess:
    """Chromium's run of `page` with `args` (e.g. --dump-dom, --screenshot=…)."""
    argv = [chromium(), "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", "--disable-extensions", f"--user-data-dir={profile}",
            "--enable-logging=stderr", "--v=0",
            "--virtual-time-budget=15000", *args, page.as_uri()]
    return subprocess.run(argv, capture_output=True, text=True, timeout=180)


def console(run: subprocess.CompletedProcess) -> list[str]:
    """What the page wrote to its console (messages, uncaught errors), in order."""
    return CONSOLE.findall(run.stderr)
