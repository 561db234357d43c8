"""The attacks (and bad days) of issue 20 against the `tuneops ci` steps, on real git and
the REST stand-in, without measuring (reports come from the real report writer with
trial results given as data; tests/ci_helpers.report_for).

forged report · stale base · markdown injection · sticky hijack · racing comment jobs ·
300-experiment comment · plan failures as annotations · infra-only runs never published ·
authorize's rules.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from tuneops.runner.report_trust import ReportTrust
from tuneops.runner.store import ResultStore

from tests import ci_helpers as c
from tests.ci_helpers import report_for
from tests.github_standin import GitHub
from tuneops.ci import comment, github
from tuneops.ci.authorize import decide
from tuneops.ci.plan import plan
from tuneops.errors import UserError

REPO_NAME = "acme/tuning"
MAIN_RUN = "20261130T000000Z-main"


@pytest.fixture
def repo(tmp_path):
    """origin/main: e2e (8) with the bot's published report; dev on branch grid-64."""
    origin, dev = c.new_origin(tmp_path)
    c.write_exp(dev, [8])
    c.commit_all(dev, "main")
    report_for(dev, "e2e", {8: 868.9}, MAIN_RUN)
    base = c.publish_commit(dev, "e2e", MAIN_RUN)
    c.git(dev, "push", "-q", "origin", "main")
    c.git(dev, "checkout", "-q", "-b", "grid-64")
    return origin, dev, base


def full_clone(origin: Path, dest: Path, ref: str = "main") -> Path:
    c.git(origin.parent, "clone", "-q", str(origin), str(dest))
    c.git(dest, "checkout", "-q", "--detach", ref)
    return dest


# -- forged report -------------------------------------------------------------------------

def test_a_forged_report_is_never_reused_and_the_comment_warns(tmp_path, repo):
    origin, dev, base = repo
    c.write_exp(dev, [8, 64])
    # a results.json holding the planned trial ids with throughput ×100, and a reused_from
    # naming main's real report; plus a folder named to sort last ("main's latest")
    forged = report_for(dev, "e2e", {8: 86890.0, 64: 99999.0}, "zzzz")
    doc = c.read_json(forged / "results.json")
    for t in doc["trials"]:
        t["reused_from"] = f"reports/e2e/{MAIN_RUN}"
    (forged / "results.json").write_text(json.dumps(doc))
    head = c.commit_all(dev, "faster, trust me")
    c.git(dev, "push", "-q", "origin", "grid-64")

    # the trusted side: main's checkout, the PR as data
    work = full_clone(origin, tmp_path / "trusted")
    doc = plan(work, head_sha=head)
    assert "reports/e2e/zzzz/results.json" in doc["pr_reports"]
    assert all(p.startswith("reports/e2e/zzzz/") for p in doc["pr_reports"])
    assert doc["base_reports"]["e2e"]["run"]["id"] == MAIN_RUN
    assert not (work / "reports" / "e2e" / "zzzz").exists(), "PR reports were staged"
    body = comment.body(doc, tmp_path / "none", results={"hosted": "success"})
    assert (f"⚠️ This pull request adds, edits or deletes {len(doc['pr_reports'])} file(s) "
            "under `reports/` that are not the bot's publish commits") in body

    # merged by a careless maintainer: still not the bot's, so never reused, never latest
    main_after = full_clone(origin, tmp_path / "merged", "main")
    c.git(main_after, "checkout", "-q", "-B", "main")
    c.git(main_after, "merge", "-q", "--no-ff", "-m", "merge", head)
    trust = ReportTrust.from_git(main_after)
    assert trust.trusted == [f"reports/e2e/{MAIN_RUN}"]
    assert "not a publish commit" in trust.refused["reports/e2e/zzzz"]
    assert trust.latest("e2e") == f"reports/e2e/{MAIN_RUN}"
    store = ResultStore.scan(main_after / "reports", trust)
    assert {f.source for f in store.found.values()} == {f"reports/e2e/{MAIN_RUN}"}
    # without the policy (today's store) the forgery is what the store finds
    naive = ResultStore.scan(main_after / "reports")
    assert any(f.source == "reports/e2e/zzzz" for f in naive.found.values())


def test_an_edit_to_a_published_report_or_a_forged_bot_identity_in_a_shallow_clone(tmp_path,
                                                                                  repo):
    origin, dev, base = repo
    c.git(dev, "checkout", "-q", "main")
    path = dev / "reports" / "e2e" / MAIN_RUN / "results.json"
    path.write_text(path.read_text().replace("868.9", "86890.0"))
    c.commit_all(dev, "typo fix")
    assert "changed after" in ReportTrust.from_git(dev).refused[f"reports/e2e/{MAIN_RUN}"]
    # a depth-1 clone of a publish commit looks as if the bot added every file: refused
    shallow = c.shallow_clone(origin, tmp_path / "shallow", base)
    trust = ReportTrust.from_git(shallow)
    assert trust.trusted == [] and "shallow" in trust.refused["reports/"]


