"""The history of an experiment: the publish commit carries history/<experiment>.md and
.svg, built from the default branch's trusted reports plus the new one; a forged report on
main draws no point."""

from __future__ import annotations

from tests import ci_helpers as c
from tests.ci_helpers import report_for
from tuneops.ci import history
from tuneops.ci.publish import publish


def test_the_publish_commit_carries_the_trend_of_trusted_reports(tmp_path):
    origin, dev = c.new_origin(tmp_path)
    c.write_exp(dev, [8])
    c.commit_all(dev, "main")
    for i, value in enumerate((800.0, 850.0)):
        report_for(dev, "e2e", {8: value}, f"2026113{i}T000000Z-main")
        c.publish_commit(dev, "e2e", f"2026113{i}T000000Z-main")
    report_for(dev, "e2e", {8: 99999.0}, "20261139T000000Z-forged")
    c.commit_all(dev, "a report nobody measured")
    c.git(dev, "push", "-q", "origin", "main")
    c.git(dev, "checkout", "-q", "-b", "grid-64")
    c.write_exp(dev, [8, 64])
    head = c.commit_all(dev, "64")
    c.git(dev, "push", "-q", "origin", "grid-64")

    out = tmp_path / "ci-out"
    new = report_for(dev, "e2e", {8: 870.0, 64: 900.0}, "20261201T000000Z-pr")
    (out / "reports" / "e2e").mkdir(parents=True)
    new.rename(out / "reports" / "e2e" / new.name)
    trusted = tmp_path / "trusted"
    c.git(tmp_path, "clone", "-q", str(origin), str(trusted))
    done = publish(trusted, out, head_sha=head, branch="grid-64", clone=tmp_path / "pub")
    assert len(done.commits) == 1
    files = c.git(origin, "show", "--name-only", "--format=", "grid-64").splitlines()
    assert "history/e2e.md" in files and "history/e2e.svg" in files
    table = c.git(origin, "show", "grid-64:history/e2e.md")
    rows = [line for line in table.splitlines() if line.startswith("| ") and "run" not in line]
    assert [r.split("|")[2].strip() for r in rows] == [
        "`20261130T000000Z-main`", "`20261131T000000Z-main`", "`20261201T000000Z-pr`"]
    assert "99999" not in table and "| 900.0 |" in rows[-1]
    svg = c.git(origin, "show", "grid-64:history/e2e.svg")
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    # the same history gives the same bytes (no date in the file)
    points = history.trend(trusted, "e2e")
    history.write(tmp_path / "a", "e2e", "output_throughput_per_gpu", points)
    history.write(tmp_path / "b", "e2e", "output_throughput_per_gpu", points)
    assert (tmp_path / "a" / "history" / "e2e.svg").read_bytes() == (
        tmp_path / "b" / "history" / "e2e.svg").read_bytes()
