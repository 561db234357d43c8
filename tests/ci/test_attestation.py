"""Attested reports: the publish job signs each report it commits to the pull request's
branch (HMAC over run id, results digest and head sha, with a key only the trusted
workflow's environments hold); on the next push the trusted side stages and reuses exactly
those, and nothing a contributor wrote, even under the bot's name."""

from __future__ import annotations

import json

import pytest
from tuneops.runner.report_trust import ATTESTATION, KEY_ENV, ReportTrust

from tests import ci_helpers as c
from tests.ci_helpers import report_for
from tuneops.ci.plan import plan
from tuneops.ci.publish import publish

KEY = "k" * 40


@pytest.fixture
def published(tmp_path, monkeypatch):
    """origin: main (e2e: 8); grid-64 (8, 64) with a report the bot published, attested."""
    origin, dev = c.new_origin(tmp_path)
    c.write_exp(dev, [8])
    c.commit_all(dev, "main")
    c.git(dev, "push", "-q", "origin", "main")
    c.git(dev, "checkout", "-q", "-b", "grid-64")
    c.write_exp(dev, [8, 64])
    head = c.commit_all(dev, "64")
    c.git(dev, "push", "-q", "origin", "grid-64")
    out = tmp_path / "ci-out"
    run = report_for(dev, "e2e", {8: 800.0, 64: 900.0}, "20261201T000000Z-pr")
    (out / "reports" / "e2e").mkdir(parents=True)
    run.rename(out / "reports" / "e2e" / run.name)
    (out / "reports" / "e2e" / run.name / ATTESTATION).write_text('{"forged": true}')
    main = tmp_path / "main"
    c.git(tmp_path, "clone", "-q", str(origin), str(main))
    monkeypatch.setenv(KEY_ENV, KEY)
    publish(main, out, head_sha=head, branch="grid-64", clone=tmp_path / "pub")
    return origin, dev, tmp_path


def trusted_plan(origin, tmp_path, name: str) -> tuple[dict, ReportTrust]:
    work = tmp_path / name
    c.git(tmp_path, "clone", "-q", str(origin), str(work))
    c.git(work, "checkout", "-q", "main")
    doc = plan(work, head_sha=c.git(origin, "rev-parse", "grid-64"))
    trust = ReportTrust.from_git(work)
    trust.add_attested(work / "reports", KEY.encode())
    return doc, trust


def test_the_bots_attested_report_is_staged_and_trusted(published):
    origin, dev, tmp_path = published
    att = json.loads(c.git(origin, "show",
                           f"grid-64:reports/e2e/20261201T000000Z-pr/{ATTESTATION}"))
    assert set(att) == {"version", "run", "results_sha256", "head_sha", "hmac"}
    doc, trust = trusted_plan(origin, tmp_path, "t1")
    assert doc["attested"] == ["reports/e2e/20261201T000000Z-pr"]
    assert trust.trusted == ["reports/e2e/20261201T000000Z-pr"]


def test_an_edited_or_unkeyed_report_is_not(published, monkeypatch):
    origin, dev, tmp_path = published
    c.git(dev, "fetch", "-q", "origin")
    c.git(dev, "reset", "-q", "--hard", "origin/grid-64")
    results = dev / "reports" / "e2e" / "20261201T000000Z-pr" / "results.json"
    results.write_text(results.read_text().replace("900.0", "90000.0"))
    c.commit_all(dev, "tidy")
    c.git(dev, "push", "-q", "origin", "grid-64")
    doc, trust = trusted_plan(origin, tmp_path, "t2")
    assert doc["attested"] == [] and trust.trusted == []
    assert not (tmp_path / "t2" / "reports" / "e2e").exists()
    monkeypatch.setenv(KEY_ENV, "")  # a workflow without the key trusts no branch report
    c.git(dev, "revert", "--no-edit", "HEAD")
    c.git(dev, "push", "-q", "origin", "grid-64")
    doc, _ = trusted_plan(origin, tmp_path, "t3")
    assert doc["attested"] == []
