"""Where the repository and the test tree are, named once: a test file finds them through
these names, so moving it into a deeper folder changes nothing (counting `parents[N]` did)."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
