"""`tuneops ci` steps against real git and the stand-in GitHub API, without measuring:
plan on depth-1 checkouts, racing publishers and planted files under reports/ (a fork's
pull request through the workflow files: tests/ci/test_workflows.py).

Reports here are written by the real report writer from trial results given as data.
"""

from __future__ import annotations

import threading

import pytest
from tuneops.runner.report.load import load

from tests import ci_helpers as c
from tests.ci_helpers import push_gpu_experiment, report_for
from tuneops.ci import comment, compare
from tuneops.ci.plan import check_path, plan
from tuneops.ci.publish import publish
from tuneops.errors import UserError

REPO_NAME = "acme/tuning"


@pytest.fixture
def pr_repo(tmp_path):
    """origin with main (e2e: 8, with a report) and branch grid-64 (e2e: 8, 64)."""
    origin, dev = c.new_origin(tmp_path)
    c.write_exp(dev, [8])
    c.commit_all(dev, "main")
    report_for(dev, "e2e", {8: 1000.0}, "20261130T000000Z-main")
    base = c.publish_commit(dev, "e2e", "20261130T000000Z-main")
    c.git(dev, "push", "-q", "origin", "main")
    c.git(dev, "checkout", "-q", "-b", "grid-64")
    c.write_exp(dev, [8, 64])
    head = c.commit_all(dev, "64")
    c.git(dev, "push", "-q", "origin", "grid-64")
    return origin, dev, base, head


def test_plan_on_a_depth_1_checkout_lists_relative_paths_and_runner_classes(tmp_path, pr_repo):
    origin, dev, base, head = pr_repo
    # a .yml experiment on a GPU engine is picked up too
    head = push_gpu_experiment(dev)
    work = c.shallow_clone(origin, tmp_path / "shallow", head)
    doc = plan(work, base)  # base is not in the depth-1 checkout: fetched alone
    assert doc["base"] == base and doc["head"] == head
    assert doc["hosted"] == ["experiments/e2e.yaml"]
    assert doc["self-hosted"] == ["experiments/gpu.yml"]
    # a depth-1 checkout has no history to prove who published main's report: none shown
    assert doc["base_reports"]["e2e"] is None
    proc = c.tuneops(work, "ci", "plan", "--base", base, "--github-output", "out.txt")
    assert 'hosted=["experiments/e2e.yaml"]' in (work / "out.txt").read_text()
    assert "manifests up to date" in proc.stdout
    # plain `tuneops validate` and `render --check` see the .yml file as well
    assert "experiments/gpu.yml: ok" in c.tuneops(work, "validate").stdout
    assert "for 2 experiment(s)" in c.tuneops(work, "render", "--check").stdout


@pytest.mark.parametrize("bad", ["experiments/x$(touch pwned).yaml", "experiments/../x.yaml",
                                 "/etc/passwd", "experiments/a b.yml", "other/x.yaml"])
def test_untrusted_experiment_paths_are_refused(tmp_path, bad):
    with pytest.raises(UserError):
        check_path(bad)
    proc = c.tuneops(tmp_path, "ci", "run", bad, check=False)
    assert proc.returncode == 2 and "experiments/**/*.y*ml" in proc.stderr
    assert not (tmp_path / "pwned").exists()


def test_two_racing_publishers_both_land_without_force(tmp_path, pr_repo):
    origin, dev, base, head = pr_repo
    outs = []
    for i in range(2):
        out = tmp_path / f"out{i}"
        report_for(dev, "e2e", {8: 1000.0, 64: 1100.0 + i}, f"20261130T00000{i}Z-race")
        (out / "reports" / "e2e").mkdir(parents=True)
        (dev / "reports" / "e2e" / f"20261130T00000{i}Z-race").rename(
            out / "reports" / "e2e" / f"20261130T00000{i}Z-race")
        outs.append(out)
    clones = [c.shallow_clone(origin, tmp_path / f"pub{i}", head) for i in range(2)]
    done: list = [None, None]

    def go(i: int) -> None:
        done[i] = publish(clones[i], outs[i], head_sha=head, branch="grid-64")

    threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    c.git(dev, "fetch", "-q", "origin")
    subjects = c.git(dev, "log", "--format=%s", f"{head}..origin/grid-64").splitlines()
    assert sorted(subjects) == [f"reports: e2e run 20261130T00000{i}Z-race for {head[:12]}"
                                for i in range(2)]
    assert c.git(dev, "rev-list", "--count", f"{head}..origin/grid-64") == "2"
    # whoever lost the race (or both, if they interleaved) fetched, rebased, pushed again
    assert sorted(d.attempts for d in done)[-1] >= 1
    # a deterministic loser: a third publisher from the old head must rebase and retry
    out = tmp_path / "out2"
    report_for(dev, "e2e", {8: 1000.0, 64: 1200.0}, "20261130T000002Z-late")
    (out / "reports" / "e2e").mkdir(parents=True)
    (dev / "reports" / "e2e" / "20261130T000002Z-late").rename(
        out / "reports" / "e2e" / "20261130T000002Z-late")
    late = publish(c.shallow_clone(origin, tmp_path / "pub2", head), out, head_sha=head,
                   branch="grid-64")
    assert late.attempts == 2
    # publishing the same reports again changes nothing and pushes nothing
    again = publish(c.shallow_clone(origin, tmp_path / "pub3", "grid-64"), out, head_sha=head,
                    branch="grid-64")
    assert again.commits == [] and again.attempts == 0


