"""The GitOps loop end to end: both workflow files, run job by job against real git (a
bare origin, depth-1 and full checkouts) and a stand-in GitHub API on 127.0.0.1, with the
real simulator and genai-bench measuring.

One story, in order, because each step builds on the last:
  main has an experiment (grid: 8) and its report, published by the bot;
  push 1 adds a grid value (8, 64): the untrusted `experiments` workflow plans and runs
         the PR's code on it (read-only, no secrets, nothing published); its completion
         starts the trusted `tuneops` workflow from main, which measures only 64 (8 is in
         main's trusted report), publishes the report to the branch and posts the comment
         with the delta against main;
  the bot's own commit: the `experiments` workflow runs, but the trusted pass sees a
         reports-only head and measures, publishes and comments nothing;
  push 2 adds another value (8, 64, 128): 8 is reused from main's published report, 64
         from the branch's report the bot attested (an HMAC with a key only the trusted
         workflow's environments hold), only 128 is measured; the same comment is edited.
"""

from __future__ import annotations

import json

import pytest

from tests import ci_helpers as c
from tests.gha_local import Environment, Runner, base_env, pr_event, workflow_run_event
from tests.github_standin import GitHub

pytestmark = [pytest.mark.genai_bench, pytest.mark.slow]
REPO_NAME = "acme/tuning"
WORKFLOWS = c.REPO / ".github" / "workflows"
TRUSTED = f"{REPO_NAME}/.github/workflows/tuneops.yml@refs/heads/main"
ATTEST_KEY = "an-attestation-key-of-at-least-32-characters"


def _fail_text(runner: Runner) -> str:
    return "\n".join(f"--- {s.job}: {s.name} rc={s.rc}\n{s.output[-3000:]}"
                     for s in runner.steps_run)


def _passes(tmp_path, origin, gh: GitHub, n: int, head: str, main: str) -> tuple[Runner, Runner]:
    """The `experiments` workflow on the PR head `head`, then the trusted workflow_run."""
    merge = c.merge_ref(origin, tmp_path, 1, main, head)
    gh.state.pr.update(head_sha=head)
    work = tmp_path / f"pr{n}"
    untrusted = Runner(
        workflow=WORKFLOWS / "experiments.yml",
        event=pr_event(repo=REPO_NAME, number=1, head_sha=head, head_ref="grid-64",
                       base_sha=main),
        origin=origin, work=work, env=base_env(work, gh.url, merge, REPO_NAME),
        secrets={"GITHUB_TOKEN": "ghs_readonly"}, runner_group=(TRUSTED,),
    )
    untrusted.run()
    work = tmp_path / f"trusted{n}"
    trusted = Runner(
        workflow=WORKFLOWS / "tuneops.yml", event_name="workflow_run",
        event=workflow_run_event(repo=REPO_NAME, head_sha=head,
                                 conclusion="success" if all(
                                     r in ("success", "skipped")
                                     for r in untrusted.results.values()) else "failure"),
        origin=origin, work=work, env=base_env(work, gh.url, main, REPO_NAME),
        secrets={"GITHUB_TOKEN": "ghs_write"}, approved={"reports-bot", "measure"},
        environments={"gpu": Environment(("main",), {"TUNEOPS_ATTEST_KEY": ATTEST_KEY}),
                      "measure": Environment(("main",), {"TUNEOPS_ATTEST_KEY": ATTEST_KEY}),
                      "reports-bot": Environment(("main",), {"TUNEOPS_BOT_TOKEN": "ghs_bot",
                                                             "TUNEOPS_ATTEST_KEY": ATTEST_KEY})},
        runner_group=(TRUSTED,), workflow_path=".github/workflows/tuneops.yml",
    )
    trusted.run()
    return untrusted, trusted


