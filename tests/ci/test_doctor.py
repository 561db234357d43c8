"""`tuneops ci doctor` against the REST stand-in: environments with and without required
reviewers or a branch policy, and an organisation's runner groups. The documents follow
GitHub's examples (docs.github.com/rest/deployments/environments#list-environments,
docs.github.com/rest/actions/self-hosted-runner-groups
#list-self-hosted-runner-groups-for-an-organization)."""

from __future__ import annotations

from tests import ci_helpers as c
from tests.github_standin import GitHub

REPO_NAME = "acme/tuning"
TRUSTED = f"{REPO_NAME}/.github/workflows/tuneops.yml@refs/heads/main"


def env(name: str, reviewers: int, protected: bool = True) -> dict:
    rules = [{"id": 3755, "node_id": "MDQ6R2F0ZTM3NTU=", "type": "wait_timer", "wait_timer": 0}]
    if reviewers:
        rules.append({"id": 3756, "node_id": "MDQ6R2F0ZTM3NTY=", "type": "required_reviewers",
                      "prevent_self_review": True,
                      "reviewers": [{"type": "User", "reviewer": {"login": f"maint{i}",
                                                                  "id": i, "type": "User"}}
                                    for i in range(reviewers)]})
    return {"id": 161088068, "name": name, "url": f"https://x/{name}",
            "protection_rules": rules,
            "deployment_branch_policy": {"protected_branches": protected,
                                         "custom_branch_policies": False}}


def group(name: str, selected: list[str], restricted: bool = True) -> dict:
    return {"id": 2, "name": name, "visibility": "selected", "default": False,
            "allows_public_repositories": False, "restricted_to_workflows": restricted,
            "selected_workflows": selected, "workflow_restrictions_read_only": False}


def doctor(gh: GitHub, tmp_path):
    env_vars = {"GITHUB_API_URL": gh.url, "GITHUB_TOKEN": "ghs_admin_read"}
    import os
    import subprocess

    return subprocess.run([*c.TUNEOPS, "ci", "doctor", "--repo", REPO_NAME, "--org", "acme"],
                          cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, **env_vars})


def test_doctor_passes_the_setup_docs_ci_md_asks_for(tmp_path):
    gh = GitHub(REPO_NAME, {"number": 1, "head_sha": "a" * 40, "head_ref": "x",
                            "head_repo": REPO_NAME, "base_sha": "b" * 40, "labels": []})
    try:
        gh.state.environments = [env("gpu", 2), env("measure", 1), env("reports-bot", 1)]
        gh.state.runner_groups = {"acme": [group("tuneops-gpu", [TRUSTED])]}
        proc = doctor(gh, tmp_path)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "ok   environment 'gpu': 2 required reviewer(s)" in proc.stdout
        assert f"runs only {TRUSTED}" in proc.stdout
    finally:
        gh.close()


def test_doctor_names_each_gap(tmp_path):
    gh = GitHub(REPO_NAME, {"number": 1, "head_sha": "a" * 40, "head_ref": "x",
                            "head_repo": REPO_NAME, "base_sha": "b" * 40, "labels": []})
    try:
        # no reports-bot at all; gpu without reviewers, deployable from any branch; the
        # group open to every workflow
        gh.state.environments = [env("gpu", 0, protected=False), env("measure", 1)]
        gh.state.runner_groups = {"acme": [group("tuneops-gpu", [], restricted=False)]}
        proc = doctor(gh, tmp_path)
        assert proc.returncode == 1
        fails = [line for line in proc.stdout.splitlines() if line.startswith("FAIL")]
        assert fails == [
            "FAIL environment 'gpu': 0 required reviewer(s)",
            "FAIL environment 'gpu': deployments from any branch",
            "FAIL environment 'reports-bot' does not exist: it gates nothing",
            f"FAIL runner group 'tuneops-gpu' runs only {TRUSTED} (selected: any workflow)",
        ]
        gh.state.runner_groups = {}
        assert "FAIL runner group 'tuneops-gpu' not found in acme (HTTP 404)" in doctor(
            gh, tmp_path).stdout
    finally:
        gh.close()
