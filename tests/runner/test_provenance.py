"""Provenance facts of results.json, each from a source the test controls: a git repository
made here (commit, branch, dirty; detached HEAD; no repository at all), the experiment file's
sha256, engine and tool versions, the host's CPU and memory from /proc."""

from __future__ import annotations

import hashlib
import os
import sys
from importlib import metadata
from pathlib import Path

import git
import pytest
from tuneops.runner.report import provenance

from tuneops.spec import from_document

AUTHOR = git.Actor("test", "test@example.invalid")


def make_exp(source_file: str = "", engine: str = "sim", text: str = "doc"):
    return from_document({
        "metadata": {"name": "prov", "description": "why this run"},
        "model": {"id": "org/m", "servedName": "m", "tokenizer": "assets/tokenizer"},
        "engine": {"name": engine, "image": "img:7", "version": "0.5.23"},
        "deployment": {"mode": "local", "gpus": {"count": 2, "type": "H100"}},
        "parameters": {"max-running-requests": [8, 64]},
        "benchmark": {"trafficScenarios": ["D(20,10)"], "concurrency": [1],
                      "maxTimePerRun": 1, "maxRequestsPerRun": 4},
        "objective": {"metric": "output_throughput_per_gpu"},
    }, source_file=source_file, text=text if source_file else "")


@pytest.fixture
def repo(tmp_path: Path) -> git.Repo:
    repo = git.Repo.init(tmp_path / "repo", initial_branch="tuning")
    exp_file = Path(repo.working_tree_dir) / "experiments" / "e.yaml"
    exp_file.parent.mkdir()
    exp_file.write_text("kind: Experiment\n")
    repo.index.add([str(exp_file)])
    repo.index.commit("first", author=AUTHOR, committer=AUTHOR)
    return repo


def test_git_facts_of_the_experiments_repository(repo: git.Repo):
    exp_file = Path(repo.working_tree_dir) / "experiments" / "e.yaml"
    info = provenance.collect(make_exp(str(exp_file)), run_id="r1")
    assert info["git"] == {"commit": repo.head.commit.hexsha, "dirty": False, "branch": "tuning"}
    exp_file.write_text("kind: Experiment  # edited\n")  # a tracked file changed: dirty
    assert provenance.collect(make_exp(str(exp_file)))["git"]["dirty"] is True


def test_untracked_files_do_not_make_the_tree_dirty(repo: git.Repo):
    (Path(repo.working_tree_dir) / "runs.log").write_text("x")
    assert provenance.git_facts(repo.working_tree_dir)["dirty"] is False


def test_detached_head_has_no_branch(repo: git.Repo):
    first = repo.head.commit
    (Path(repo.working_tree_dir) / "b.txt").write_text("b")
    repo.index.add(["b.txt"])
    repo.index.commit("second", author=AUTHOR, committer=AUTHOR)
    repo.git.checkout(first.hexsha)
    facts = provenance.git_facts(repo.working_tree_dir)
    assert facts == {"commit": first.hexsha, "dirty": False, "branch": None}


def test_outside_any_repository_every_git_fact_is_null(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))  # never look above tmp_path
    lone = tmp_path / "lone"
    lone.mkdir()
    assert provenance.git_facts(lone) == {"commit": None, "dirty": None, "branch": None}


def test_experiment_run_engine_and_hardware_blocks(repo: git.Repo):
    exp_file = Path(repo.working_tree_dir) / "experiments" / "e.yaml"
    exp = make_exp(str(exp_file), text=exp_file.read_text())
    info = provenance.collect(exp, run_id="run-9", started_at="2026-01-01T00:00:00Z",
                              finished_at="2026-01-01T01:00:00Z", interrupted=True)
    assert info["experiment"] == {
        # relative to the repository holding it: no machine paths in a committed report
        "name": "prov", "file": "experiments/e.yaml", "description": "why this run",
        "sha256": hashlib.sha256(exp_file.read_bytes()).hexdigest(),
        "model": {"id": exp.model.id, "servedName": exp.model.served_name},  # tuneops report
    }
    assert info["run"] == {"id": "run-9", "started_at": "2026-01-01T00:00:00Z",
                           "finished_at": "2026-01-01T01:00:00Z", "interrupted": True}
    assert info["engine"]["name"] == "sim" and info["engine"]["image"] == "img:7"
    assert info["engine"]["version"] == "0.5.23" and info["engine"]["simulated"] is True
    assert info["simulated"] is True
    assert info["hardware"]["gpu_type"] == "H100" and info["hardware"]["gpu_count"] == 2
    assert info["hardware"]["deployment"] == "local"


def test_sha256_read_from_the_file_when_the_experiment_carries_none(tmp_path: Path):
    f = tmp_path / "e.yaml"
    f.write_bytes(b"kind: Experiment\n")
    exp = make_exp()
    assert provenance.experiment_sha256(exp) is None  # no file, no text: unknown
    exp = make_exp()
    object.__setattr__(exp, "source_file", str(f))
    assert provenance.experiment_sha256(exp) == hashlib.sha256(f.read_bytes()).hexdigest()


def test_finished_at_defaults_to_now_in_utc():
    stamp = provenance.collect(make_exp())["run"]["finished_at"]
    assert len(stamp) == 20 and stamp.endswith("Z") and stamp[10] == "T"


def test_tool_versions_are_the_installed_ones():
    tools = provenance.collect(make_exp())["tools"]
    assert tools["tuneops"] == metadata.version("tuneops")
    assert tools["genai_bench"] == metadata.version("genai-bench")
    assert tools["python"] == sys.version.split()[0]
    assert tools["engine_package"] is None  # the simulator is no package
    llama = provenance.collect(make_exp(engine="llamacpp"))["tools"]
    assert llama["engine_package"] == metadata.version("xllamacpp")


def test_host_facts_come_from_proc():
    host = provenance.host_facts()
    mem_kb = next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal:"))
    assert host["memory_bytes"] == int(mem_kb) * 1024
    assert host["cpu_cores"] == os.cpu_count()
    models = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text()
              .splitlines() if line.startswith("model name")]
    assert host["cpu_model"] == (models[0] if models else host["cpu_model"])


def test_a_missing_proc_field_is_null(tmp_path: Path):
    f = tmp_path / "meminfo"
    f.write_text("MemFree: 1 kB\n")
    assert provenance._proc_field(str(f), "MemTotal") is None
    assert provenance._proc_field(str(tmp_path / "absent"), "MemTotal") is None
