"""The GitOps loop end to end: the workflow file itself, run job by job against real git
(a bare origin, depth-1 checkouts) and a stand-in GitHub API on 127.0.0.1, with the real
simulator and genai-bench measuring.

One story, in order, because each step builds on the last:
  main has an experiment (grid: 8) and its committed report;
  push 1 adds a grid value (8, 64): only 64 is measured, the bot commits the report and
         posts one comment with the delta against main;
  the bot's own commit triggers the workflow again: everything is reused, nothing is
         committed, the same comment is edited;
  push 2 adds another value (8, 64, 128): only 128 is measured, the comment is edited.
"""

from __future__ import annotations

import json

import pytest

from tests import ci_helpers as c
from tests.gha_local import Runner, base_env, pr_event
from tests.github_standin import GitHub

pytestmark = [pytest.mark.genai_bench, pytest.mark.slow]
REPO_NAME = "acme/tuning"


def _pass(tmp_path, origin, gh: GitHub, n: int, head: str, base: str) -> Runner:
    """One workflow run on the PR's head `head`."""
    merge = c.merge_ref(origin, tmp_path, 1, base, head)
    gh.state.pr.update(head_sha=head)
    work = tmp_path / f"run{n}"
    runner = Runner(
        workflow=c.REPO / ".github" / "workflows" / "experiments.yml",
        event=pr_event(repo=REPO_NAME, number=1, head_sha=head, head_ref="grid-64",
                       base_sha=base),
        origin=origin, work=work, env=base_env(work, gh.url, merge, REPO_NAME),
        secrets={"GITHUB_TOKEN": "ghs_readonly", "TUNEOPS_BOT_TOKEN": "ghs_bot"},
        approved={"reports-bot"},
    )
    runner.run()
    return runner


def _fail_text(runner: Runner) -> str:
    return "\n".join(f"--- {s.job}: {s.name} rc={s.rc}\n{s.output[-3000:]}"
                     for s in runner.steps_run)


def test_pull_request_loop_through_the_workflow_file(tmp_path, marker, capsys):
    origin, dev = c.new_origin(tmp_path)
    c.write_exp(dev, [8])
    c.tuneops(dev, "run", "experiments/e2e.yaml")  # main's report, measured for real
    base = c.commit_all(dev, "e2e experiment and its report")
    c.git(dev, "push", "-q", "origin", "main")
    [main_run] = (dev / "reports" / "e2e").iterdir()

    c.git(dev, "checkout", "-q", "-b", "grid-64")
    c.write_exp(dev, [8, 64])
    head1 = c.commit_all(dev, "try 64 running requests")
    c.git(dev, "push", "-q", "origin", "grid-64")

    gh = GitHub(REPO_NAME, {"number": 1, "head_sha": head1, "head_ref": "grid-64",
                            "head_repo": REPO_NAME, "base_sha": base, "labels": []})
    try:
        # -- push 1 -------------------------------------------------------------------
        r1 = _pass(tmp_path, origin, gh, 1, head1, base)
        assert r1.results == {"plan": "success", "run-hosted": "success", "run-gpu": "skipped",
                              "publish": "success", "comment-early": "skipped",
                              "comment": "success"}, _fail_text(r1)
        status = c.read_json(r1.artifacts / "run-hosted-0" / "e2e" / "status.json")
        assert (status["measured"], status["reused"], status["new_report"]) == (1, 1, True)
        # the bot's commit landed on the branch, naming the experiment and the head sha
        c.git(dev, "fetch", "-q", "origin")
        log = c.git(dev, "log", "--format=%an|%s", "origin/grid-64").splitlines()
        assert log[0].startswith("tuneops-bot|reports: e2e run ") and log[0].endswith(head1[:12])
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
        assert all(p.auth == "token ghs_readonly" for p in gh.state.calls)

        # -- the bot's own commit: everything reused, nothing committed -----------------
        gh.state.calls.clear()
        r2 = _pass(tmp_path, origin, gh, 2, bot1, base)
        assert r2.results["comment"] == "success", _fail_text(r2)
        status = c.read_json(r2.artifacts / "run-hosted-0" / "e2e" / "status.json")
        assert (status["measured"], status["reused"], status["new_report"]) == (0, 2, False)
        run_step = r2.step("run-hosted", "tuneops ci run")
        assert "nothing measured: all 2 trial(s) reused" in run_step.output
        assert "nothing to publish" in r2.step("publish", "tuneops ci publish").output
        c.git(dev, "fetch", "-q", "origin")
        assert c.git(dev, "rev-parse", "origin/grid-64") == bot1, "an empty pass pushed"
        assert not gh.calls("POST") and len(gh.calls("PATCH")) <= 1
        assert [x["id"] for x in gh.state.comments] == [comment_id]
        assert "Nothing measured" in gh.state.comments[0]["body"]

        # -- push 2: one more grid value, only it is measured ----------------------------
        c.git(dev, "checkout", "-q", "grid-64")
        c.git(dev, "merge", "-q", "--ff-only", "origin/grid-64")
        c.write_exp(dev, [8, 64, 128])
        head2 = c.commit_all(dev, "and 128")
        c.git(dev, "push", "-q", "origin", "grid-64")
        gh.state.calls.clear()
        r3 = _pass(tmp_path, origin, gh, 3, head2, base)
        assert r3.results["publish"] == "success", _fail_text(r3)
        status = c.read_json(r3.artifacts / "run-hosted-0" / "e2e" / "status.json")
        assert (status["measured"], status["reused"]) == (1, 2)
        results = c.read_json(r3.artifacts / "run-hosted-0" / "e2e" / "results.json")
        measured = [t["params"]["max-running-requests"] for t in results["trials"]
                    if t["reused_from"] is None]
        assert measured == [128]
        assert not gh.calls("POST") and len(gh.calls("PATCH")) == 1
        assert [x["id"] for x in gh.state.comments] == [comment_id]
        body3 = gh.state.comments[0]["body"]
        assert "3 trial(s): 1 measured in this run, 2 reused" in body3
        with capsys.disabled():
            print(f"\n--- comment body after push 2 ---\n{body3}\n"
                  f"--- all-reused pass: `tuneops ci run` {run_step.wall_s:.1f}s ---")
        (tmp_path / "comment.md").write_text(body3)
        json.dumps(body3)
    finally:
        gh.close()
