"""The static trust-boundary check (tuneops/ci/workflow_policy.py) passes on this
repository's workflows and fails on the ones issue 20 attacked: the single pull_request
workflow before the split (self-hosted GPU job, the bot's token) and a PR's edit of it."""

from __future__ import annotations

import subprocess

import yaml

from tests import ci_helpers as c
from tuneops.ci.workflow_policy import check, problems

WORKFLOWS = c.REPO / ".github" / "workflows"
BEFORE_SPLIT = "a32cc33"  # the last commit with one pull_request workflow


def test_this_repositorys_workflows_keep_the_boundary():
    assert check(WORKFLOWS) == []


def test_the_workflow_before_the_split_is_caught(tmp_path):
    old = tmp_path / "experiments.yml"
    old.write_text(subprocess.run(
        ["git", "show", f"{BEFORE_SPLIT}:.github/workflows/experiments.yml"], cwd=c.REPO,
        capture_output=True, text=True, check=True).stdout)
    found = problems(old)
    assert "experiments.yml: job run-gpu: self-hosted runner in a pull_request workflow" in found
    assert "experiments.yml: job publish: secret TUNEOPS_BOT_TOKEN next to the PR's code" in found
    assert "experiments.yml: job publish: write permission in a pull_request workflow" in found


def test_edits_a_pull_request_could_make_are_caught(tmp_path):
    doc = yaml.safe_load((WORKFLOWS / "tuneops.yml").read_text())
    step = doc["jobs"]["measure-cpu"]["steps"][0]
    step["with"]["ref"] = "${{ github.event.workflow_run.head_sha }}"
    doc["jobs"]["measure-gpu"].pop("environment")
    doc["jobs"]["comment"]["steps"][-1]["run"] = "echo ${{ github.event.comment.body }}"
    bad = tmp_path / "tuneops.yml"
    bad.write_text(yaml.safe_dump(doc))
    assert sorted(problems(bad)) == [
        "tuneops.yml: job comment: github.event expanded inside a run script",
        "tuneops.yml: job measure-cpu: checks out something other than the default branch",
        "tuneops.yml: job measure-gpu: self-hosted runner without an environment's reviewers",
    ]
    doc = yaml.safe_load((WORKFLOWS / "experiments.yml").read_text())
    doc[True]["pull_request_target"] = doc[True].pop("pull_request")
    bad.write_text(yaml.safe_dump(doc))
    assert problems(bad)[0] == "tuneops.yml: pull_request_target runs with secrets next to PR code"
