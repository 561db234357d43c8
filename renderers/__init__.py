"""Render trials into files: a Docker run spec and `docker run` line, and OME manifests.

Pure functions of the experiment and its plan (no clock, no machine paths), so the
output under manifests/ is byte-for-byte reproducible and reviewable in a pull request.
"""

from __future__ import annotations

from pathlib import Path

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