def test_pull_request_loop_through_both_workflow_files(tmp_path, capsys):
    origin, dev = c.new_origin(tmp_path)
    c.write_exp(dev, [8])
    c.commit_all(dev, "e2e experiment")
    c.tuneops(dev, "run", "experiments/e2e.yaml")  # main's report, measured for real
    [main_run] = (dev / "reports" / "e2e").iterdir()
    main = c.publish_commit(dev, "e2e", main_run.name)
    c.git(dev, "push", "-q", "origin", "main")

    c.git(dev, "checkout", "-q", "-b", "grid-64")
    c.write_exp(dev, [8, 64])
    head1 = c.commit_all(dev, "try 64 running requests")
    c.git(dev, "push", "-q", "origin", "grid-64")

    gh = GitHub(REPO_NAME, {"number": 1, "head_sha": head1, "head_ref": "grid-64",
                            "head_repo": REPO_NAME, "base_sha": main, "labels": []})
    try:
        # -- push 1 -------------------------------------------------------------------
        u1, t1 = _passes(tmp_path, origin, gh, 1, head1, main)
        assert u1.results == {"plan": "success", "run-cpu": "success"}, _fail_text(u1)
        assert not any(s.secrets for s in u1.steps_run)
        assert t1.results == {"authorize": "success", "measure-cpu": "success",
                              "measure-gpu": "skipped", "publish": "success",
                              "comment": "success"}, _fail_text(t1)
        status = c.read_json(t1.artifacts / "measured-cpu-0" / "e2e" / "status.json")
        assert (status["measured"], status["reused"], status["publishable"]) == (1, 1, True)
        run1 = status["report"].split("/")[-1]
        # the bot's publish commit landed on the branch, with its trailer
        c.git(dev, "fetch", "-q", "origin")
        log = c.git(dev, "log", "--format=%an|%cn|%s|%(trailers:key=Tuneops-Run,valueonly)",
                    "-1", "origin/grid-64")
        assert log.startswith("tuneops-bot|tuneops-bot|reports: e2e run ") and head1[:12] in log
        bot1 = c.git(dev, "rev-parse", "origin/grid-64")
        assert c.git(dev, "rev-parse", "origin/grid-64^") == head1
        posts = gh.calls("POST")
        assert len(posts) == 1 and len(gh.state.comments) == 1
        comment_id = gh.state.comments[0]["id"]
        body1 = gh.state.comments[0]["body"]
        assert body1.startswith("<!-- tuneops-bot:results -->")
        assert "✅ **passed**" in body1 and "1 measured in this run, 1 reused" in body1
        assert f"Compared with main's latest report `{main_run.name}`" in body1
        assert "| `ttft.p99` ≤ 5000 (SLO)" in body1
        assert all(p.auth == "token ghs_write" for p in gh.state.calls)

        # -- the bot's own commit: nothing measured, published or commented ----------------
        gh.state.calls.clear()
        u2, t2 = _passes(tmp_path, origin, gh, 2, bot1, main)
        assert t2.results == {"authorize": "success", "measure-cpu": "skipped",
                              "measure-gpu": "skipped", "publish": "skipped",
                              "comment": "skipped"}, _fail_text(t2)
        assert "a reports-only commit" in t2.step("authorize", "tuneops ci authorize").output
        c.git(dev, "fetch", "-q", "origin")
        assert c.git(dev, "rev-parse", "origin/grid-64") == bot1, "an empty pass pushed"
        assert not gh.calls("POST") and not gh.calls("PATCH")

        # -- push 2: one more grid value ----------------------------------------------------
        c.git(dev, "merge", "-q", "--ff-only", "origin/grid-64")
        c.write_exp(dev, [8, 64, 128])
        head2 = c.commit_all(dev, "and 128")
        c.git(dev, "push", "-q", "origin", "grid-64")
        gh.state.calls.clear()
        u3, t3 = _passes(tmp_path, origin, gh, 3, head2, main)
        assert t3.results["publish"] == "success", _fail_text(t3)
        status = c.read_json(t3.artifacts / "measured-cpu-0" / "e2e" / "status.json")
        assert (status["measured"], status["reused"]) == (1, 2)
        results = c.read_json(t3.artifacts / "measured-cpu-0" / "e2e" / "results.json")
        reused = {t["params"]["max-running-requests"]: t["reused_from"]
                  for t in results["trials"]}
        assert reused == {8: f"reports/e2e/{main_run.name}", 64: f"reports/e2e/{run1}",
                          128: None}
        assert not gh.calls("POST") and len(gh.calls("PATCH")) == 1
        assert [x["id"] for x in gh.state.comments] == [comment_id]
        body3 = gh.state.comments[0]["body"]
        assert "3 trial(s): 1 measured in this run, 2 reused" in body3
        # the branch's reports are the bot's: noted, not warned about
        assert "not the bot's publish commits" not in body3
        assert ("come from the bot's publish commits on this branch; 1 report folder(s) with "
                "a valid attestation") in body3
        with capsys.disabled():
            print(f"\n--- comment body after push 2 ---\n{body3}\n---")
        (tmp_path / "comment.md").write_text(body3)
        json.dumps(body3)
    finally:
        gh.close()