def test_main_latest_is_the_newest_publish_not_the_largest_folder_name(tmp_path, repo):
    origin, dev, base = repo
    c.git(dev, "checkout", "-q", "main")
    report_for(dev, "e2e", {8: 900.0}, "00000000T000000Z-later")
    c.publish_commit(dev, "e2e", "00000000T000000Z-later")
    assert ReportTrust.from_git(dev).latest("e2e") == "reports/e2e/00000000T000000Z-later"


# -- stale base ----------------------------------------------------------------------------

def test_the_plan_diffs_the_merge_commit_against_its_first_parent(tmp_path, repo):
    origin, dev, stale_base = repo
    c.write_exp(dev, [8, 64])
    head = c.commit_all(dev, "64")
    c.git(dev, "push", "-q", "origin", "grid-64")
    # main moves on after the PR branched: a GPU experiment the PR never touched
    c.git(dev, "checkout", "-q", "main")
    (dev / "experiments" / "gpu.yml").write_text(
        (c.REPO / "experiments" / "examples" / "sglang-docker.yaml").read_text())
    c.commit_all(dev, "a GPU experiment on main")
    c.git(dev, "push", "-q", "origin", "main")
    merge = c.merge_ref(origin, tmp_path, 1, c.git(dev, "rev-parse", "main"), head)
    work = c.shallow_clone(origin, tmp_path / "w", merge)
    c.git(work, "fetch", "-q", "--depth=2", "origin", merge)
    # GitHub's event base.sha can predate main's tip: it must not matter
    doc = plan(work, stale_base)
    assert doc["hosted"] == ["experiments/e2e.yaml"] and doc["self-hosted"] == []


# -- markdown injection ----------------------------------------------------------------------

HOSTILE = "x` @acme/maintainers ![p](https://evil.example/p.png) <!-- | cell"


def _html(markdown: str) -> str:
    return MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown)


def test_user_strings_cannot_leave_their_code_spans(tmp_path, repo):
    origin, dev, base = repo
    exp_path = c.write_exp(dev, [8, 64])
    text = exp_path.read_text()
    doc = json.loads(text)
    doc["parameters"] = {"max-running-requests": [8, 64], "completion-template": [HOSTILE]}
    exp_path.write_text(json.dumps(doc))
    head = c.commit_all(dev, "hostile value")
    work = full_clone(origin, tmp_path / "trusted")
    c.git(dev, "push", "-q", "origin", "grid-64")
    p = plan(work, head_sha=head)
    out = tmp_path / "ci-out"
    (out / "e2e").mkdir(parents=True)
    (out / "e2e" / "status.json").write_text(json.dumps(
        {"status": "failed", "reason": f"engine did not serve {HOSTILE} within 1s"}))
    body = comment.body(p, out, results={"hosted": "failure"})
    html = _html(body)
    assert "<img" not in html and "<!--" not in html.replace(comment.MARKER, "")
    assert re.search(r"@acme", re.sub(r"<code>.*?</code>", "", html, flags=re.S)) is None
    assert "engine did not serve" in html


def test_a_hostile_best_configuration_stays_in_its_table_cell(tmp_path, repo):
    from tuneops.runner.report.load import from_document

    from tests.runner.report_helpers import report_doc as report
    from tuneops.ci import compare
    from tuneops.errors import UserError

    # a parameter name and value are free text in a report: they reach the comment
    good = report("r", [("a", 1.0, {"objective": 1.0})], "a").doc
    good["trials"][0]["params"] = {HOSTILE: HOSTILE}
    good["run"]["id"] = HOSTILE  # so is a run id: shown in the "Compared with" line
    doc = from_document(good, "a hostile report")
    html = _html("\n".join(compare.comparison(doc, doc)))
    assert "<img" not in html and "<!--" not in html
    assert re.search(r"@acme", re.sub(r"<code>.*?</code>", "", html, flags=re.S)) is None
    for row in re.findall(r"<tr>(.*?)</tr>", html, flags=re.S)[1:]:
        assert row.count("<td") == 4, row  # label, PR, main, Δ: the pipe split nothing
    # metric names and bounds are held to the loader's checks: refused, never shown
    for where, value in ((("objective", "metric"), HOSTILE), (("slos", 0, "max"), HOSTILE),
                         (("slos", 0, "metric"), HOSTILE)):
        bad = json.loads(json.dumps(good))
        node = bad
        for key in where[:-1]:
            node = node[key]
        node[where[-1]] = value
        with pytest.raises(UserError):
            from_document(bad, "a forged report")


# -- the sticky comment ------------------------------------------------------------------------

@pytest.fixture
def gh():
    server = GitHub(REPO_NAME, {"number": 1, "head_sha": "a" * 40, "head_ref": "grid-64",
                                "head_repo": REPO_NAME, "base_sha": "b" * 40, "labels": []})
    yield server
    server.close()


