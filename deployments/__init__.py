"""Deployment modes: where a trial's engine runs (a local process, a Docker container, an
OME InferenceService on Kubernetes).

Each mode is one folder here (``docker/``, ``local/``, ``ome/``) bundling everything that
differs between modes: its options block in the experiment, its feasibility checks, the
files a trial renders into manifests/ (and their templates), the launch the runner derives
from exactly those files, and the backend that starts it. ``base.py`` is the contract a
mode implements, ``common/`` what every mode builds on, and ``registry.py`` the one list
of modes (built-in ones, one line each, and installed plug-ins); the schema's
``deployment.mode`` enum, the CLI's choices, validate, plan, render and the runner all
read it.
"""
