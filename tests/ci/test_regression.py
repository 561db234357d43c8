"""The regression gate: a direction-aware verdict per metric (✅ better, ❌ worse beyond
noise and threshold, ＝ within noise), a failing required check on a regression until a
maintainer labels the PR `tuneops:accept-regression`, same-hardware comparisons only, and
contended measurements named. Issue 20 saw −31.2 % shown next to a green check."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
from tuneops.runner.report.load import from_document, load

from tests import ci_helpers as c
from tests.ci_helpers import report_for
from tests.github_standin import GitHub
from tuneops.ci import compare, verdict

REPO_NAME = "acme/tuning"
MAIN_RUN = "20261130T000000Z-main"


@pytest.mark.parametrize("new,old,up,threshold,expected", [
    ((110.0, 2.0), (100.0, 2.0), True, 0.05, (verdict.BETTER, False)),
    ((90.0, 2.0), (100.0, 2.0), True, 0.05, (verdict.WORSE, True)),
    ((97.0, 2.0), (100.0, 2.0), True, 0.05, (verdict.WORSE, False)),  # beyond noise, < 5 %
    ((101.0, 2.0), (100.0, 2.0), True, 0.05, (verdict.SAME, False)),
    ((90.0, 2.0), (100.0, 2.0), False, 0.05, (verdict.BETTER, False)),  # minimised
    ((110.0, 2.0), (100.0, 2.0), False, 0.05, (verdict.WORSE, True)),
    ((110.0, 2.0), (100.0, 2.0), False, 0.20, (verdict.WORSE, False)),
    ((90.0, 2.0), (100.0, 2.0), True, None, (verdict.WORSE, False)),  # an SLO never gates
    ((96.0, None), (100.0, None), True, 0.0, (verdict.WORSE, True)),  # ±3 % assumed
    ((98.0, None), (100.0, None), True, 0.0, (verdict.SAME, False)),
])
def test_the_verdict_follows_the_direction_noise_and_threshold(new, old, up, threshold,
                                                               expected):
    change = verdict.judge(new, old, higher_is_better=up, threshold=threshold,
                           noise_rel=compare.NOISE_REL)
    assert (change.mark, change.regression) == expected


@pytest.fixture
def pr(tmp_path):
    """main: e2e (8) at 1000 tok/s, published; the PR adds 64 and gets 688 tok/s at 8."""
    origin, dev = c.new_origin(tmp_path)
    c.write_exp(dev, [8])
    c.commit_all(dev, "main")
    report_for(dev, "e2e", {8: 1000.0}, MAIN_RUN)
    c.publish_commit(dev, "e2e", MAIN_RUN)
    c.git(dev, "push", "-q", "origin", "main")
    c.git(dev, "checkout", "-q", "-b", "grid-64")
    c.write_exp(dev, [8, 64])
    head = c.commit_all(dev, "64")
    c.git(dev, "push", "-q", "origin", "grid-64")
    work = tmp_path / "trusted"
    c.git(tmp_path, "clone", "-q", str(origin), str(work))
    c.tuneops(work, "ci", "plan", "--head-sha", head, "--out", "plan.json")
    out = tmp_path / "ci-out"
    report = report_for(dev, "e2e", {8: 688.0, 64: 500.0}, "20261130T000001Z-pr")
    (out / "e2e").mkdir(parents=True)
    shutil.copy(report / "results.json", out / "e2e" / "results.json")
    (out / "e2e" / "status.json").write_text(json.dumps(
        {"status": "passed", "reason": "", "measured": 2, "reused": 0, "trials": 2}))
    return work, out, head


def _comment(work, out, gh: GitHub) -> subprocess.CompletedProcess:
    return subprocess.run([*c.TUNEOPS, "ci", "comment", str(out), "--plan", "plan.json",
                           "--pr", "1", "--repo", REPO_NAME], cwd=work, text=True,
                          capture_output=True, env={**os.environ, "GITHUB_API_URL": gh.url,
                                                    "GITHUB_TOKEN": "ghs_write"})


def test_a_regression_fails_the_check_until_a_maintainer_accepts_it(pr):
    work, out, head = pr
    gh = GitHub(REPO_NAME, {"number": 1, "head_sha": head, "head_ref": "grid-64",
                            "head_repo": REPO_NAME, "base_sha": "b" * 40, "labels": []})
    try:
        proc = _comment(work, out, gh)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "::error title=regression::e2e regressed" in proc.stdout
        [body] = [x["body"] for x in gh.state.comments]
        assert "| ❌ **regression** −312.0 (−31.2 %) |" in body
        assert "✅" not in body.split("Best configuration")[1]
        gh.state.pr["labels"] = ["tuneops:accept-regression"]
        proc = _comment(work, out, gh)
        assert proc.returncode == 0 and "accepted" in proc.stdout
    finally:
        gh.close()


def test_other_hardware_is_not_compared_and_contention_is_named(pr):
    work, out, head = pr
    p = json.loads((work / "plan.json").read_text())
    base = from_document(p["base_reports"]["e2e"], "main's report")
    new = load(out / "e2e" / "results.json")
    assert compare.regressed(new, base, 0.05)
    other_doc = json.loads(json.dumps(base.doc))
    other_doc["hardware"]["host"]["cpu_model"] = "Another CPU"
    other = from_document(other_doc, "another host's report")
    lines = "\n".join(compare.comparison(new, other))
    assert "**not comparable: other hardware**" in lines and "Another CPU" in lines
    assert "−31.2 %" not in lines and not compare.regressed(new, other, 0.05)
    contended = json.loads(json.dumps(new.doc))
    for t in contended["trials"]:
        t["contended"] = True
        t["host_load"] = [{"loadavg_1m_after": 10.0, "cpus": 2, "contended": True}]
    lines = "\n".join(compare.comparison(from_document(contended, "this PR's report"), base))
    assert ("⚠️ this PR: contended measurement: other work shared the host "
            "(load 10.0 on 2 CPUs).") in lines


def test_the_threshold_is_read_from_the_experiment_and_checked_by_the_schema(tmp_path):
    from tests import e2e_helpers as h

    path = h.write_experiment(tmp_path / "experiments", "t", ci={"regressionThreshold": "10%"})
    assert h.load(path).regression_threshold == pytest.approx(0.10)
    bad = h.write_experiment(tmp_path / "experiments", "u", ci={"regressionThreshold": 5})
    proc = c.tuneops(tmp_path, "validate", "experiments/u.yaml", check=False)
    assert proc.returncode == 2 and "ci.regressionThreshold" in proc.stderr, proc.stderr
    assert bad.exists()
