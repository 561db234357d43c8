"""Write every trial's files under `<out>/<experiment>/<trial-id>/`, or check they are current.

Everything is rendered and validated in memory first; only a complete, valid tree is
written, into a temporary folder that then takes the place of the old one. A failure
leaves the previous output as it was, and trial folders that are no longer in the plan
disappear with the old tree.

What a trial renders is its deployment mode's business (``tuneops.deployments``): e.g.
`docker.json` + `docker-run.sh`, `command.json`, or `inferenceservice.yaml` +
`benchmarkjob.yaml`; objects shared by every trial go to `_shared/`. Per experiment:
`index.json` (trial ids and their parameters). The runner derives each trial's launch from
the same objects (``launch_objects``), so what manifests/ shows is what runs.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from tuneops.deployments.base import DeploymentMode
from tuneops.deployments.registry import deployment_mode
from tuneops.renderers.quoting import json_pretty

from tuneops import secrets
from tuneops.errors import Diagnostic, UserError
from tuneops.plan import Trial, make_plan
from tuneops.registry import engines
from tuneops.spec import Experiment

SHARED = "_shared"
INDEX = "index.json"
EXECUTABLE = (".sh",)
MAX_PROBLEMS = 50


@dataclass(frozen=True)
class RenderSummary:
    experiment: str
    out_dir: Path
    trials: int
    files: int
    removed: tuple[str, ...]  # trial folders no longer in the plan
    validated: int  # manifests checked against their platform's schemas (OME CRDs)
    schema_source: str
    seconds: float

    def __str__(self) -> str:
        text = f"{self.experiment}: {self.trials} trial(s), {self.files} file(s) in {self.out_dir}"
        if self.removed:
            text += f"; removed {len(self.removed)} stale trial folder(s)"
        if self.validated:
            text += f"; {self.validated} manifest(s) valid against {self.schema_source}"
        return text + f" ({self.seconds:.2f}s)"


def file_text(mode: DeploymentMode, filename: str, obj: Any) -> str:
    """A rendered object as its file: JSON, text as-is, or a manifest as its mode lays it
    out (``mode.manifest_text``: OME's templates)."""
    if isinstance(obj, str):
        return obj
    if filename.endswith(".json"):
        return json_pretty(obj) + "\n"
    return mode.manifest_text(filename, obj)


def read_file(filename: str, text: str) -> Any:
    """The object a rendered file holds (the inverse of ``file_text``)."""
    if filename.endswith(".json"):
        return json.loads(text)
    if filename.endswith((".yaml", ".yml")):
        return YAML(typ="safe").load(text)
    return text


def mode_of(exp: Experiment) -> DeploymentMode:
    """The experiment's deployment mode, from the one registry of modes."""
    return deployment_mode(exp.deployment.mode)


def render_trial(exp: Experiment, trial: Trial) -> dict[str, str]:
    """File name -> text for one trial (not validated: `render_tree` does that)."""
    mode = mode_of(exp)
    return {name: file_text(mode, name, obj)
            for name, obj in mode.trial_objects(exp, trial).items()}


def launch_objects(exp: Experiment, trial: Trial) -> dict[str, Any]:
    """What a trial's launch is derived from: its rendered objects, plus the shared ones
    as ``_shared/<file>`` (the same function `tuneops render` writes to manifests/)."""
    mode = mode_of(exp)
    shared = {f"{SHARED}/{name}": obj for name, obj in mode.shared_objects(exp).items()}
    return {**mode.trial_objects(exp, trial), **shared}


def _index(exp: Experiment, trials: tuple[Trial, ...]) -> str:
    doc = {
        "engine": exp.engine.name,
        "experiment": exp.name,
        "mode": exp.deployment.mode,
        "simulated": engines()[exp.engine.name].simulated,
        "trials": [{"id": t.id, "index": t.index, "params": t.params} for t in trials],
    }
    return json_pretty(doc) + "\n"


def render_tree(
    exp: Experiment, crd_dir: Path | str | None = None
) -> tuple[dict[str, str], int, str]:
    """Relative path -> text of everything the experiment renders, validated.

    Returns (files, number of manifests validated, where their schemas came from)."""
    plan = make_plan(exp)
    if len({t.id for t in plan.trials}) != len(plan.trials):
        raise ValueError(f"{exp.name}: two trials share an id")
    mode = mode_of(exp)
    objects: dict[str, dict[str, Any]] = {}
    shared = mode.shared_objects(exp)
    if shared:
        objects[SHARED] = shared
    for trial in plan.trials:
        objects[trial.id] = mode.trial_objects(exp, trial)
    problems, checked, source = mode.schema_problems(exp, objects, crd_dir)
    if problems:
        raise UserError(
            [Diagnostic(p.split(": ", 1)[0], 0, 0, "", p.split(": ", 1)[1])
             for p in problems[:MAX_PROBLEMS]],
            summary=f"{exp.name}: rendered manifests do not match their schemas ({source})",
        )
    files: dict[str, str] = {INDEX: _index(exp, plan.trials)}
    for folder, folder_objects in objects.items():
        for name, obj in folder_objects.items():
            files[f"{folder}/{name}"] = file_text(mode, name, obj)
    return files, checked, source


def _write_tree(folder: Path, files: dict[str, bytes]) -> None:
    """Create `folder` and every file in it (low-level calls: 10,000 files add up)."""
    made: set[str] = set()
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    root = str(folder)
    os.makedirs(root)
    for rel in sorted(files):
        parent, _, _ = rel.rpartition("/")
        if parent and parent not in made:
            os.makedirs(os.path.join(root, parent), exist_ok=True)
            made.add(parent)
        mode = 0o755 if rel.endswith(EXECUTABLE) else 0o644
        fd = os.open(os.path.join(root, rel), flags, mode)
        try:
            data = memoryview(files[rel])
            while data:
                data = data[os.write(fd, data) :]
        finally:
            os.close(fd)


def _trial_dirs(folder: Path) -> set[str]:
    if not folder.is_dir():
        return set()
    return {p.name for p in folder.iterdir() if p.is_dir() and p.name != SHARED}


def render_experiment(
    exp: Experiment, out_root: Path, *, crd_dir: Path | None = None
) -> RenderSummary:
    """Render, validate, then replace `out_root/<experiment>/` in one swap."""
    t0 = time.perf_counter()
    files, checked, source = render_tree(exp, crd_dir=crd_dir)
    try:
        blobs = {rel: secrets.redact(text).encode("utf-8") for rel, text in files.items()}
    except UnicodeEncodeError as exc:
        raise UserError(
            [Diagnostic(exp.source_file, 0, 0, "", f"a rendered value is not valid UTF-8: {exc}")]
        ) from None
    out_root = Path(out_root)
    out_root.mkdir(parents=True, exist_ok=True)
    target = out_root / exp.name
    tmp = out_root / f".{exp.name}.new-{os.getpid()}"
    old = out_root / f".{exp.name}.old-{os.getpid()}"
    before = _trial_dirs(target)
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        _write_tree(tmp, blobs)
        if target.exists():
            os.replace(target, old)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not target.exists():
            os.replace(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)
    trials = {rel.split("/", 1)[0] for rel in files if "/" in rel} - {SHARED}
    return RenderSummary(
        experiment=exp.name,
        out_dir=target,
        trials=len(trials),
        files=len(files),
        removed=tuple(sorted(before - _trial_dirs(target))),
        validated=checked,
        schema_source=source,
        seconds=time.perf_counter() - t0,
    )


def check_rendered(
    exp: Experiment, out_root: Path, *, crd_dir: Path | None = None
) -> list[str]:
    """How `out_root/<experiment>/` differs from a fresh render ([] when current)."""
    files, _, _ = render_tree(exp, crd_dir=crd_dir)
    folder = Path(out_root) / exp.name
    on_disk: set[str] = set()
    if folder.is_dir():
        on_disk = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    diffs = []
    for rel in sorted(set(files) | on_disk):
        shown = f"{folder / rel}"
        if rel not in on_disk:
            diffs.append(f"missing: {shown}")
        elif rel not in files:
            diffs.append(f"stale: {shown}")
        elif (folder / rel).read_bytes() != files[rel].encode("utf-8"):
            diffs.append(f"differs: {shown}")
    return diffs


@dataclass(frozen=True)
class RenderCheck:
    """`tuneops render --check` over several experiments, as a value its callers print."""

    diffs: list[str]
    experiments: int

    @property
    def ok(self) -> bool:
        return not self.diffs

    @property
    def verdict(self) -> str:
        if self.ok:
            return f"manifests up to date for {self.experiments} experiment(s)"
        return "manifests/ differs from a fresh render: run `make render`"


def check_all_rendered(
    exps: list[Experiment], out_root: Path, *, crd_dir: Path | None = None
) -> RenderCheck:
    diffs = [d for exp in exps for d in check_rendered(exp, out_root, crd_dir=crd_dir)]
    return RenderCheck(diffs, len(exps))
