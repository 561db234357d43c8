"""Where a run's numbers came from: experiment file, code commit, engine, hardware, tools.

Every field is gathered best-effort: a fact that cannot be read (no git, no /proc) is
recorded as null rather than failing the report.
"""

from __future__ import annotations

import hashlib
import os
import platform
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from tuneops.runner.report import portable

from tuneops.registry import catalog, engines
from tuneops.spec import Experiment


def _version(package: str | None) -> str | None:
    if not package:
        return None
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _portable_file(source: str | None) -> str | None:
    if not source:
        return None
    return portable.path(str(Path(source).resolve()), portable.repo_root(source))


def git_facts(path: str | os.PathLike | None = None) -> dict[str, Any]:
    """Commit, branch and dirty flag of the repository holding `path` (default: the working
    directory, where the experiment's repository is checked out)."""
    try:
        import git

        repo = git.Repo(path or Path.cwd(), search_parent_directories=True)
        try:
            branch = repo.active_branch.name
        except (TypeError, ValueError):  # detached HEAD
            branch = None
        return {"commit": repo.head.commit.hexsha, "dirty": repo.is_dirty(untracked_files=False),
                "branch": branch}
    except Exception:  # noqa: BLE001 - no git, no repo, no commits: record unknown
        return {"commit": None, "dirty": None, "branch": None}


def _proc_field(path: str, key: str) -> str | None:
    try:
        for line in Path(path).read_text().splitlines():
            if line.split(":")[0].strip() == key:
                return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


def host_facts() -> dict[str, Any]:
    mem_kb = _proc_field("/proc/meminfo", "MemTotal")
    return {
        "cpu_model": _proc_field("/proc/cpuinfo", "model name") or platform.processor() or None,
        "cpu_cores": os.cpu_count(),
        "memory_bytes": int(mem_kb.split()[0]) * 1024 if mem_kb else None,
        "os": f"{platform.system()} {platform.release()}",
        "machine": platform.machine(),
    }


# What a measurement's numbers depend on in the runner's host: a CPU engine's tokens per second
# (and a GPU run's client side) change with the processor, so a result measured on one host
# is never reused, nor compared, as a result of another.
HOST_KEYS = ("cpu_model", "cpu_cores", "machine")


def other_host(recorded: dict[str, Any] | None, here: dict[str, Any]) -> str:
    """Why a report's host is not this one ("" when it may be): a fact recorded on both
    sides that differs. A fact the report did not record does not refuse it."""
    recorded = recorded if isinstance(recorded, dict) else {}
    diffs = [f"{k} {recorded[k]!r} there, {here[k]!r} here" for k in HOST_KEYS
             if recorded.get(k) is not None and here.get(k) is not None
             and recorded[k] != here[k]]
    return "; ".join(diffs)


def experiment_sha256(exp: Experiment) -> str | None:
    if exp.source_sha256:
        return exp.source_sha256
    if exp.source_file and Path(exp.source_file).is_file():
        return hashlib.sha256(Path(exp.source_file).read_bytes()).hexdigest()
    return None


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def collect(
    exp: Experiment,
    *,
    run_id: str = "",
    started_at: str | None = None,
    finished_at: str | None = None,
    interrupted: bool = False,
) -> dict[str, Any]:
    """The provenance block of results.json (see schemas/report.schema.json)."""
    engine = engines()[exp.engine.name]
    cat = catalog(exp.engine.name)
    return {
        # relative to the repository: a committed report holds no machine paths
        "experiment": {"name": exp.name, "file": _portable_file(exp.source_file),
                       "sha256": experiment_sha256(exp), "description": exp.description,
                       # what `tuneops report` needs to rebuild the views from this file
                       "model": {"id": exp.model.id, "servedName": exp.model.served_name}},
        "run": {"id": run_id, "started_at": started_at, "finished_at": finished_at or now(),
                "interrupted": bool(interrupted)},
        "git": git_facts(Path(exp.source_file).resolve().parent if exp.source_file else None),
        "engine": {"name": exp.engine.name, "image": exp.engine.image,
                   "version": exp.engine.version,
                   "catalog_version": cat.version if cat else None,
                   "simulated": engine.simulated},
        "hardware": {"gpu_type": exp.deployment.gpus.type, "gpu_count": exp.gpus_per_trial,
                     "deployment": exp.deployment.mode, "host": host_facts()},
        "tools": {"tuneops": _version("tuneops"), "genai_bench": _version("genai-bench"),
                  "python": sys.version.split()[0],
                  "engine_package": _version(engine.package)},
        "simulated": engine.simulated,
    }
