"""Committed reports hold no machine paths (runner/report/portable.py): the engine command a
report offers, its experiment file and log folder are written relative to the repository,
with `<python>` and `<port>` for what only the machine that ran it knew."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from tuneops.runner.report import portable

REPO = Path(__file__).resolve().parents[2]
# an absolute path where a word starts: `/tmp/x/`, "/home/…" (a URL's `//host/` is not)
ABSOLUTE = re.compile(r"""(?:^|[\s"'`(=\[,])/[\w.@+-]+/""", re.MULTILINE)
# in binary files (plots), the roots a machine path starts with
MACHINE_ROOTS = (b"/tmp/", b"/home/", b"/work/", b"/root/", b"/Users/", b"/var/", b"/opt/",
                 b"/mnt/", b"/srv/", b"/private/")


def test_a_command_loses_interpreter_port_and_clone(tmp_path):
    root = tmp_path / "clone"
    python = str(root / ".venv" / "bin" / "python")
    argv = ["taskset", "-c", "0", python, "-m", "tuneops.engines.llamacpp",
            "--model", str(root / ".cache" / "m.gguf"), "--port", "24963",
            "--lora=/srv/adapters/a.bin", "--host", "127.0.0.1", "--ctx-size", "24963"]
    out = portable.command(argv, root, python=python, port="24963")
    assert out == ["taskset", "-c", "0", "<python>", "-m", "tuneops.engines.llamacpp",
                   "--model", ".cache/m.gguf", "--port", "<port>",
                   "--lora=<outside>/a.bin", "--host", "127.0.0.1", "--ctx-size", "24963"]
    assert portable.command(out, root, python=python, port="24963") == out  # idempotent


def test_the_running_interpreter_is_python_and_relative_paths_stay():
    root = REPO
    assert portable.command([sys.executable, "-m", "x"], root) == ["<python>", "-m", "x"]
    assert portable.path("runs/x/trials/a", root) == "runs/x/trials/a"
    assert portable.path(str(REPO / "runs" / "x"), root) == "runs/x"
    assert portable.path("/elsewhere/model.gguf", root) == "<outside>/model.gguf"
    assert portable.path("", root) == ""


def test_the_repository_is_the_git_work_tree_else_the_folder(tmp_path, monkeypatch):
    assert portable.repo_root(str(REPO / "experiments" / "examples" / "sim-small.yaml")) \
        == REPO.resolve()
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))  # never look above tmp_path
    lone = tmp_path / "lone"
    lone.mkdir()
    (lone / "e.yaml").write_text("x")
    assert portable.repo_root(str(lone / "e.yaml")) == lone.resolve()


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def test_no_committed_report_holds_a_machine_path():
    """Every file under reports/: JSON strings are never absolute paths, Markdown holds no
    absolute path where a word starts, and no file (plots included) holds a machine root."""
    files = sorted(p for p in (REPO / "reports").rglob("*") if p.is_file())
    assert files, "no committed reports found"
    found = []
    for f in files:
        data = f.read_bytes()
        rel = f.relative_to(REPO)
        found += [f"{rel}: {root.decode()}" for root in MACHINE_ROOTS if root in data]
        if f.suffix == ".json":
            found += [f"{rel}: {s}" for s in _strings(json.loads(data)) if s.startswith("/")]
        elif f.suffix in (".md", ".txt", ".csv"):
            found += [f"{rel}: {m.group(0).strip()}" for m in ABSOLUTE.finditer(data.decode())]
    assert found == []


def test_the_scan_catches_what_it_looks_for():
    """The patterns above match the paths that were committed before (a scan that matches
    nothing would pass on anything)."""
    line = "taskset -c 0 /tmp/fresh4/tuneops/.venv/bin/python -m x --model /work/wt-10/m.gguf"
    assert [m.group(0).strip() for m in ABSOLUTE.finditer(line)] == ["/tmp/", "/work/"]
    assert not ABSOLUTE.search("see https://github.com/sgl-project/ome and tok/s, `plots/a.png`")


def test_the_runner_records_the_command_without_machine_paths(tmp_path):
    """The launch the runner builds for the quickstart (local llama.cpp: the interpreter
    tuneops runs in, the model resolved to an absolute path, a reserved port) is recorded
    as a report may hold it."""
    from tuneops.deployments.common import cpus
    from tuneops.runner.run import trial_launch
    from tuneops.runner.trial import _ran_command

    from tuneops.plan import make_plan
    from tuneops.validate import load_experiment

    exp = load_experiment(REPO / "experiments" / "examples" / "quickstart.yaml")
    trial = make_plan(exp).trials[0]
    launch = trial_launch(exp, trial, owner="t/r", gpus=(), log_dir=tmp_path)
    assert launch.command[0] == sys.executable  # what actually runs is machine-specific
    argv = _ran_command(exp, launch, cpus.CpuPlan(engine=(0,)))
    assert argv[:4] == ["taskset", "-c", "0", "<python>"]
    assert argv[argv.index("--port") + 1] == "<port>"
    model = argv[argv.index("--model") + 1]
    assert not model.startswith("/") and model.endswith(".gguf")
    assert not any(w.startswith("/") for w in argv), argv
