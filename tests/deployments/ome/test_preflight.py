"""The cluster is checked before the first trial: each thing a real OME cluster can lack
for an experiment is one line with its fix, and the run is refused (exit 2) before any
InferenceService exists. Against kmock's emulator seeded as a cluster with OME installed
(tests/ome_standin.py seed_cluster), one thing taken away per case."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from kubernetes import client, config
from tuneops.deployments.ome import render
from tuneops.deployments.registry import deployment_mode

from tests.ome_standin import OmeStandIn, model_label, seed_cluster, write_sim_experiment
from tuneops import cli
from tuneops.validate import load_experiment

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "experiments" / "examples" / "sglang-ome.yaml"
H100 = {"gpu-a": "NVIDIA-H100-80GB-HBM3", "gpu-b": "NVIDIA-H100-80GB-HBM3"}


def _clients(kubeconfig: Path):
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration,
                            persist_config=False)
    api = client.ApiClient(configuration)
    return client.CustomObjectsApi(api), client.CoreV1Api(api)


def _base_model(objects, name: str, spec: dict, state: str | None = "Ready") -> None:
    objects.create_cluster_custom_object("ome.io", "v1beta1", "clusterbasemodels", {
        "apiVersion": "ome.io/v1beta1", "kind": "ClusterBaseModel", "metadata": {"name": name},
        "spec": spec})
    if state:
        objects.patch_cluster_custom_object_status(
            "ome.io", "v1beta1", "clusterbasemodels", name, {"status": {"state": state}})


def _problems(exp) -> list[str]:
    mode = deployment_mode("ome")
    backend = mode.backend(**mode.backend_options(exp))
    return [str(d) for d in backend.preflight(exp)]


def _example_cluster(server, tmp_path, *, nodes=H100, claims=("bench-results",),
                     webhooks_up=True, model: dict | None = None, state="Ready"):
    """The example's cluster: its base model as OME's agent fills it, Ready, with a path."""
    exp = load_experiment(EXAMPLE)
    objects, core = _clients(tmp_path / "kubeconfig")
    seed_cluster(core, "tuneops", nodes, claims=claims, webhooks_up=webhooks_up)
    spec = {**render.agent_filled_model(exp), "storage": {
        "storageUri": "hf://meta-llama/Llama-3.1-8B-Instruct", "path": "/models/llama"}}
    _base_model(objects, "llama-3-1-8b-instruct", model if model is not None else spec, state)
    return exp


def test_a_cluster_with_everything_passes(server, tmp_path):
    exp = _example_cluster(server, tmp_path)
    assert _problems(exp) == []


@pytest.mark.parametrize("case, expected", [
    ("no-model", "ClusterBaseModel llama-3-1-8b-instruct does not exist"),
    ("not-ready", "is not Ready (state In_Transit)"),
    ("no-path", "has no storage.path"),
    ("no-claim", "PersistentVolumeClaim bench-results does not exist in namespace tuneops"),
    ("no-gpu-label", "no node has nvidia.com/gpu.product in (NVIDIA-H100-80GB-HBM3"),
    ("webhook-down", "do not answer: Service ome/ome-webhook-server-service has no ready"),
])
def test_each_missing_piece_is_one_line_with_its_fix(server, tmp_path, case, expected):
    kwargs: dict = {}
    if case == "no-claim":
        kwargs["claims"] = ()
    if case == "no-gpu-label":
        kwargs["nodes"] = {"cpu-a": "none"}
    if case == "webhook-down":
        kwargs["webhooks_up"] = False
    if case == "not-ready":
        kwargs["state"] = "In_Transit"
    if case == "no-path":
        exp = load_experiment(EXAMPLE)
        kwargs["model"] = {**render.agent_filled_model(exp),
                           "storage": {"storageUri": "hf://meta-llama/Llama-3.1-8B-Instruct"}}
    if case == "no-model":
        exp = load_experiment(EXAMPLE)
        seed_cluster(_clients(tmp_path / "kubeconfig")[1], "tuneops", H100)
    else:
        exp = _example_cluster(server, tmp_path, **kwargs)
    found = _problems(exp)
    assert len(found) == 1, found
    assert expected in found[0]
    assert "(" in found[0] and found[0].rstrip().endswith(")")  # the fix, in parentheses


def test_a_gpu_budget_the_nodes_cannot_hold_is_refused(server, tmp_path):
    exp = _example_cluster(server, tmp_path, nodes={"gpu-a": "NVIDIA-H100-80GB-HBM3"})
    text = EXAMPLE.read_text().replace("    namespace: tuneops\n",
                                       "    namespace: tuneops\n    gpuBudget: 16\n")
    (tmp_path / "exp.yaml").write_text(text)
    found = _problems(load_experiment(tmp_path / "exp.yaml"))
    assert len(found) == 1 and "gpuBudget 16 needs 16 nvidia.com/gpu" in found[0], found
    assert found[0].endswith("(lower deployment.ome.gpuBudget to 8)")
    assert _problems(exp) == []  # one node of 8 holds the example's trials


def test_a_shared_object_tuneops_did_not_create_is_a_problem(server, tmp_path):
    exp = _example_cluster(server, tmp_path)
    objects, _ = _clients(tmp_path / "kubeconfig")
    objects.create_cluster_custom_object("ome.io", "v1beta1", "clusterservingruntimes", {
        "apiVersion": "ome.io/v1beta1", "kind": "ClusterServingRuntime",
        "metadata": {"name": render.runtime_name(exp)}, "spec": {}})
    found = _problems(exp)
    assert len(found) == 1 and "was not created by tuneops" in found[0], found


def _mismatch_experiment(tmp_path: Path) -> Path:
    """The simulator experiment on an existing base model and a named runtime that
    declares another architecture than the model's config.json."""
    exp_file = write_sim_experiment(tmp_path / "exp.yaml", "pvc://bench-results/tuneops")
    text = exp_file.read_text()
    start = text.index("    generateBaseModel:")
    end = text.index("    benchmarkStorageUri:")
    text = text[:start] + "    runtime: mistral-runtime\n" + text[end:]
    exp_file.write_text(text)
    return exp_file


