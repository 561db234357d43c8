"""Every measurement reads only what its own BenchmarkJob wrote: repeats of one trial
through the OME stand-in, with a stale result file planted where a leftover would be
(the trial's old shared folder and the previous repeat's folder), named so it sorts
after the fresh one (genai-bench names files by how long the run took, and the parser
keeps the file that sorts last)."""

from __future__ import annotations

import json
from pathlib import Path

from tuneops.deployments.ome import results as ome_results
from tuneops.runner import bench

from tests.deployments.ome.test_backend import NS, _backend, _launch, s3, server  # noqa: F401
from tests.ome_standin import OmeStandIn, write_sim_experiment
from tuneops.plan import make_plan
from tuneops.validate import load_experiment

STALE = 99999.0
SCENARIO, LEVEL = "D(32,16)", 2


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
    return f"{stem}_time_zz99999s.json"


def _repeats(exp, tmp_path: Path, plant) -> list:
    """Two measurements of one ready trial, as the runner's repeats are (genai-bench,
    genai-bench-2); ``plant(outcome)`` runs between them."""
    backend = _backend(exp)
    trial = make_plan(exp).trials[0]
    deployment = backend.start(_launch(exp, trial, tmp_path, owner="sim-ome-e2e/run-1"))
    outcomes = []
    try:
        backend.wait_healthy(deployment, timeout_s=60)
        for run_no in (1, 2):
            out_dir = tmp_path / "attempt-1" / ("genai-bench" if run_no == 1
                                                else f"genai-bench-{run_no}")
            outcomes.append(backend.benchmark(deployment, exp, out_dir, genai_bench=bench))
            if run_no == 1:
                plant(trial, outcomes[0], out_dir)
    finally:
        backend.stop(deployment)
    return outcomes


def _check(outcomes) -> None:
    for outcome in outcomes:
        assert outcome.ok, outcome.reason
        value = outcome.metrics[SCENARIO][LEVEL]["output_throughput"]
        assert 0 < value < STALE, value
        assert all("zz99999" not in f for f in outcome.files), outcome.files


def test_a_stale_file_on_the_claim_is_never_reported(server, tmp_path):  # noqa: F811
    exp = load_experiment(write_sim_experiment(tmp_path / "exp.yaml",
                                               "pvc://bench-results/tuneops"))
    claim = tmp_path / "pvcs" / "bench-results"

    def plant(trial, first, out_dir):
        fresh = sorted(claim.rglob("D32_16*.json"))
        assert len(fresh) == 1, fresh
        stale = _tampered(fresh[0].read_text())
        name = _stale_name(fresh[0].name)
        shared = claim / "tuneops" / exp.name / trial.id / trial.id  # one folder per trial
        shared.mkdir(parents=True, exist_ok=True)
        for folder in (shared, fresh[0].parent):
            (folder / name).write_text(stale)

    with OmeStandIn(server, tmp_path / "kubeconfig", NS, tmp_path / "pvcs") as ome:
        outcomes = _repeats(exp, tmp_path, plant)
        left = ome.wait_settled()
    assert ome.errors == [] and left == []
    _check(outcomes)
    written = {p.parent for p in claim.rglob("D32_16*.json") if "zz99999" not in p.name}
    assert len(written) == 2, written  # each repeat wrote into a folder of its own


def test_a_stale_object_under_the_s3_prefix_is_never_reported(server, s3, tmp_path):  # noqa: F811
    exp = load_experiment(write_sim_experiment(tmp_path / "exp.yaml", "s3://bench/tuneops"))

    def plant(trial, first, out_dir):
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="bench")["Contents"]
                if o["Key"].rsplit("/", 1)[-1].startswith("D32_16")]
        assert len(keys) == 1, keys
        body = s3.get_object(Bucket="bench", Key=keys[0])["Body"].read().decode()
        name = _stale_name(keys[0].rsplit("/", 1)[-1])
        for prefix in (f"tuneops/{exp.name}/{trial.id}", keys[0].rsplit("/", 1)[0]):
            s3.put_object(Bucket="bench", Key=f"{prefix}/{name}", Body=_tampered(body))

    with OmeStandIn(server, tmp_path / "kubeconfig", NS, tmp_path / "pvcs") as ome:
        outcomes = _repeats(exp, tmp_path, plant)
        left = ome.wait_settled()
    assert ome.errors == [] and left == []
    _check(outcomes)


def test_each_measurement_key_is_new_and_a_dns_label():
    keys = {ome_results.measurement_key(Path("runs/x/t/attempt-2/genai-bench-3"))
            for _ in range(50)}
    assert len(keys) == 50
    assert all(k.startswith("attempt-2-genai-bench-3-") and len(k) <= 63 for k in keys)
