"""The runner end to end with `deployment.mode: docker`: the simulator image, real containers,
the real genai-bench on the host.

Fails (never skips) when no Docker engine answers: start one with scripts/start_dockerd.sh.
"""

from __future__ import annotations

import docker
import pytest
from tuneops.deployments.common.backend import OWNER_LABEL
from tuneops.runner.results import COMPLETED
from tuneops.runner.run import RunOptions, run_experiment

from tests import e2e_helpers as h

pytestmark = [pytest.mark.docker, pytest.mark.genai_bench, pytest.mark.slow]


def owned(client: docker.DockerClient, prefix: str) -> list[str]:
    return [c.name for c in client.containers.list(all=True, filters={"label": OWNER_LABEL})
            if c.labels.get(OWNER_LABEL, "").startswith(prefix)]


def test_docker_run_completes_and_leaves_no_container(tmp_path, docker_client, sim_image):
    exp_path = h.write_experiment(
        tmp_path, "docker-e2e",
        engine={"image": sim_image},
        deployment={"mode": "docker"},
        parameters={"max-running-requests": [16]},
    )
    exp = h.load(exp_path)
    try:
        summary = run_experiment(exp, RunOptions(
            runs_root=tmp_path / "runs", reports_root=tmp_path / "reports", quiet=True))
    finally:
        leftovers = owned(docker_client, f"{exp.name}/")
        for name in leftovers:  # never leave a container behind, even when failing
            docker_client.containers.get(name).remove(force=True)
    assert not leftovers, f"containers left behind: {leftovers}"
    assert not summary.interrupted
    [result] = summary.results
    assert (result.status, result.attempts) == (COMPLETED, 1), result.reason
    assert summary.best is not None and summary.best.trial_id == result.trial_id
    log = (summary.run_dir / "trials" / result.trial_id / "attempt-1" / "engine.log").read_text()
    # Saved from the container before removal; in it the engine listens on its container
    # port on every interface (a local engine gets 127.0.0.1 and a reserved port).
    assert "Uvicorn running on http://0.0.0.0:30000" in log
    assert "shutting down" in log  # stopped with SIGTERM (tini as PID 1), not just killed
    doc = h.check_report(summary.report_dir)
    assert doc["best_trial_id"] == result.trial_id
