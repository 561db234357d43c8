"""Mode ``local``: a process per trial on this machine.

``mode.py`` (command.json, its launch), ``backend.py`` (the process group, its reserved
port and pid file). The registry (tuneops.deployments.registry) joins them, and gives
the mode the container mode that ships a local winner as an image.
"""

from tuneops.deployments.local.backend import LocalBackend
from tuneops.deployments.local.mode import LocalMode

__all__ = ["LocalBackend", "LocalMode"]
