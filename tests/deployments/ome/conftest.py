"""Fixtures for the OME mode's tests."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _runtime_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Pid files and port locks of these tests stay out of the machine-wide runtime dir (as
    in tests/backends/, where these tests come from)."""
    monkeypatch.setenv("TUNEOPS_RUNTIME_DIR", str(tmp_path_factory.getbasetemp() / "runtime"))
