"""The bot cannot loop: a trial that fails for infrastructure reasons (the simulated engine
told to start 100× slower than `startupTimeout: 1` allows) is reported with its real
reason, retried by the next run, and never published as a report: so no bot commit, so no
next workflow run. Measures for real (the simulator), quickly: every trial fails at start.
"""

from __future__ import annotations

import json

import pytest

from tests import ci_helpers as c
from tests import e2e_helpers as h
from tuneops.ci.publish import publish

pytestmark = [pytest.mark.genai_bench]


def test_infra_failures_are_reported_retried_and_never_published(tmp_path):
    origin, dev = c.new_origin(tmp_path)
    c.write_exp(dev, [8])
    c.commit_all(dev, "main")
    c.git(dev, "push", "-q", "origin", "main")
    c.git(dev, "checkout", "-q", "-b", "slow")
    h.write_experiment(dev / "experiments", "e2e", slos=c.SLOS,
                       parameters={"max-running-requests": [8]},
                       engine={"args": {"time-scale": 100.0}},
                       deployment={"mode": "local", "gpus": {"count": 1, "type": "H100"},
                                   "startupTimeout": 1})
    c.tuneops(dev, "render", "experiments/e2e.yaml", "--out", "manifests")
    head = c.commit_all(dev, "start-up of 1 s")
    c.git(dev, "push", "-q", "origin", "slow")
    work = tmp_path / "trusted"
    c.git(tmp_path, "clone", "-q", str(origin), str(work))
    c.tuneops(work, "ci", "plan", "--head-sha", head, "--out", "plan.json")
    for attempt in (1, 2):
        out = tmp_path / f"ci-out{attempt}"
        proc = c.tuneops(work, "ci", "run", "experiments/e2e.yaml", "--out", str(out),
                         check=False)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        status = json.loads((out / "e2e" / "status.json").read_text())
        assert status["measured"] == 1, "an infra failure must be measured again"
        assert "failed_infra" in status["reason"] and "within 1s" in status["reason"], status
        assert "SLO" not in status["reason"]
        assert status["new_report"] and not status["publishable"]
        assert not (out / "reports").exists()
        done = publish(work, out, head_sha=head, branch="slow", clone=tmp_path / f"pub{attempt}")
        assert done.commits == [] and done.attempts == 0
    assert c.git(origin, "rev-parse", "slow") == head, "a report of infra failures was pushed"
