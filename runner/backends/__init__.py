"""Deployment backends by name: the experiment's ``deployment.mode`` picks one.

The single list of backends; anything that offers a choice of backend (schema, CLI, tests)
reads it from here.
"""

from __future__ import annotations

from tuneops.runner.backends.base import Backend
from tuneops.runner.backends.docker import DockerBackend
from tuneops.runner.backends.local import LocalBackend
from tuneops.runner.backends.ome import OmeBackend

BACKENDS: dict[str, type[Backend]] = {
    LocalBackend.name: LocalBackend,
    DockerBackend.name: DockerBackend,
    OmeBackend.name: OmeBackend,
}

__all__ = ["BACKENDS"]
