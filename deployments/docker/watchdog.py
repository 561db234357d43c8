"""A Docker container's watchdog: stops it within seconds of its runner's death.

A container is not a child of the runner, so a runner killed with -9 left its engine
serving (holding its port and GPUs) until someone ran `tuneops reap`. When the docker
backend starts a container it starts this small process beside it, in its own session
(so the runner's death does not take it along): it checks the runner (host/pid/start
time, runner/owners.py) every POLL_S seconds and, once the runner is gone, removes the
container (docker rm -f: stop and delete, as reap does), then exits. It also exits as
soon as the container is gone or has stopped, i.e. after every normal trial.

What it does not cover: the watchdog itself killed too (e.g. the whole machine's session
torn down), or the Docker daemon unreachable when it acts; the next run's start-up reap
(or `tuneops reap`) then removes the container, which carries its runner's label.

    python -m tuneops.deployments.docker.watchdog CONTAINER_ID RUNNER
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from tuneops.deployments.common import owners

POLL_S = 1.0
CONTAINER_CHECK_S = 5.0


def watch(container_id: str, runner: str | None = None) -> None:
    """Start the watchdog for `container_id`; never raises (a failed start: reap remains)."""
    try:
        subprocess.Popen(
            [sys.executable, "-m", "tuneops.deployments.docker.watchdog", container_id,
             runner or owners.me()],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, close_fds=True, env=dict(os.environ),
        )
    except OSError:
        pass


def main(argv: list[str]) -> int:
    import docker

    container_id, runner = argv
    client = docker.from_env()
    last_check = 0.0
    while True:
        if not owners.alive(runner):
            try:
                client.containers.get(container_id).remove(force=True)
            except docker.errors.DockerException:
                pass  # gone already, or the daemon is away: reap will find it by its label
            return 0
        now = time.monotonic()
        if now - last_check >= CONTAINER_CHECK_S:
            last_check = now
            try:
                if client.containers.get(container_id).status in ("exited", "dead"):
                    return 0
            except docker.errors.NotFound:
                return 0
            except docker.errors.DockerException:
                pass  # the daemon hiccuped: look again later
        time.sleep(POLL_S)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
