"""Helpers for the end-to-end runner tests: tiny sim experiments, the CLI as a subprocess,
and looking at what is left running straight from /proc (never through the backend that is
under test).

Every process a run starts (the runner, its engines, genai-bench) inherits the runner's
environment, so a unique marker variable set for the runner finds all of them, however
they were orphaned.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
MARKER = "TUNEOPS_E2E_MARKER"

# The smallest experiment that still exercises everything: one short scenario, one level,
# a handful of requests, a near-instant simulated start-up.
BASE: dict[str, Any] = {
    "apiVersion": "tuneops/v1",
    "kind": "Experiment",
    "metadata": {"name": "e2e"},
    "model": {
        "id": "meta-llama/Llama-3.2-1B",
        "servedName": "llama-3.2-1b",
        "tokenizer": "assets/tokenizer",
        "architecture": {"layers": 16, "attentionHeads": 32, "kvHeads": 8,
                         "hiddenSize": 2048, "parameters": 1.24e9},
    },
    "engine": {
        "name": "sim",
        "image": "tuneops/sim:latest",
        "version": "0.5.23",
        "args": {"gpu-type": "H100", "time-scale": 0.01},
    },
    "deployment": {"mode": "local", "gpus": {"count": 1, "type": "H100"}, "startupTimeout": 60},
    "parameters": {"max-running-requests": [8, 64]},
    "benchmark": {
        "task": "text-to-text",
        "trafficScenarios": ["D(32,32)"],
        "concurrency": [2],
        "maxTimePerRun": 1,
        "maxRequestsPerRun": 6,
        "warmupRequests": 1,
    },
    "objective": {"metric": "output_throughput_per_gpu", "direction": "maximize"},
    "search": {"method": "grid", "seed": 1, "confirm": False},  # on in test_noise_e2e
}


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "parameters":
            out[key] = _merge(out[key], value)
        elif value is None:
            out.pop(key, None)
        else:
            out[key] = copy.deepcopy(value)
    return out


def write_experiment(folder: Path, name: str, **sections: Any) -> Path:
    """``BASE`` with `sections` merged in (``parameters`` replaced whole), as <name>.yaml.

    JSON is YAML, so the file is written with json: no second serializer to trust.
    """
    doc = _merge(BASE, {"metadata": {"name": name}, **sections})
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return path


def load(path: Path):
    from tuneops.validate import load_experiment

    return load_experiment(path)


# ----------------------------------------------------------------------------- processes


@dataclass(frozen=True)
class Proc:
    pid: int
    cmdline: list[str]

    @property
    def is_engine(self) -> bool:
        return "tuneops.engines.sim" in self.cmdline

    @property
    def is_genai_bench(self) -> bool:
        """The CLI, or the long-lived worker that drives genai-bench in-process."""
        return any(Path(a).name == "genai-bench" for a in self.cmdline[:2]) \
            or "tuneops.runner.bench.worker_main" in self.cmdline

    def port(self) -> int | None:
        if "--port" in self.cmdline[:-1]:
            return int(self.cmdline[self.cmdline.index("--port") + 1])
        return None


def marked(marker: str) -> list[Proc]:
    """Live (non-zombie) processes whose environment carries ``MARKER=<marker>``."""
    needle = f"{MARKER}={marker}\0".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle not in (entry / "environ").read_bytes():
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if state != "Z":
            found.append(Proc(int(entry.name), [a for a in cmdline if a]))
    return found


def with_args(*needles: str) -> list[Proc]:
    """Every live process (marked or not) whose argv holds each of `needles` as a whole argument."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        joined = "\0" + "\0".join(argv) + "\0"
        if all(f"\0{n}\0" in joined for n in needles) and alive(int(entry.name)):
            found.append(Proc(int(entry.name), [a for a in argv if a]))
    return found


def engines(marker: str) -> list[Proc]:
    return [p for p in marked(marker) if p.is_engine]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def kill_marked(marker: str) -> None:
    """Last-resort cleanup after a failed test: SIGKILL whatever still carries the marker."""
    for proc in marked(marker):
        try:
            os.kill(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def wait_for(what: Callable[[], Any], timeout_s: float, message: str, poll_s: float = 0.1):
    """Poll `what` until it returns something truthy; return that, or fail with `message`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = what()
        if value:
            return value
        time.sleep(poll_s)
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {message}")


# ----------------------------------------------------------------------------- the CLI


class Cli:
    """``python -m tuneops.cli run EXP`` in quiet mode, its stderr in a file, marked env."""

    def __init__(self, exp: Path, root: Path, *extra: str, env: dict[str, str] | None = None,
                 marker: str | None = None) -> None:
        self.marker = marker or uuid.uuid4().hex
        self.stderr_path = root / f"cli-{uuid.uuid4().hex[:6]}.stderr"
        self.env = {**os.environ, **(env or {}), MARKER: self.marker, "PYTHONPATH": str(REPO)}
        cmd = [sys.executable, "-m", "tuneops.cli", "run", str(exp),
               "--runs-dir", str(root / "runs"), "--reports-dir", str(root / "reports"),
               "--quiet", *extra]
        self._err = open(self.stderr_path, "wb")  # noqa: SIM115 - closed in wait()
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=self.env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=self._err)

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def wait(self, timeout_s: float = 240) -> tuple[int, str]:
        try:
            out, _ = self.proc.communicate(timeout=timeout_s)
        finally:
            self._err.close()
        return self.proc.returncode, out.decode(errors="replace")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._err.close()


# ----------------------------------------------------------------------------- run state


def run_dirs(runs_root: Path, name: str) -> list[Path]:
    exp_dir = runs_root / name
    return sorted(p for p in exp_dir.iterdir() if p.is_dir()) if exp_dir.is_dir() else []


def journal(run_dir: Path) -> list[dict[str, Any]]:
    """The journal's complete lines (a torn last line is left out, as replay does)."""
    try:
        data = (run_dir / "journal.jsonl").read_bytes()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in data[: data.rfind(b"\n") + 1].splitlines() if line]


def events(run_dir: Path, kind: str) -> list[dict[str, Any]]:
    return [r for r in journal(run_dir) if r.get("event") == kind]


def attempt_dirs(run_dir: Path, trial_id: str) -> list[str]:
    return sorted(p.name for p in (run_dir / "trials" / trial_id).glob("attempt-*"))


def results_json(report_dir: Path) -> dict[str, Any]:
    return json.loads((report_dir / "results.json").read_text())


def check_report(report_dir: Path) -> dict[str, Any]:
    """The report folder is complete and its results.json obeys the schema; returns it."""
    import jsonschema

    doc = results_json(report_dir)
    schema = json.loads((REPO / "schemas" / "report.schema.json").read_text())
    jsonschema.validate(doc, schema)
    assert (report_dir / "summary.md").read_text().strip()
    assert "SIMULATED" in (report_dir / "report.md").read_text().splitlines()[0]
    assert sorted((report_dir / "plots").glob("*.png")), "no plots written"
    return doc
