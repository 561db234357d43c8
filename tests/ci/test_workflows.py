"""The two workflows run through tests/gha_local.py against a bare origin, depth-1 and
full checkouts and the REST stand-in, with what GitHub enforces outside the files (fork
secrets, environment branch policies, a runner group restricted to one workflow).

A fork's pull request that adds a GPU experiment: the untrusted workflow plans it on a
hosted runner; the trusted workflow (workflow_run) comments that a maintainer's command is
needed; a command from a non-maintainer or for another sha is refused; a maintainer's
command for the head sha reaches the `gpu` environment and waits for its reviewers.
A pull request that edits the untrusted workflow to reach the GPU runner and the bot's
token gets neither.
"""

from __future__ import annotations

import yaml

from tests import ci_helpers as c
from tests.ci_helpers import push_gpu_experiment
from tests.gha_local import (
    Environment,
    Runner,
    base_env,
    comment_event,
    pr_event,
    workflow_run_event,
)
from tests.github_standin import GitHub

REPO_NAME = "acme/tuning"
WORKFLOWS = c.REPO / ".github" / "workflows"
TRUSTED = f"{REPO_NAME}/.github/workflows/tuneops.yml@refs/heads/main"
BOT_TOKEN = "ghs_bot_secret_token"


def environments() -> dict[str, Environment]:
    """docs/ci.md's setup: both environments deploy from main only; the bot's token is a
    secret of `reports-bot`."""
    return {"gpu": Environment(("main",), {}),
            "reports-bot": Environment(("main",), {"TUNEOPS_BOT_TOKEN": BOT_TOKEN})}


def gpu_pr(tmp_path):
    origin, dev = c.new_origin(tmp_path)
    c.write_exp(dev, [8])
    main = c.commit_all(dev, "main")
    c.git(dev, "push", "-q", "origin", "main")
    c.git(dev, "checkout", "-q", "-b", "grid-64")
    head = push_gpu_experiment(dev)
    return origin, dev, main, head


def trusted(tmp_path, origin, gh, main: str, name: str, event_name: str, event: dict,
            approved=frozenset()) -> Runner:
    work = tmp_path / name
    runner = Runner(workflow=WORKFLOWS / "tuneops.yml", event=event, origin=origin, work=work,
                    env=base_env(work, gh.url, main, REPO_NAME), event_name=event_name,
                    secrets={"GITHUB_TOKEN": "ghs_write"}, environments=environments(),
                    approved=set(approved), runner_group=(TRUSTED,),
                    workflow_path=".github/workflows/tuneops.yml")
    runner.run()
    return runner


def test_a_fork_gpu_experiment_waits_for_a_maintainers_command_bound_to_its_sha(tmp_path):
    origin, dev, main, head = gpu_pr(tmp_path)
    merge = c.merge_ref(origin, tmp_path, 7, main, head)
    gh = GitHub(REPO_NAME, {"number": 7, "head_sha": head, "head_ref": "grid-64",
                            "head_repo": "mallory/tuning", "base_sha": main, "labels": []})
    try:
        work = tmp_path / "pr"
        pr_run = Runner(workflow=WORKFLOWS / "experiments.yml",
                        event=pr_event(repo=REPO_NAME, number=7, head_sha=head,
                                       head_ref="grid-64", base_sha=main,
                                       head_repo="mallory/tuning"),
                        origin=origin, work=work, env=base_env(work, gh.url, merge, REPO_NAME),
                        secrets={"GITHUB_TOKEN": "ghs_readonly", "TUNEOPS_BOT_TOKEN": BOT_TOKEN},
                        environments=environments(), runner_group=(TRUSTED,))
        pr_run.run()
        assert pr_run.results == {"plan": "success", "run-cpu": "skipped"}, [
            s.output for s in pr_run.steps_run]
        assert "experiments/gpu.yml" in pr_run.step("plan", "tuneops ci plan").output
        assert not any(s.secrets for s in pr_run.steps_run)
        assert not gh.state.calls, "the untrusted workflow called the API"

        # the trusted side, on the untrusted run's completion
        run = trusted(tmp_path, origin, gh, main, "wr", "workflow_run",
                      workflow_run_event(repo=REPO_NAME, head_sha=head))
        assert run.results == {"authorize": "success", "measure-cpu": "skipped",
                               "measure-gpu": "skipped", "publish": "skipped",
                               "comment": "success"}, [s.output for s in run.steps_run]
        [body] = [x["body"] for x in gh.state.comments]
        assert "⏳ **waiting**" in body and "`/tuneops run <head sha>`" in body
        assert "same-repo=False" in run.step("authorize", "tuneops ci authorize").output

        # a command from someone without write access, or for another sha: refused
        for association, sha in (("NONE", head), ("CONTRIBUTOR", head), ("MEMBER", main)):
            gh.state.calls.clear()
            run = trusted(tmp_path, origin, gh, main, f"c-{association}-{sha[:6]}",
                          "issue_comment", comment_event(repo=REPO_NAME, number=7,
                                                         body=f"/tuneops run {sha}",
                                                         association=association))
            assert run.results["authorize"] == "failure", association
            assert run.results["measure-gpu"] == "skipped"
            assert run.results["comment"] == "skipped"
            assert not gh.calls("POST") and not gh.calls("PATCH")
        # a maintainer's command for the head: the GPU job waits for the environment
        run = trusted(tmp_path, origin, gh, main, "c-ok", "issue_comment",
                      comment_event(repo=REPO_NAME, number=7, body=f"/tuneops run {head}",
                                    association="MEMBER"))
        assert run.results["authorize"] == "success"
        assert run.results["measure-gpu"] == "waiting"
        assert run.results["publish"] == run.results["comment"] == "waiting"
        assert c.git(origin, "rev-parse", "grid-64") == head, "something was pushed"
    finally:
        gh.close()


