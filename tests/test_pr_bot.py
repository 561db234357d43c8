"""The PR bot finds the experiments a pull request touches and posts their summaries."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import git

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "experiments" / "examples"

spec = importlib.util.spec_from_file_location("pr_bot", ROOT / "scripts" / "pr_bot.py")
pr_bot = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pr_bot)


def _repo(tmp_path: Path) -> git.Repo:
    repo = git.Repo.init(tmp_path, initial_branch="main")
    with repo.config_writer() as cw:
        cw.set_value("user", "name", "t")
        cw.set_value("user", "email", "t@example.com")
    (tmp_path / "experiments").mkdir()
    shutil.copy(EXAMPLES / "sglang-docker.yaml", tmp_path / "experiments" / "old.yaml")
    repo.index.add(["experiments/old.yaml"])
    repo.index.commit("base")
    repo.create_head("pr").checkout()
    return repo


def test_changed_lists_only_added_or_modified_experiments(tmp_path):
    repo = _repo(tmp_path)
    shutil.copy(EXAMPLES / "sim-small.yaml", tmp_path / "experiments" / "new.yaml")
    (tmp_path / "README.md").write_text("not an experiment\n")
    repo.index.add(["experiments/new.yaml", "README.md"])
    repo.index.commit("add an experiment")
    changed = pr_bot.changed_experiments(tmp_path, "main")
    assert [p.name for p in changed] == ["new.yaml"]


def test_split_sends_simulator_to_cpu_and_sglang_to_gpu():
    groups = pr_bot.split_by_runner([EXAMPLES / "sim-small.yaml", EXAMPLES / "sglang-docker.yaml",
                                     EXAMPLES / "quickstart.yaml"])
    assert groups["cpu"] == [str(EXAMPLES / "sim-small.yaml"), str(EXAMPLES / "quickstart.yaml")]
    assert groups["gpu"] == [str(EXAMPLES / "sglang-docker.yaml")]


def test_comment_carries_newest_summary_and_says_when_a_run_left_none(tmp_path):
    reports = tmp_path / "reports"
    for run, text in (("20260101T000000Z-a", "old table"), ("20260102T000000Z-a", "new table")):
        (reports / "sim-small" / run).mkdir(parents=True)
        (reports / "sim-small" / run / "summary.md").write_text(text)
    body = pr_bot.comment_body(reports, [EXAMPLES / "sim-small.yaml", EXAMPLES / "quickstart.yaml"])
    assert body.startswith(pr_bot.MARKER)
    assert "new table" in body and "old table" not in body
    assert "`quickstart`" in body and "did not finish" in body


def test_main_prints_github_outputs(tmp_path, monkeypatch, capsys):
    repo = _repo(tmp_path)
    shutil.copy(EXAMPLES / "sim-small.yaml", tmp_path / "experiments" / "new.yaml")
    repo.index.add(["experiments/new.yaml"])
    repo.index.commit("add")
    monkeypatch.chdir(tmp_path)
    assert pr_bot.main(["changed", "--base", "main"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("cpu=") and "new.yaml" in out[0]
    assert out[1] == "gpu=[]"
