"""`tuneops run` on an OME experiment drives the cluster through the OME backend.

The cluster is kmock's KubernetesEmulator (tests/kube_helpers.py) reached through a
kubeconfig, as a user's would be. It runs no OME controller, so the test plays one: when
the trial's InferenceService appears it reports the model failed to load
(BlockedByFailedLoad, ModelLoadFailed, as OME does), which must end the trial as
failed_config after one attempt, with OME's message, and leave
nothing behind in the experiment's namespace.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from tuneops.deployments.common.backend import OWNER_LABEL

from tests.kube_helpers import running_api_server, write_kubeconfig
from tests.ome_standin import OmeStandIn, seed_cluster, write_sim_experiment
from tests.paths import ROOT
from tuneops import cli

OME_EXAMPLE = ROOT / "experiments/examples/sglang-ome.yaml"
GROUP, VERSION, ISVC, NAMESPACE = "ome.io", "v1beta1", "inferenceservices", "tuneops"
# What OME writes when the engine container fails to load the model
# (pkg/controller/v1beta1/inferenceservice/status/status_util.go:296-303,
# status_reconciler.go:204-206): BlockedByFailedLoad with ModelLoadFailed.
FAILED = {"conditions": [{"type": "Ready", "status": "False", "reason": "ComponentNotReady",
                          "lastTransitionTime": "2026-01-01T00:00:00Z"}],
          "modelStatus": {"transitionStatus": "BlockedByFailedLoad", "lastFailureInfo": {
              "reason": "ModelLoadFailed", "message": "CUDA out of memory"}}}


def _fail_each_new_service(objects: client.CustomObjectsApi, seen: list, stop: threading.Event):
    while not stop.wait(0.05):
        try:
            items = objects.list_namespaced_custom_object(GROUP, VERSION, NAMESPACE, ISVC)["items"]
        except ApiException:
            continue  # 404 until the first InferenceService exists
        for item in items:
            name = item["metadata"]["name"]
            if name not in [s["metadata"]["name"] for s in seen]:
                seen.append(item)
                objects.patch_namespaced_custom_object_status(
                    GROUP, VERSION, NAMESPACE, ISVC, name, {"status": FAILED})


def _seed_example_cluster(objects: client.CustomObjectsApi, core: client.CoreV1Api) -> None:
    """A cluster that passes the run's preflight for the example: H100 nodes, the result
    claim, OME's webhooks, and the base model Ready as OME's agent fills it."""
    from tuneops.deployments.ome import render

    from tuneops.validate import load_experiment

    seed_cluster(core, NAMESPACE, {"gpu-a": "NVIDIA-H100-80GB-HBM3"})
    spec = {**render.agent_filled_model(load_experiment(OME_EXAMPLE)),
            "storage": {"storageUri": "hf://meta-llama/Llama-3.1-8B-Instruct",
                        "path": "/models/llama"}}
    objects.create_cluster_custom_object(GROUP, VERSION, "clusterbasemodels", {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "ClusterBaseModel",
        "metadata": {"name": "llama-3-1-8b-instruct"}, "spec": spec})
    objects.patch_cluster_custom_object_status(GROUP, VERSION, "clusterbasemodels",
                                               "llama-3-1-8b-instruct",
                                               {"status": {"state": "Ready"}})


def test_ome_run_applies_the_trial_and_records_omes_failure(tmp_path, monkeypatch, capsys):
    with running_api_server() as server:
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", server.url)
        monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
        configuration = client.Configuration()
        config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration,
                                persist_config=False)
        objects = client.CustomObjectsApi(client.ApiClient(configuration))
        _seed_example_cluster(objects, client.CoreV1Api(objects.api_client))
        seen: list = []
        stop = threading.Event()
        controller = threading.Thread(target=_fail_each_new_service, args=(objects, seen, stop))
        controller.start()
        try:
            code = cli.main(["run", str(OME_EXAMPLE), "--runs-dir", str(tmp_path / "runs"),
                             "--reports-dir", str(tmp_path / "reports"), "--quiet",
                             "--max-trials", "1"])
        finally:
            stop.set()
            controller.join(5)
        left = objects.list_namespaced_custom_object(GROUP, VERSION, NAMESPACE, ISVC)["items"]
        runtimes = [r for r in list(server.emulator)
                    if r.method == "POST" and r.url.path.endswith("/clusterservingruntimes")]
        runtimes_left = objects.list_cluster_custom_object(
            GROUP, VERSION, "clusterservingruntimes")["items"]
    assert code == 1, capsys.readouterr().err  # no feasible trial
    assert len(seen) == 1 and left == []  # one attempt, deleted when the trial ended
    assert seen[0]["metadata"]["annotations"][OWNER_LABEL].startswith("llama8b-ome-tp/")
    assert len(runtimes) == 1
    assert runtimes_left == []  # the runtime the run created is deleted at its end
    records = [json.loads(line) for p in (tmp_path / "runs").rglob("*.jsonl")
               for line in p.read_text().splitlines() if line.strip()]
    finished = [r for r in records if "failed_config" in json.dumps(r)]
    assert finished, records
    assert "ModelLoadFailed" in json.dumps(finished)
    assert "CUDA out of memory" in json.dumps(finished)


# -- the success path, end to end, against the OME stand-in -------------------------------



def test_ome_run_measures_in_the_cluster_two_trials_at_once(tmp_path, monkeypatch, capsys):
    """`tuneops run` against the stand-in: both InferenceServices up together, each measured
    by its BenchmarkJob (genai-bench with OME's own arguments), results read back from the
    claim through a reader pod, a report written and nothing left in the namespace."""
    exp_file = write_sim_experiment(tmp_path / "sim-ome.yaml", "pvc://bench-results/tuneops")
    with running_api_server() as server:
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", server.url)
        monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
        with OmeStandIn(server, kubeconfig, NAMESPACE, tmp_path / "pvcs") as ome:
            code = cli.main(["run", str(exp_file), "--runs-dir", str(tmp_path / "runs"),
                             "--reports-dir", str(tmp_path / "reports"), "--quiet"])
            left = ome.wait_settled()
    out = capsys.readouterr()
    assert ome.errors == []
    assert code == 0, out.err + out.out
    assert left == []
    assert len(ome.served) == 2 and ome.max_running == 2  # both trials ran together
    # genai-bench ran with OME's arguments, model name and all
    for command in ome.bench_commands.values():
        assert command[command.index("--api-model-name") + 1] == "vllm-model"
        assert command[command.index("--api-backend") + 1] == "sglang"  # PROTOCOL_VERSION
        assert command[command.index("--experiment-base-dir") + 1].startswith("/tuneops/")
    written = sorted((tmp_path / "pvcs" / "bench-results").rglob("D32_16*.json"))
    assert len(written) == 2, written  # the claim holds what the jobs wrote
    reports = list((tmp_path / "reports" / "sim-ome-e2e").rglob("results.json"))
    assert len(reports) == 1
    doc = json.loads(reports[0].read_text())
    assert [t["status"] for t in doc["trials"]] == ["completed", "completed"]
    for trial in doc["trials"]:
        point = trial["metrics"]["D(32,16)"]["2"]
        assert point["num_completed_requests"] >= 1 and point["output_throughput"] > 0
        assert trial["placement"]["gpu_product"] == "NVIDIA-H100-80GB-HBM3"
        assert trial["placement"]["node"] in ome.nodes
    report_md = reports[0].with_name("report.md").read_text()
    assert "Placed on" in report_md and "NVIDIA-H100-80GB-HBM3" in report_md


def test_ome_parallel_trials_are_held_within_the_cluster_gpu_budget(tmp_path):
    """search.parallelTrials asks; deployment.ome.gpuBudget caps: the runner's pool holds one
    slot per budget GPU, and each trial takes its rendered GPU count of them."""
    from tuneops.runner.run import RunOptions, _gpu_pool

    from tuneops.validate import load_experiment

    text = Path(OME_EXAMPLE).read_text().replace(
        "  method: grid", "  method: grid\n  parallelTrials: 4")
    for budget, at_once in ((2, 1), (5, 2), (None, None)):
        changed = text if budget is None else text.replace(
            "    generateRuntime: true", f"    generateRuntime: true\n    gpuBudget: {budget}")
        path = tmp_path / f"budget-{budget}.yaml"
        path.write_text(changed)
        exp = load_experiment(path)
        pool = _gpu_pool(exp, RunOptions())
        if budget is None:  # no budget: parallelTrials alone paces the trials
            assert pool.size == 0
            continue
        assert pool.size == budget and exp.gpus_per_trial == 2
        held = []
        while len(held) < 4 and len(pool.free()) >= exp.gpus_per_trial:
            held.append(pool.acquire(exp.gpus_per_trial))
        assert len(held) == at_once
        with pytest.raises(TimeoutError):  # the next trial waits for a slot
            pool.acquire(exp.gpus_per_trial, timeout=0.1)
