"""The engine table is the one place an engine is described.

The end-to-end test does what a maintainer adding an engine does, in a scratch copy of the
repository (its tracked files, committed to a fresh git repository): one new entry in
schemas/engines.yaml (a toy engine: the project's simulator under another name) and its
catalog, written by the catalog generator. The copy is installed (pip --target, as `make
lint` does) and used from a subprocess to validate, plan and run one simulated trial end to
end. Then git says that those two files are all that changed, and the copy's generated
schema and docs are still up to date. The other tests are the bad days: a malformed table
is refused naming the entry and the field.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import uuid
from importlib import metadata
from pathlib import Path

import pytest

from tests import e2e_helpers as h
from tuneops import cli, registry
from tuneops.errors import UserError

REPO = Path(__file__).resolve().parents[2]
TOY = "toy-sim"
TOY_ENTRY = f"""\
{TOY}:
  command: [python3, -m, tuneops.engines.sim]
  model_flag: --model-path
  served_name_flag: --served-model-name
  host_flag: --host
  port_flag: --port
  default_port: 30000
  health_path: /health
  catalog: {TOY}.json
  catalog_from: {{copy_of: sim}}
  extra_flags:
    gpu-type: {{type: str, boolean: false, choices: [H100, H200]}}
    time-scale: {{type: float, boolean: false}}
  package: jsonschema
  genai_bench: {{api_backend: sglang, server_engine: SGLang}}
  simulated: true
  parallelism: {{tp: tp-size, dp: dp-size, pp: pp-size}}
