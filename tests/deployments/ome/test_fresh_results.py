"""Every measurement reads only what its own BenchmarkJob wrote.

Whenever the OME stand-in sees a BenchmarkJob deleted (its results were read), it plants
what a leftover would look like: a copy of the job's result file with every output
throughput set to STALE, named so it sorts after the fresh one (genai-bench names files
by how long the run took, and the parser keeps the file that sorts last), both in the
folder that job wrote and in the trial's folder one level up (where every repeat of the
trial wrote before results had a folder per measurement). A later repeat, retry,
confirmation round or run that reused either would report STALE.

Each test has its own API server, namespace, claim folder and S3 bucket (conftest.py):
nothing another test wrote can be under its prefix.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tuneops.deployments.ome import results as ome_results
from tuneops.deployments.registry import deployment_mode
from tuneops.runner import bench
from tuneops.runner.run import trial_launch

from tests.ome_standin import OmeStandIn, write_sim_experiment
from tuneops import cli
from tuneops.plan import make_plan
from tuneops.validate import load_experiment

STALE = 99999.0
SCENARIO, LEVEL = "D(32,16)", 2
STALE_TIME = "_time_zz99999s.json"


def _tampered(text: str) -> str:
    """A genai-bench result with every output-throughput figure set to STALE."""

    def walk(node):
        if isinstance(node, dict):
            return {k: STALE if "output_throughput" in k and isinstance(v, (int, float))
                    else walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return json.dumps(walk(json.loads(text)))


def _stale_name(fresh: str) -> str:
    """The fresh file's name with a run time that sorts after any real one."""
    stem, _, _ = fresh.rpartition("_time_")
    assert stem, fresh
    return stem + STALE_TIME


class Planter:
    """The stand-in's on_deleted hook: plants STALE copies where a leftover would be."""

    def __init__(self, pvc_root: Path, bucket=None) -> None:
        self.pvc_root, self.bucket = pvc_root, bucket
        self.planted: list[str] = []

    def __call__(self, job: dict) -> None:
        spec = job["spec"]
        loc = ome_results.location(spec["outputLocation"]["storageUri"],
                                   spec.get("resultFolderName"))
        if loc.scheme == "pvc":
            folder = self.pvc_root / loc.container / loc.path
            fresh = [p for p in folder.glob("D32_16*.json") if STALE_TIME not in p.name]
            if not fresh:
                return  # a job that wrote nothing (cancelled or failed)
            trial_folder = folder.parent.parent / folder.name  # <trial>/<trial>: the old one
            for where in (folder, trial_folder):
                where.mkdir(parents=True, exist_ok=True)
                (where / _stale_name(fresh[0].name)).write_text(
                    _tampered(fresh[0].read_text()))
                self.planted.append(str(where))
            return
        s3, name = self.bucket.client, self.bucket.name
        keys = [k for k in self.bucket.keys() if k.startswith(loc.path + "/")
                and k.rsplit("/", 1)[-1].startswith("D32_16") and STALE_TIME not in k]
        if not keys:
            return
        body = s3.get_object(Bucket=name, Key=keys[0])["Body"].read().decode()
        stale = _stale_name(keys[0].rsplit("/", 1)[-1])
        for prefix in (loc.path, loc.path.rsplit("/", 1)[0]):  # its own, then the trial's
            s3.put_object(Bucket=name, Key=f"{prefix}/{stale}", Body=_tampered(body))
            self.planted.append(prefix)


def _storage(kind: str, s3) -> str:
    return "pvc://bench-results/tuneops" if kind == "pvc" else f"s3://{s3.name}/tuneops"


def _fresh(value: float) -> None:
    assert 0 < value < STALE, value


# -- the backend: two repeats of one trial -------------------------------------------------


def _repeats(exp, tmp_path: Path) -> list:
    """Two measurements of one ready trial, as the runner's repeats are (genai-bench,
    genai-bench-2), each after the previous one's job was deleted (and planted over)."""
    mode = deployment_mode("ome")
    backend = mode.backend(**mode.backend_options(exp), grace_s=2, poll_s=0.2)
    trial = make_plan(exp).trials[0]
    launch = trial_launch(exp, trial, owner="sim-ome-e2e/run-1", gpus=(),
                          log_dir=tmp_path / "logs" / trial.id)
    deployment = backend.start(launch)
    outcomes = []
    try:
        backend.wait_healthy(deployment, timeout_s=60)
        for out in ("genai-bench", "genai-bench-2"):
            outcomes.append(backend.benchmark(deployment, exp, tmp_path / "attempt-1" / out,
                                              genai_bench=bench))
    finally:
        backend.stop(deployment)
    return outcomes


