"""The one list of deployment modes: the built-in ones (a folder each under
deployments/, plus one line here) and every installed plug-in that declares a
``tuneops.deployments`` entry point (``name = module:Class``).

The built-in modes are imported here, statically: this module sits above them, and the
stages that need a mode (validate, plan, render, the runner, the CLI) sit above this
module and ask it. So the import graph says who depends on whom, and ``make lint``
(.importlinter) checks it; nothing is loaded from a ``"module:Class"`` string. Plug-ins
are the one exception by nature: they are found through their installed entry points.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points

from tuneops.deployments import docker, local, ome
from tuneops.deployments.base import DeploymentMode

# name -> mode, with its backend joined to it (a mode never imports its own backend:
# inside a mode the backend sits above the mode).
BUILTIN_MODES: dict[str, DeploymentMode] = {
    "docker": docker.MODE,
    # a local trial whose experiment names an image also renders docker's files, to ship
    # its winner as a container: joined here, so local and docker stay independent
    "local": local.LocalMode(backend=local.LocalBackend, container=docker.MODE),
    "ome": ome.MODE,
}
MODE_ENTRY_POINTS = "tuneops.deployments"


@cache
def deployment_modes() -> dict[str, DeploymentMode]:
    """Mode name -> mode: the built-in ones, then every installed plug-in (a subclass of
    ``tuneops.deployments.base.DeploymentMode`` whose ``backend`` is its backend class)."""
    out = dict(BUILTIN_MODES)
    for ep in entry_points(group=MODE_ENTRY_POINTS):
        if ep.name in out:
            continue
        mode = ep.load()()
        if mode.name != ep.name:
            raise ValueError(f"deployment mode {ep.value} calls itself {mode.name!r}, "
                             f"not {ep.name!r}")
        if not isinstance(getattr(mode, "backend", None), type):
            raise ValueError(f"deployment mode {ep.value}: `backend` must be its backend "
                             "class (a string naming one is no longer looked up)")
        out[ep.name] = mode
    return dict(sorted(out.items()))


def deployment_mode(name: str) -> DeploymentMode:
    return deployment_modes()[name]
