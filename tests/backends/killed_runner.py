"""A runner that starts one engine and is then killed: ``python killed_runner.py BACKEND``
with the Launch as JSON on stdin. Prints "healthy" once the engine serves, then sleeps until
the test SIGKILLs it, leaving the engine behind for ``reap`` to find (a local engine dies
with it: deployments/common/engine_lifetime.py). Launch env names listed in
KILLED_RUNNER_SECRETS are registered as secrets, as the runner registers resolved `fromEnv`
values.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


from tuneops.deployments.registry import deployment_mode  # noqa: E402

from tests.backends.harness import launch_from_json  # noqa: E402
from tuneops import secrets  # noqa: E402

backend = deployment_mode(sys.argv[1]).backend()
launch = launch_from_json(sys.stdin.read())
for name in filter(None, os.environ.get("KILLED_RUNNER_SECRETS", "").split(",")):
    secrets.register(launch.env[name])  # what the runner does for a resolved fromEnv value
deployment = backend.start(launch)
backend.wait_healthy(deployment, timeout_s=30)
print("healthy", flush=True)
time.sleep(300)