def test_planted_symlinks_and_forged_files_are_never_shown(tmp_path, pr_repo):
    origin, dev, base, head = pr_repo
    secret = tmp_path / "secret.txt"
    secret.write_text("GH_TOKEN=ghs_verysecret")
    work = c.shallow_clone(origin, tmp_path / "w", head)
    plan_doc = plan(work, base)
    out = tmp_path / "ci-out"
    (out / "e2e").mkdir(parents=True)
    # a status claiming success, a symlinked results.json and a forged summary.md
    (out / "e2e" / "status.json").write_text(
        '{"status": "passed", "measured": 1, "reused": 0, "trials": 1}')
    (out / "e2e" / "results.json").symlink_to(secret)
    (out / "e2e" / "summary.md").write_text("## all green, merge me")
    text = comment.body(plan_doc, out, results={"hosted": "success"})
    assert "ghs_verysecret" not in text and "merge me" not in text
    assert "❌ **failed**" in text
    # a real report, but of another version of the file: not this PR's result
    stale = report_for(dev, "e2e", {8: 1.0, 64: 2.0}, "20261130T000009Z-stale")
    (out / "e2e" / "results.json").unlink()
    (out / "e2e" / "results.json").write_bytes((stale / "results.json").read_bytes())
    plan_doc["experiments"][0]["sha256"] = "0" * 64
    assert "Best configuration" not in comment.body(plan_doc, out, results={"hosted": "success"})
    # the store never reads through a symlink either (reports/ in the checkout)
    planted = work / "reports" / "e2e" / "20991231T000000Z-evil"
    planted.mkdir(parents=True)
    (planted / "results.json").symlink_to(secret)
    from tuneops.runner.store import ResultStore

    store = ResultStore.scan(work / "reports")
    assert all(p.name != planted.name for p in store.reports)


def test_diff_prints_the_comparison_the_bot_posts(tmp_path, pr_repo):
    origin, dev, base, head = pr_repo
    c.write_exp(dev, [8])
    a = report_for(dev, "e2e", {8: 1000.0}, "20261130T000001Z-a")
    c.write_exp(dev, [8, 64])
    b = report_for(dev, "e2e", {8: 1000.0, 64: 1500.0}, "20261130T000002Z-b")
    proc = c.tuneops(dev, "diff", str(a), str(b))
    expected = compare.diff_text(load(a), load(b), a_label=str(a), b_label=str(b))
    assert proc.stdout == expected + "\n"
    # B's best (64) is not in A: best against best
    assert "best vs best" in proc.stdout and "+500.0 (+50.0 %)" in proc.stdout
    # the same best trial in both: a direct delta, and 10 in 1500 is inside the noise
    same = report_for(dev, "e2e", {8: 1010.0, 64: 1490.0}, "20261130T000003Z-c")
    out = c.tuneops(dev, "diff", str(b), str(same)).stdout
    assert "direct delta" in out and "−10.0 (−0.7 %) _within noise_*" in out


def test_plan_refuses_an_invalid_experiment_with_file_line_and_writes_nothing(tmp_path, pr_repo):
    origin, dev, base, head = pr_repo
    (dev / "experiments" / "bad.yaml").write_text(
        (dev / "experiments" / "e2e.yaml").read_text().replace('"maximize"', '"maximise"'))
    (dev / "experiments" / "twin.yaml").write_text((dev / "experiments" / "e2e.yaml").read_text())
    c.commit_all(dev, "a typo and a second file of the same name")
    work = dev
    proc = c.tuneops(work, "ci", "plan", "--base", base, "--out", "plan.json", check=False)
    assert proc.returncode == 2
    assert "experiments/bad.yaml:" in proc.stderr and "objective.direction" in proc.stderr
    assert "experiment name 'e2e' is also used by experiments/e2e.yaml" in proc.stderr
    assert not (work / "plan.json").exists()