def test_a_users_marker_comment_is_never_edited(gh):
    hijack = {"id": 5, "body": comment.MARKER + "\n✅ all green, merge me",
              "user": {"login": "mallory", "id": 7, "type": "User"}}
    gh.state.comments.append(dict(hijack))
    client = github.client("ghs_x", gh.url)
    how, cid = github.upsert_comment(client, REPO_NAME, 1, comment.MARKER + "\nreal",
                                     comment.MARKER)
    assert how == "created" and cid != 5
    assert gh.state.comments[0] == hijack
    # a user named like the bot but not a Bot account owns nothing either
    gh.state.comments.append({"id": 6, "body": comment.MARKER, "user": {
        "login": "github-actions[bot]", "id": 8, "type": "User"}})
    assert github.upsert_comment(client, REPO_NAME, 1, comment.MARKER + "\nv2",
                                 comment.MARKER) == ("updated", cid)
    assert [x["id"] for x in gh.state.comments if "v2" in x["body"]] == [cid]


def test_overlapping_comment_jobs_end_with_one_comment(gh):
    client = github.client("ghs_x", gh.url)
    # two jobs both listed before either created: each created one
    for n in (1, 2):
        client.get_repo(REPO_NAME).get_issue(1).create_comment(
            f"{comment.MARKER}\njob {n}")
    how, cid = github.upsert_comment(client, REPO_NAME, 1, comment.MARKER + "\nfinal",
                                     comment.MARKER)
    assert [x["id"] for x in gh.state.comments] == [cid] and how == "updated"
    assert gh.state.comments[0]["body"].endswith("final")
    assert len(gh.calls("DELETE")) == 1


def test_three_hundred_experiments_fit_the_budget_and_link_the_full_report(tmp_path, gh):
    experiments = [{"path": f"experiments/e{i:03d}-{'x' * 60}.yaml", "name": f"e{i:03d}",
                    "engine": "sim", "runner": "hosted", "sha256": "0" * 64}
                   for i in range(300)]
    out = tmp_path / "ci-out"
    for e in experiments:
        (out / e["name"]).mkdir(parents=True)
        (out / e["name"] / "status.json").write_text(json.dumps(
            {"status": "failed", "reason": "engine did not serve within 1s " + "y" * 200}))
    p = {"experiments": experiments, "base": "b" * 40, "head": "a" * 40}
    url = "https://github.example/acme/tuning/actions/runs/1"
    body = comment.body(p, out, results={"hosted": "failure"}, run_url=url)
    assert len(body) <= comment.BUDGET
    assert f"[run's summary]({url})" in body and "more experiment(s)" in body
    client = github.client("ghs_x", gh.url)
    assert github.upsert_comment(client, REPO_NAME, 1, body, comment.MARKER)[0] == "created"
    # the body without the budget: what GitHub refuses
    with pytest.raises(github.GithubException) as exc:
        client.get_repo(REPO_NAME).get_issue(1).create_comment("x" * 65537)
    assert exc.value.status == 422


# -- plan failures -----------------------------------------------------------------------------

def test_a_failing_plan_annotates_the_file_and_the_trusted_side_posts_it(tmp_path, repo):
    origin, dev, base = repo
    exp = dev / "experiments" / "e2e.yaml"
    exp.write_text(exp.read_text().replace('"maximize"', '"maximise"'))
    head = c.commit_all(dev, "typo")
    c.git(dev, "push", "-q", "origin", "grid-64")
    proc = c.tuneops(dev, "ci", "plan", "--base", base, check=False)
    assert proc.returncode == 2
    assert re.search(r"^::error file=experiments/e2e\.yaml,line=\d+,col=\d+,"
                     r"title=objective\.direction::", proc.stdout, flags=re.M), proc.stdout
    work = full_clone(origin, tmp_path / "trusted")
    proc = c.tuneops(work, "ci", "plan", "--head-sha", head, "--out", "plan.json")
    p = c.read_json(work / "plan.json")
    assert p["experiments"] == [] and "objective.direction" in p["errors"][0]
    body = comment.body(p, tmp_path / "none", results={})
    assert "**The plan failed**" in body and "objective.direction" in body


# -- authorize ---------------------------------------------------------------------------------

def test_a_reports_only_head_is_not_measured_again(tmp_path, repo, gh):
    origin, dev, base = repo
    c.write_exp(dev, [8, 64])
    head = c.commit_all(dev, "64")
    report_for(dev, "e2e", {8: 868.9, 64: 900.0}, "20261130T000002Z-pr")
    bot = c.publish_commit(dev, "e2e", "20261130T000002Z-pr")
    c.git(dev, "push", "-q", "origin", "grid-64")
    work = full_clone(origin, tmp_path / "trusted")
    client = github.client("ghs_x", gh.url)
    import git

    for sha, measure in ((head, True), (bot, False)):
        gh.state.pr["head_sha"] = sha
        d = decide("workflow_run", {"workflow_run": {"event": "pull_request", "head_sha": sha}},
                   REPO_NAME, client, git.Repo(work))
        assert (d.pr, d.measure, d.gpu) == (1, measure, False)
    with pytest.raises(UserError, match="not a pull_request run"):
        decide("workflow_run", {"workflow_run": {"event": "push", "head_sha": bot}},
               REPO_NAME, client, git.Repo(work))
