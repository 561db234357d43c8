"""`tuneops promote`: the winner goes into an experiment's engine.args, an OME runtime or
InferenceService, or a compose service, with comments, key order and quoting kept."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tuneops.runner.report import write_report
from tuneops.runner.results import COMPLETED, Score, TrialResult

from tests.paths import ROOT
from tuneops.plan import make_plan
from tuneops.validate import load_experiment

REPO = ROOT
OME = REPO / "experiments" / "examples" / "sglang-ome.yaml"


def tuneops(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tuneops.cli", *args], cwd=cwd,
                          capture_output=True, text=True)


@pytest.fixture
def report(tmp_path) -> tuple[Path, dict]:
    """A report of (a copy of) the OME example whose best trial is its last grid point."""
    shutil.copy(OME, tmp_path / "exp.yaml")
    exp = load_experiment(tmp_path / "exp.yaml")
    trials = make_plan(exp).trials
    results = [TrialResult(t.id, t.index, t.params, t.args, COMPLETED,
                           metrics={"x": {1: {"output_throughput_per_gpu": float(i)}}},
                           score=Score(float(i + 1), True, 0.0, 1, 1))
               for i, t in enumerate(trials)]
    out = write_report(tmp_path / "reports" / exp.name / "r1", exp, results, run_id="r1",
                       manifests_root=None)
    return out, trials[-1].params


def test_promote_into_the_experiment_sets_engine_args_and_keeps_the_file(tmp_path, report):
    out, best = report
    before = (tmp_path / "exp.yaml").read_text()
    proc = tuneops("promote", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    after = (tmp_path / "exp.yaml").read_text()
    exp = load_experiment(tmp_path / "exp.yaml")
    for k, v in best.items():
        assert exp.engine.args[k] == v
        assert k not in {p.name for p in exp.parameters}, "the baseline is not tuned again"
    # every comment line of the original survives, in order
    comments = [ln.strip() for ln in before.splitlines() if ln.strip().startswith("#")]
    assert [ln.strip() for ln in after.splitlines() if ln.strip().startswith("#")] == comments
    assert after.splitlines()[:5] == before.splitlines()[:5]


def test_promote_into_ome_manifests_edits_the_flags_in_place(tmp_path, report):
    out, best = report
    csr = tmp_path / "runtime.yaml"
    shutil.copy(REPO / "manifests" / "llama8b-ome-tp" / "_shared" / "clusterservingruntime.yaml",
                csr)
    before = csr.read_text()
    proc = tuneops("promote", str(out), "--into", str(csr), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = csr.read_text()
    for k, v in best.items():
        assert f'        - "--{k}"\n        - "{v}"' in text
    assert text.splitlines()[:3] == before.splitlines()[:3]  # the header comment
    assert 'apiVersion: "ome.io/v1beta1"' in text  # quoting kept
    isvc = tmp_path / "isvc.yaml"
    [first] = sorted((REPO / "manifests" / "llama8b-ome-tp").glob("*/inferenceservice.yaml"))[:1]
    shutil.copy(first, isvc)
    assert tuneops("promote", str(out), "--into", str(isvc), cwd=tmp_path).returncode == 0
    argv = isvc.read_text()
    for k, v in best.items():
        assert argv.count(f'"--{k}"') == 1 and f'"--{k}"\n        - "{v}"' in argv


def test_promote_into_a_compose_service(tmp_path, report):
    out, best = report
    compose = tmp_path / "compose.yaml"
    compose.write_text(
        "# serving stack\n"
        "services:\n"
        "  sglang:\n"
        "    image: lmsysorg/sglang:v0.5.5  # pinned\n"
        "    command: ['python3', '-m', 'sglang.launch_server', '--tp-size', '1']\n"
        "  proxy:\n"
        "    image: nginx\n")
    assert tuneops("promote", str(out), "--into", str(compose), cwd=tmp_path).returncode == 2
    proc = tuneops("promote", str(out), "--into", str(compose), "--service", "sglang",
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = compose.read_text()
    assert text.startswith("# serving stack\n") and "# pinned" in text
    assert f"'--tp-size', '{best['tp-size']}'" in text
    assert f"'--mem-fraction-static', '{best['mem-fraction-static']}'" in text


def test_promote_refuses_what_it_cannot_edit_and_writes_nothing(tmp_path, report):
    out, _ = report
    other = tmp_path / "other.yaml"
    other.write_text("kind: ConfigMap\ndata: {a: b}\n")
    proc = tuneops("promote", str(out), "--into", str(other), cwd=tmp_path)
    assert proc.returncode == 2 and "not an Experiment" in proc.stderr
    assert other.read_text() == "kind: ConfigMap\ndata: {a: b}\n"
