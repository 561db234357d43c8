"""Mode ``docker``: a container per trial on this machine's Docker engine.

``options.py`` + ``options.json`` (the ``deployment.docker`` block), ``render.py`` +
``templates/`` (docker.json, docker-run.sh), ``mode.py`` (the mode: checks, what a trial
renders, its launch), ``backend.py`` (the Docker SDK). ``MODE`` joins mode and backend;
the registry (tuneops.deployments.registry) lists it.
"""

from tuneops.deployments.docker.backend import DockerBackend
from tuneops.deployments.docker.mode import DockerMode

MODE = DockerMode(backend=DockerBackend)