def test_preflight_refuses_a_runtime_model_mismatch_before_any_trial(server, tmp_path, capsys):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "config.json").write_text(json.dumps(
        {"architectures": ["LlamaForCausalLM"], "transformers_version": "4.43.0"}))
    exp_file = _mismatch_experiment(tmp_path)
    objects, _ = _clients(tmp_path / "kubeconfig")
    with OmeStandIn(server, tmp_path / "kubeconfig", "tuneops", tmp_path / "pvcs") as ome:
        _base_model(objects, "tiny-llama", {"storage": {
            "storageUri": "hf://meta-llama/Llama-3.2-1B", "path": str(model_dir)}}, state=None)
        objects.create_cluster_custom_object("ome.io", "v1beta1", "clusterservingruntimes", {
            "apiVersion": "ome.io/v1beta1", "kind": "ClusterServingRuntime",
            "metadata": {"name": "mistral-runtime"}, "spec": {"supportedModelFormats": [{
                "modelFormat": {"name": "safetensors", "version": "1.0.0"},
                "modelFramework": {"name": "transformers", "version": "4.43.0"},
                "modelArchitecture": "MistralForCausalLM", "autoSelect": False}]}})

        def filled() -> bool:  # the stand-in's model agent has parsed config.json
            model = objects.get_cluster_custom_object(
                "ome.io", "v1beta1", "clusterbasemodels", "tiny-llama")
            return (model.get("status") or {}).get("state") == "Ready" and \
                "modelArchitecture" in model["spec"]

        from tests.helpers.polling import wait_until

        wait_until(filled, timeout=30, interval=0.1, what="the model agent's fill")
        exp = load_experiment(exp_file)
        t0 = time.perf_counter()
        found = _problems(exp)
        took = time.perf_counter() - t0
        code = cli.main(["run", str(exp_file), "--runs-dir", str(tmp_path / "runs"),
                         "--reports-dir", str(tmp_path / "reports"), "--quiet"])
        served = list(ome.served)
    err = capsys.readouterr().err
    print(f"preflight refused the mismatch in {took * 1000:.0f} ms")
    assert ome.errors == []
    assert len(found) == 1 and "MistralForCausalLM" in found[0], found
    assert "LlamaForCausalLM" in found[0] and "deployment.ome.runtime" in found[0]
    assert code == 2 and "the cluster is not ready" in err and "MistralForCausalLM" in err
    assert served == []  # refused before any InferenceService
    assert model_label("tiny-llama") == "models.ome.io/clusterbasemodel.tiny-llama"