def _edited_workflow() -> str:
    """The untrusted workflow as a pull request rewrites it: straight onto the GPU runner,
    and the bot's token through its environment."""
    doc = yaml.safe_load((WORKFLOWS / "experiments.yml").read_text())
    leak = {"env": {"T": "${{ secrets.TUNEOPS_BOT_TOKEN }}"}, "run": 'echo "got ${#T}"'}
    doc["jobs"] = {
        "gpu": {"runs-on": ["self-hosted", "gpu"], "steps": [{"run": "echo on the gpu"}]},
        "steal": {"runs-on": "ubuntu-latest", "environment": "reports-bot", "steps": [leak]},
        "plain": {"runs-on": "ubuntu-latest", "steps": [leak]},
    }
    return yaml.safe_dump(doc, sort_keys=False).replace("'on'", "on")


def test_a_pull_request_that_edits_the_workflow_reaches_no_runner_and_no_secret(tmp_path):
    origin, dev, main, head = gpu_pr(tmp_path)
    (dev / ".github" / "workflows" / "experiments.yml").write_text(_edited_workflow())
    head = c.commit_all(dev, "a faster path to the GPU")
    c.git(dev, "push", "-q", "origin", "grid-64")
    merge = c.merge_ref(origin, tmp_path, 8, main, head)
    edited = tmp_path / "edited.yml"  # GitHub runs the merge commit's copy on pull_request
    edited.write_text(c.git(origin, "show", f"{merge}:.github/workflows/experiments.yml"))

    def run_it(name: str, **github_side) -> Runner:
        work = tmp_path / name
        runner = Runner(workflow=edited, origin=origin, work=work,
                        event=pr_event(repo=REPO_NAME, number=8, head_sha=head,
                                       head_ref="grid-64", base_sha=main),
                        env=base_env(work, "http://127.0.0.1:9", merge, REPO_NAME),
                        secrets={"GITHUB_TOKEN": "ghs_readonly"}, approved={"reports-bot"},
                        **github_side)
        runner.run()
        return runner

    # the setup docs/ci.md described before: environment without a branch policy, a runner
    # group open to any workflow: the edited file gets the runner and the token
    before = run_it("before", environments={"reports-bot": Environment(
        None, {"TUNEOPS_BOT_TOKEN": BOT_TOKEN})}, runner_group=None)
    assert before.results["gpu"] == "success"
    assert any(s.secrets == ("TUNEOPS_BOT_TOKEN",) for s in before.steps_run)
    # the setup docs/ci.md asks for now
    after = run_it("after", environments=environments(), runner_group=(TRUSTED,))
    assert after.results == {"gpu": "queued", "steal": "failure", "plain": "success"}
    assert not any(s.secrets for s in after.steps_run)
    assert not any(s.runner == "self-hosted" for s in after.steps_run)