"""
GIT_ENV = {"GIT_AUTHOR_NAME": "dev", "GIT_AUTHOR_EMAIL": "dev@example.com",
           "GIT_COMMITTER_NAME": "dev", "GIT_COMMITTER_EMAIL": "dev@example.com"}


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True,
                          env={**os.environ, **GIT_ENV})
    return done.stdout


def _scratch_copy(dest: Path) -> Path:
    """The repository's tracked files (as the working tree has them), committed to a new
    repository: git status there shows whatever changes afterwards."""
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True,
                             check=True).stdout.decode().split("\0")
    for rel in filter(None, tracked):
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    _git(dest, "init", "-q")
    _git(dest, "add", "-A")
    _git(dest, "commit", "-q", "-m", "scratch")
    return dest


def _run(argv: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=540)


@pytest.mark.genai_bench
@pytest.mark.slow
def test_a_new_engine_is_one_table_entry_and_its_catalog(tmp_path):
    scratch = _scratch_copy(tmp_path / "repo")
    with (scratch / "schemas" / "engines.yaml").open("a", encoding="utf-8") as table:
        table.write(TOY_ENTRY)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # the generator writes the catalog (run from the copy: it reads the copy's table)
    made = _run([sys.executable, "scripts/make_catalogs.py", "--engine", TOY], scratch, env)
    assert made.returncode == 0, made.stderr
    catalog = json.loads((scratch / "schemas" / "catalogs" / f"{TOY}.json").read_text())
    sglang = json.loads((REPO / "schemas" / "catalogs" / "sglang.json").read_text())
    assert catalog["engine"] == TOY and catalog["flags"] == sglang["flags"]

    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-compile",
                    "--target", str(site), str(scratch)], check=True, capture_output=True)
    marker = uuid.uuid4().hex
    env = {**env, "PYTHONPATH": str(site), h.MARKER: marker,
           "TUNEOPS_RUNTIME_DIR": str(tmp_path / "runtime")}
    work = tmp_path / "work"
    path = h.write_experiment(work, "toy", engine={"name": TOY, "image": None})

    def tuneops(*args: str) -> subprocess.CompletedProcess:
        code = ("import sys, tuneops; print('from', tuneops.__file__, file=sys.stderr); "
                "from tuneops.cli import main; sys.exit(main(sys.argv[1:]))")
        return _run([sys.executable, "-c", code, *args], work, env)

    try:
        checked = tuneops("validate", str(path))
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert f"from {site}" in checked.stderr  # the copy, not this checkout
        planned = tuneops("plan", str(path), "--format", "json")
        assert planned.returncode == 0, planned.stderr
        ran = tuneops("run", str(path), "--quiet", "--fresh", "--max-trials", "1")
        assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    finally:
        h.kill_marked(marker)
    [results] = (work / "reports" / "toy").glob("*/results.json")
    report = json.loads(results.read_text())
    assert report["engine"]["name"] == TOY and report["simulated"] is True
    assert report["engine"]["catalog_version"] == sglang["source"]["version"]
    # any installed distribution does: its version in the report shows provenance reads
    # the entry's `package`
    assert report["tools"]["engine_package"] == metadata.version("jsonschema")
    [trial] = report["trials"]
    assert trial["status"] == "completed", trial
    assert trial["command"][1:3] == ["-m", "tuneops.engines.sim"]
    assert "--time-scale" in trial["command"]  # one of the entry's extra_flags
    [[level]] = [levels.values() for levels in trial["metrics"].values()]
    assert level["num_completed_requests"] > 0 and level["output_throughput"] > 0

    # nothing but the entry and the catalog changed; generated files are still up to date
    status = _git(scratch, "status", "--porcelain", "--untracked-files=all").splitlines()
    assert sorted(status) == [" M schemas/engines.yaml", f"?? schemas/catalogs/{TOY}.json"]
    assert _git(scratch, "diff", "--name-only").split() == ["schemas/engines.yaml"]
    docs = _run([sys.executable, "scripts/make_experiment_doc.py", "--check"], scratch, env)
    assert docs.returncode == 0, docs.stdout + docs.stderr
    again = _run([sys.executable, "scripts/make_catalogs.py", "--engine", TOY, "--check"],
                 scratch, env)
    assert again.returncode == 0 and "up to date" in again.stdout, again.stderr
    # and this checkout, without the entry, does not know the engine
    assert cli.main(["validate", str(path)]) == 2


# ------------------------------------------------------------------------- bad days


def _table(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "engines.yaml"
    path.write_text((REPO / "schemas" / "engines.yaml").read_text() + textwrap.dedent(text))
    return path


def _problems(path: Path) -> list:
    with pytest.raises(UserError) as caught:
        registry.load_engines(path)
    return caught.value.diagnostics


def test_the_shipped_table_is_valid_and_names_every_engine():
    table = registry.load_engines()
    assert set(table) == {"sglang", "vllm", "sim", "llamacpp"}
    assert table["llamacpp"].package == "xllamacpp" and table["sim"].package is None
    assert not table["llamacpp"].weights_on_gpus and table["vllm"].weights_on_gpus
    assert dict(table["vllm"].parallel_flags)["tp"] == "tensor-parallel-size"
    assert table["sglang"].dp_in_tp_flag == "enable-dp-attention"
    assert table["llamacpp"].ome_protocol == table["llamacpp"].api_backend == "vllm"


def test_a_missing_field_names_the_entry(tmp_path):
    entry = TOY_ENTRY.replace("  health_path: /health\n", "")
    [problem] = _problems(_table(tmp_path, entry))
    assert problem.path == TOY and "'health_path' is a required property" in problem.message
    assert problem.line == len((REPO / "schemas" / "engines.yaml").read_text().splitlines()) + 1


def test_a_misspelt_or_mistyped_field_names_the_entry_and_field(tmp_path):
    entry = TOY_ENTRY.replace("simulated: true", "simulatd: true\n  simulated: yes please")
    entry = entry.replace("default_port: 30000", "default_port: '30000'")
    problems = _problems(_table(tmp_path, entry))
    paths = {p.path: p.message for p in problems}
    assert "'simulatd' was unexpected" in paths[TOY]
    assert "is not of type 'boolean'" in paths[f"{TOY}.simulated"]
    assert "is not of type 'integer'" in paths[f"{TOY}.default_port"]
    assert all(p.line > 90 for p in problems), problems  # lines of the new entry


def test_a_catalog_nobody_makes_and_a_copy_of_nothing_are_refused(tmp_path):
    orphan = TOY_ENTRY.replace("  catalog_from: {copy_of: sim}\n", "")
    [problem] = _problems(_table(tmp_path, orphan))
    assert problem.path == f"{TOY}.catalog" and "no entry says how" in problem.message
    nothing = TOY_ENTRY.replace("copy_of: sim", "copy_of: simm")
    [problem] = _problems(_table(tmp_path, nothing))
    assert problem.path == f"{TOY}.catalog_from.copy_of" and "sim" in problem.hint


def test_two_entries_making_one_catalog_file_are_refused(tmp_path):
    twice = TOY_ENTRY.replace(f"catalog: {TOY}.json", "catalog: sglang.json")
    [problem] = _problems(_table(tmp_path, twice))
    assert problem.path == f"{TOY}.catalog" and "sglang already makes" in problem.message


@pytest.mark.parametrize("text", ["Bad_Name:\n  command: [x]\n", "- a list\n", "sglang: [\n"])
def test_a_bad_name_or_a_broken_file_is_a_clear_error(tmp_path, text):
    path = tmp_path / "engines.yaml"
    path.write_text(text if not text.startswith("Bad") else
                    (REPO / "schemas" / "engines.yaml").read_text() + text)
    problems = _problems(path)
    assert problems and all(str(path) in str(p) for p in problems)
    if text.startswith("Bad"):
        assert any(p.path == "Bad_Name" and "does not match" in p.message for p in problems)


@pytest.mark.parametrize(("text", "says"), [
    ("sim:\n  command: [a]\n  command: [b]\n", "duplicate key 'command' at line 3"),
    ("sim: {command: !!python/name:os.system x}\n", "python/name"),
    ("a: 1\n---\nb: 2\n", "expected one YAML document, found 2"),
])
def test_a_table_yaml_would_misread_is_refused_not_guessed(tmp_path, text, says):
    """A duplicate key (YAML keeps the last), an object tag or a second document."""
    path = tmp_path / "engines.yaml"
    path.write_text(text)
    (problem,) = _problems(path)
    assert "cannot read the engine table" in problem.message and says in problem.message


def test_validate_exits_2_on_a_malformed_table(tmp_path, monkeypatch, capsys):
    bad = _table(tmp_path, TOY_ENTRY.replace("simulated: true", "simulated: 3"))
    monkeypatch.setattr(registry, "ENGINE_TABLE", bad)
    registry.engines.cache_clear()
    try:
        path = h.write_experiment(tmp_path, "e2e")
        assert cli.main(["validate", str(path)]) == 2
    finally:
        registry.engines.cache_clear()
    err = capsys.readouterr().err
    assert f"{TOY}.simulated" in err and str(bad) in err
