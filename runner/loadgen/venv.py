"""The open-loop load generator's own virtual environment: NVIDIA AIPerf, pinned, cached.

AIPerf needs Python >= 3.11 and a large dependency tree (pandas, plotly/dash, kopf,
kubernetes-asyncio, transformers: about 1.2 GB, 1.5 minutes to install here) whose pins are
not genai-bench's, so it lives in its own venv outside the checkout, like the engines'
parser venvs (scripts/catalogs/venvs.py): ~/.cache/tuneops/loadgen/aiperf-<version>
($TUNEOPS_LOADGEN_VENVS, else $XDG_CACHE_HOME/tuneops/loadgen), shared by every clone on the
machine and rebuilt only when its pin changes (the stamp holds a hash of it). Only PyPI is
needed. tuneops never imports AIPerf: the runner starts its CLI and reads its result files.

    python -m tuneops.runner.loadgen.venv        # what `make loadgen-venvs` runs
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

PACKAGE = "aiperf"
VERSION = "0.13.0"
MIN_PYTHON = (3, 11)  # aiperf 0.13.0's Requires-Python
CACHE = Path(
    os.environ.get("TUNEOPS_LOADGEN_VENVS")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tuneops" / "loadgen"
)
PYTHONS = ("python3.12", "python3.11", "python3.13")


def path() -> Path:
    return CACHE / f"{PACKAGE}-{VERSION}"


def executable() -> Path:
    """The `aiperf` CLI of the venv."""
    return path() / "bin" / "aiperf"


def _spec() -> str:
    doc = {"package": PACKAGE, "version": VERSION}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]


def _stamp() -> Path:
    return path() / ".tuneops-stamp"


def ready() -> bool:
    stamp = _stamp()
    return stamp.exists() and stamp.read_text().strip() == _spec() and executable().exists()


def missing_message() -> str:
    return (f"the open-loop load generator ({PACKAGE} {VERSION}) is not installed at {path()}; "
            "install it with `make loadgen-venvs` (about 1.5 minutes, cached afterwards)")


def base_python() -> str:
    """An interpreter AIPerf supports: this one when new enough, else one on PATH."""
    if sys.version_info[:2] >= MIN_PYTHON:
        return sys.executable
    for name in PYTHONS:
        found = shutil.which(name)
        if found:
            return found
    raise SystemExit(f"{PACKAGE} {VERSION} needs Python >= 3.11; none found on PATH")


def ensure(*, quiet: bool = False) -> Path:
    """The venv's aiperf CLI, building the venv first when it is missing or out of date."""
    if ready():
        return executable()
    start = time.perf_counter()
    target = path()
    if target.exists():
        shutil.rmtree(target)
    subprocess.run([base_python(), "-m", "venv", str(target)], check=True)
    pip = [str(target / "bin" / "python"), "-m", "pip", "install", "-q",
           "--disable-pip-version-check"]
    subprocess.run([*pip, f"{PACKAGE}=={VERSION}"], check=True)
    _stamp().write_text(_spec() + "\n")
    if not quiet:
        print(f"{PACKAGE}: venv built in {time.perf_counter() - start:.0f}s -> {target}")
    return executable()


def main() -> int:
    if ready():
        print(f"{PACKAGE}: venv up to date ({path()})")
    else:
        ensure()
    return 0


if __name__ == "__main__":
    sys.exit(main())
