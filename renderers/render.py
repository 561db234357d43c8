"""Write every trial's files under `<out>/<experiment>/<trial-id>/`, or check they are current.

Everything is rendered and validated in memory first; only a complete, valid tree is
written, into a temporary folder that then takes the place of the old one. A failure
leaves the previous output as it was, and trial folders that are no longer in the plan
disappear with the old tree.

Per trial: `docker.json` + `docker-run.sh` (docker and local experiments with an image),
`command.json` (local experiments: the argv with a `{port}` placeholder), or
`inferenceservice.yaml` + `benchmarkjob.yaml` (OME experiments). Per experiment:
`index.json` (trial ids and their parameters) and, for OME, `_shared/` with the
generated ClusterServingRuntime and ClusterBaseModel.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from tuneops.renderers import docker, ome
from tuneops.renderers.command import engine_command
from tuneops.renderers.crds import SchemaSet, crd_source
from tuneops.renderers.quoting import json_pretty
from tuneops.renderers.templating import render

from tuneops import secrets
from tuneops.errors import Diagnostic, UserError
from tuneops.plan import Trial, make_plan
from tuneops.registry import engines
from tuneops.spec import Experiment

SHARED = "_shared"
LOCAL_HOST = "127.0.0.1"
PORT_PLACEHOLDER = "{port}"  # the local backend puts the port it reserved here
INDEX = "index.json"
TEMPLATES = {
    "inferenceservice.yaml": "inferenceservice.yaml.j2",
    "benchmarkjob.yaml": "benchmarkjob.yaml.j2",
    "clusterservingruntime.yaml": "clusterservingruntime.yaml.j2",
    "clusterbasemodel.yaml": "clusterbasemodel.yaml.j2",
}
TOP_LEVEL = ("apiVersion", "kind", "metadata", "spec")
EXECUTABLE = (".sh",)


@dataclass(frozen=True)
class RenderSummary:
    experiment: str
    out_dir: Path
    trials: int
    files: int
    removed: tuple[str, ...]  # trial folders no longer in the plan
    validated: int  # OME manifests checked against their CRD
    schema_source: str
    seconds: float

    def __str__(self) -> str:
        text = f"{self.experiment}: {self.trials} trial(s), {self.files} file(s) in {self.out_dir}"
        if self.removed:
            text += f"; removed {len(self.removed)} stale trial folder(s)"
        if self.validated:
            text += f"; {self.validated} OME manifest(s) valid against {self.schema_source}"
        return text + f" ({self.seconds:.2f}s)"


def uses_ome(exp: Experiment) -> bool:
    return exp.deployment.mode == "ome"


def uses_docker(exp: Experiment) -> bool:
    return not uses_ome(exp) and bool(exp.engine.image)


def _manifest_text(filename: str, manifest: dict) -> str:
    if tuple(manifest) != TOP_LEVEL:
        raise ValueError(f"{filename}: a manifest has exactly {TOP_LEVEL}, got {tuple(manifest)}")
    return render(TEMPLATES[filename], m=manifest)


def docker_files(exp: Experiment, trial: Trial) -> dict[str, str]:
    spec = docker.run_spec(exp, trial)
    return {
        "docker.json": json_pretty(spec) + "\n",
        "docker-run.sh": render(
            "docker-run.sh.j2", argv=docker.docker_argv(spec, docker.passed_env(exp)),
            trial_id=trial.id, exports=docker.env_exports(exp),
        ),
    }


def local_command_file(exp: Experiment, trial: Trial) -> str:
    """The local backend's argv; the port is chosen at run time, so it stays `{port}`."""
    argv = engine_command(exp, trial.args, host=LOCAL_HOST, port=PORT_PLACEHOLDER, local=True)
    doc = {"argv": argv, "env": {k: exp.engine.env[k] for k in sorted(exp.engine.env)}}
    return json_pretty(doc) + "\n"


def _trial_objects(exp: Experiment, trial: Trial) -> tuple[dict[str, str], dict[str, dict]]:
    """(files, OME objects by file name) of one trial."""
    if uses_ome(exp):
        objects = ome.trial_manifests(exp, trial)
        return {f: _manifest_text(f, m) for f, m in objects.items()}, objects
    files: dict[str, str] = {}
    if exp.deployment.mode == "local":
        files["command.json"] = local_command_file(exp, trial)
    if uses_docker(exp):
        files.update(docker_files(exp, trial))
    return files, {}


def render_trial(exp: Experiment, trial: Trial) -> dict[str, str]:
    """File name -> text for one trial (not validated: `render_tree` does that)."""
    return _trial_objects(exp, trial)[0]


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
    exp: Experiment, schemas: SchemaSet | None = None, crd_dir: Path | None = None
) -> tuple[dict[str, str], int, SchemaSet | None]:
    """Relative path -> text of everything the experiment renders, validated.

    Returns (files, number of OME manifests validated, the schema source used)."""
    plan = make_plan(exp)
    if len({t.id for t in plan.trials}) != len(plan.trials):
        raise ValueError(f"{exp.name}: two trials share an id")
    if uses_ome(exp) and schemas is None:
        schemas = crd_source(crd_dir)
    files: dict[str, str] = {INDEX: _index(exp, plan.trials)}
    problems: list[Diagnostic] = []
    checked = 0

    def check(path: str, manifest: dict) -> None:
        nonlocal checked
        checked += 1
        for message in schemas.errors(manifest):
            problems.append(Diagnostic(path, 0, 0, "", message))

    if uses_ome(exp):
        for name, manifest in ome.shared_manifests(exp).items():
            path = f"{SHARED}/{name}"
            files[path] = _manifest_text(name, manifest)
            check(f"{exp.name}/{path}", manifest)
    for trial in plan.trials:
        texts, objects = _trial_objects(exp, trial)
        for name, text in texts.items():
            files[f"{trial.id}/{name}"] = text
        for name, manifest in objects.items():
            check(f"{exp.name}/{trial.id}/{name}", manifest)
        if len(problems) > 50:
            break
    if problems:
        raise UserError(
            problems[:50], summary=f"{exp.name}: rendered manifests do not match OME's CRDs"
        )
    return files, checked, schemas


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
    files, checked, schemas = render_tree(exp, crd_dir=crd_dir)
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
        schema_source=schemas.source if schemas else "",
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
