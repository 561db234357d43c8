"""``deployment.docker``: the block of the experiment this mode owns, as written
(options.json, its JSON Schema, joins the experiment schema) and as typed values.

The spec keeps mode blocks as written (``Deployment.blocks``); only this module knows
what the docker block means.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tuneops.spec import Experiment

NAME = "docker"
OPTIONS_SCHEMA = json.loads((Path(__file__).parent / "options.json").read_text())


@dataclass(frozen=True)
class Volume:
    host: str
    container: str
    read_only: bool = False


@dataclass(frozen=True)
class DockerOptions:
    shm_size: str | None = None
    ipc: str | None = None
    volumes: tuple[Volume, ...] = ()
    ports: tuple[int, ...] = ()
    network: str | None = None


def docker_options(exp: Experiment) -> DockerOptions:
    """The experiment's docker block (schema-valid: validate checked it), typed. Read in
    docker mode and whenever another mode renders the trial as a container to ship."""
    dk = exp.deployment.blocks.get(NAME) or {}
    return DockerOptions(
        shm_size=dk.get("shmSize"),
        ipc=dk.get("ipc"),
        volumes=tuple(
            Volume(v["host"], v["container"], bool(v.get("readOnly", False)))
            for v in dk.get("volumes", [])
        ),
        ports=tuple(dk.get("ports", [])),
        network=dk.get("network"),
    )