# The claim here, S3 in the runner's test below: each result reader is driven through a
# planted leftover once, and the other store's runner path is test_run_modes' two-trial run.
@pytest.mark.parametrize("kind", ["pvc"])
def test_a_planted_stale_file_is_never_read_by_the_next_repeat(kind, request, server,
                                                                namespace, tmp_path):
    s3 = request.getfixturevalue("s3") if kind == "s3" else None
    exp = load_experiment(write_sim_experiment(tmp_path / "exp.yaml", _storage(kind, s3),
                                               namespace=namespace))
    planter = Planter(tmp_path / "pvcs", s3)
    with OmeStandIn(server, tmp_path / "kubeconfig", namespace, tmp_path / "pvcs",
                    on_deleted=planter) as ome:
        outcomes = _repeats(exp, tmp_path)
        left = ome.wait_settled()
    assert ome.errors == [] and left == []
    assert len(planter.planted) >= 2  # the first repeat's leftovers were there for the second
    for outcome in outcomes:
        assert outcome.ok, outcome.reason
        _fresh(outcome.metrics[SCENARIO][LEVEL]["output_throughput"])
        assert all("zz99999" not in f for f in outcome.files), outcome.files


# -- the runner: repeats and a confirmation round ------------------------------------------


# Six genai-bench runs and four engine starts: 5-8 min on the shared machine, past the
# default 600 s bound under a load of ~19; the bound stays, only longer.
@pytest.mark.timeout(1500)
@pytest.mark.parametrize("kind", ["s3"])
def test_repeats_and_a_confirmation_round_report_only_fresh_results(
        kind, request, server, namespace, tmp_path, monkeypatch, capsys):
    s3 = request.getfixturevalue("s3") if kind == "s3" else None
    exp_file = write_sim_experiment(tmp_path / "exp.yaml", _storage(kind, s3),
                                    namespace=namespace)
    text = exp_file.read_text()
    text = text.replace("  maxRequestsPerRun: 6\n", "  maxRequestsPerRun: 6\n  repeats: 2\n")
    text = text.replace("confirm: false}", "confirm: {topK: 2, rounds: 1}}")
    exp_file.write_text(text)
    planter = Planter(tmp_path / "pvcs", s3)
    with OmeStandIn(server, tmp_path / "kubeconfig", namespace, tmp_path / "pvcs",
                    on_deleted=planter) as ome:
        code = cli.main(["run", str(exp_file), "--runs-dir", str(tmp_path / "runs"),
                         "--reports-dir", str(tmp_path / "reports"), "--quiet"])
        left = ome.wait_settled()
    out = capsys.readouterr()
    assert code == 0, out.err + out.out
    assert ome.errors == [] and left == []
    reports = list((tmp_path / "reports" / "sim-ome-e2e").rglob("results.json"))
    assert len(reports) == 1
    doc = json.loads(reports[0].read_text())
    assert doc["confirmation"]["measurements"] >= 1, doc["confirmation"]
    # two trials x two repeats, then each confirmation's measurement on a fresh engine
    assert len(ome.bench_procs) >= 4 + doc["confirmation"]["measurements"]
    assert len(planter.planted) >= 2 * (len(ome.bench_procs) - 1)
    for trial in doc["trials"]:
        assert trial["status"] == "completed", trial
        point = trial["metrics"][SCENARIO][str(LEVEL)]
        _fresh(point["output_throughput"])
    assert "99999" not in reports[0].with_name("report.md").read_text()


def test_each_measurement_key_is_new_and_a_dns_label():
    keys = {ome_results.measurement_key(Path("runs/x/t/attempt-2/genai-bench-3"))
            for _ in range(50)}
    assert len(keys) == 50
    assert all(k.startswith("attempt-2-genai-bench-3-") and len(k) <= 63 for k in keys)
