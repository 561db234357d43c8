"""OME manifests: tuned flags really reach the container, and every object fits its CRD."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft7Validator
from tuneops.deployments.ome import crds
from tuneops.deployments.ome import render as ome
from tuneops.renderers.command import engine_command
from tuneops.renderers.quoting import k8s_expand
from tuneops.renderers.render import render_tree, render_trial
from tuneops.renderers.schemacheck import JsonSchemaValidator, Validator

from tuneops import spec, yamlio
from tuneops.errors import UserError
from tuneops.plan import make_plan

EXAMPLES = Path(__file__).resolve().parents[3] / "experiments" / "examples"
CRD_DIR = crds.DEFAULT_CRD_DIR


def document() -> dict:
    return yamlio.to_plain(yamlio.load(EXAMPLES / "sglang-ome.yaml"))


def experiment(doc: dict | None = None) -> spec.Experiment:
    return spec.from_document(copy.deepcopy(doc or document()))


def container_argv(isvc: dict, model_path: str = "/mnt/models/llama") -> list[str]:
    """The argv the engine process gets once Kubernetes has expanded the command."""
    runner = isvc["spec"]["engine"]["runner"]
    assert "args" not in runner  # a command alone: nothing for OME to merge or drop
    env = {e["name"]: e["value"] for e in runner.get("env", [])}
    env["MODEL_PATH"] = model_path
    return [k8s_expand(w, env) for w in runner["command"]]


def test_every_tuned_flag_and_value_reaches_the_container_command():
    doc = document()
    doc["parameters"]["schedule-policy"] = ["lpm", "fcfs"]
    doc["parameters"]["disable-radix-cache"] = {"type": "bool"}
    exp = experiment(doc)
    plan = make_plan(exp)
    assert len(plan.trials) == 16
    for trial in plan.trials:
        isvc = yaml.safe_load(render_trial(exp, trial)["inferenceservice.yaml"])
        argv = container_argv(isvc)
        expected = engine_command(
            exp, trial.args, host="0.0.0.0", port=8080, local=False, model="/mnt/models/llama"
        )
        assert argv == expected
        for name, value in trial.args.items():
            if value is True:
                assert f"--{name}" in argv
            elif value is False:
                assert f"--{name}" not in argv
            else:
                at = argv.index(f"--{name}")
                assert argv[at + 1] == str(value)
        labels = isvc["metadata"]["labels"]
        assert labels["tuneops.io/trial"] == trial.id
        annotated = json.loads(isvc["metadata"]["annotations"]["tuneops.io/params"])
        assert annotated == trial.params


def test_values_cannot_smuggle_kubernetes_variables_or_yaml():
    doc = document()
    doc["engine"]["args"]["chat-template"] = "$(HF_TOKEN) {{ 7*7 }}\n- injected: true"
    exp = experiment(doc)
    trial = make_plan(exp).trials[0]
    text = render_trial(exp, trial)["inferenceservice.yaml"]
    assert "49" not in text
    argv = container_argv(yaml.safe_load(text))
    assert argv[argv.index("--chat-template") + 1] == "$(HF_TOKEN) {{ 7*7 }}\n- injected: true"


def test_inference_service_shape():
    exp = experiment()
    trial = make_plan(exp).trials[-1]
    isvc = yaml.safe_load(render_trial(exp, trial)["inferenceservice.yaml"])
    assert isvc["apiVersion"] == "ome.io/v1beta1" and isvc["kind"] == "InferenceService"
    assert isvc["metadata"]["name"] == f"llama8b-ome-tp-{trial.id}"
    assert isvc["metadata"]["namespace"] == "tuneops"
    assert isvc["spec"]["model"] == {"name": "llama-3-1-8b-instruct"}
    assert isvc["spec"]["runtime"] == {"name": "tuneops-llama8b-ome-tp"}
    runner = isvc["spec"]["engine"]["runner"]
    assert runner["image"] == "lmsysorg/sglang:v0.5.5"
    assert runner["resources"]["limits"]["nvidia.com/gpu"] == 2
    assert runner["command"][:5] == [
        "python3", "-m", "sglang.launch_server", "--model-path", "$(MODEL_PATH)"
    ]


def test_long_experiment_names_are_cut_to_a_dns_label():
    doc = document()
    doc["metadata"]["name"] = "a" * 40 + "-" + "b" * 22
    exp = experiment(doc)
    trial = make_plan(exp).trials[0]
    name = ome.trial_name(exp, trial)
    assert len(name) <= 63 and name.endswith(trial.id) and "--" not in name


def test_benchmark_job_shape():
    exp = experiment()
    trial = make_plan(exp).trials[0]
    job = yaml.safe_load(render_trial(exp, trial)["benchmarkjob.yaml"])
    s = job["spec"]
    assert s["endpoint"] == {
        "inferenceService": {"name": f"llama8b-ome-tp-{trial.id}", "namespace": "tuneops"}
    }
    assert s["task"] == "text-to-text"
    assert s["trafficScenarios"] == ["D(1024,256)"] and s["numConcurrency"] == [8, 32]
    assert s["maxTimePerIteration"] == 3 and s["maxRequestsPerIteration"] == 500
    assert s["outputLocation"]["storageUri"] == (
        f"pvc://bench-results/tuneops/llama8b-ome-tp/{trial.id}"
    )
    assert s["serviceMetadata"] == {
        "engine": "SGLang", "version": "0.5.23", "gpuType": "H100", "gpuCount": 2
    }
    assert "additionalRequestParams" not in s  # OME does not pass it on


@pytest.mark.parametrize("gpu_type", ["H200", "A100-80G", "A100"])
def test_service_metadata_only_when_both_crd_and_genai_bench_accept_the_gpu(gpu_type):
    doc = document()
    doc["deployment"]["gpus"]["type"] = gpu_type
    exp = experiment(doc)
    job = ome.benchmark_job(exp, make_plan(exp).trials[0])
    assert "serviceMetadata" not in job["spec"]


def test_task_names_are_mapped_and_unknown_tasks_refused():
    doc = document()
    doc["benchmark"]["task"] = "image-text-to-text"
    exp = experiment(doc)
    assert ome.benchmark_job(exp, make_plan(exp).trials[0])["spec"]["task"] == "image-to-text"
    doc["benchmark"]["task"] = "text-to-rerank"
    exp = experiment(doc)
    with pytest.raises(UserError, match="text-to-rerank"):
        ome.benchmark_job(exp, make_plan(exp).trials[0])


def test_rendered_manifests_validate_against_the_crds_and_read_back_as_built():
    doc = document()
    doc["deployment"]["ome"]["generateBaseModel"] = {"vendor": "meta", "path": "/raid/m"}
    exp = experiment(doc)
    files, checked, _ = render_tree(exp, crd_dir=CRD_DIR)
    schemas = crds.from_dir(CRD_DIR)
    assert checked == 2 * len(make_plan(exp).trials) + 2
    shared = yaml.safe_load(files["_shared/clusterbasemodel.yaml"])
    assert shared["spec"]["storage"] == {
        "storageUri": "hf://meta-llama/Llama-3.1-8B-Instruct", "path": "/raid/m"
    }
    runtime = yaml.safe_load(files["_shared/clusterservingruntime.yaml"])
    assert runtime["spec"]["engineConfig"]["runner"]["command"][-2:] == ["--log-level", "warning"]
    for trial in make_plan(exp).trials:
        for name, built in ome.trial_manifests(exp, trial).items():
            assert yaml.safe_load(files[f"{trial.id}/{name}"]) == built
            assert schemas.errors(built) == []


def test_invalid_manifests_are_refused_before_anything_is_written(tmp_path):
    doc = document()
    doc["deployment"]["ome"]["namespace"] = "Not_A_Namespace"
    doc["deployment"]["ome"]["generateBaseModel"] = {"unknownField": 1}
    exp = experiment(doc)
    with pytest.raises(UserError) as info:
        render_tree(exp, crd_dir=CRD_DIR)
    text = str(info.value)
    assert "metadata.namespace" in text and "does not match" in text
    assert "'unknownField' was unexpected" in text


def _mutations(manifest: dict):
    yield manifest
    m = copy.deepcopy(manifest)
    m["spec"]["engine"]["runner"]["resources"]["limits"]["nvidia.com/gpu"] = "two"
    m["spec"]["engine"]["runner"]["bogus"] = 1
    m["spec"]["engine"]["minReplicas"] = "1"
    yield m
    m = copy.deepcopy(manifest)
    m["metadata"]["labels"]["bad key!"] = "x" * 70
    m["spec"]["engine"]["runner"]["command"].append(7)
    m["spec"]["engine"]["runner"]["env"] = [{"name": "A", "value": 1}, {"value": "x"}]
    del m["spec"]["model"]["name"]
    yield m
    m = copy.deepcopy(manifest)
    m["spec"]["engine"]["runner"]["ports"] = [
        {"containerPort": 8080, "protocol": "TCP"}, {"containerPort": 8080, "protocol": "TCP"}
    ]
    m["spec"]["engine"]["tolerations"] = "no"
    yield m


def test_fast_validator_finds_exactly_what_jsonschema_finds():
    schema = crds.from_dir(CRD_DIR).validator("InferenceService").schema
    exp = experiment()
    base = ome.inference_service(exp, make_plan(exp).trials[0])
    for instance in _mutations(base):
        expected = sorted(
            (tuple(e.absolute_path), e.message)
            for e in JsonSchemaValidator(schema).iter_errors(instance)
        )
        fast = Validator(schema)
        assert sorted(fast.errors(instance)) == expected
        assert sorted(fast.errors(instance)) == expected  # memoized answers are the same
        assert bool(expected) == (instance is not base)


def test_kubernetes_schema_extensions_are_translated():
    crd = {
        "spec": {
            "group": "ome.io", "scope": "Namespaced", "names": {"kind": "Thing"},
            "versions": [{"name": "v1beta1", "schema": {"openAPIV3Schema": {
                "type": "object",
                "properties": {"spec": {"type": "object", "properties": {
                    "size": {"x-kubernetes-int-or-string": True,
                             "anyOf": [{"type": "integer"}, {"type": "string"}]},
                    "bare": {"x-kubernetes-int-or-string": True},
                    "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                    "maybe": {"type": "string", "nullable": True},
                    "small": {"type": "integer", "format": "int32"},
                    "tags": {"type": "array", "items": {"type": "string"},
                             "x-kubernetes-list-type": "set"},
                    "ports": {"type": "array", "x-kubernetes-list-type": "map",
                              "x-kubernetes-list-map-keys": ["port"],
                              "items": {"type": "object",
                                        "properties": {"port": {"type": "integer"}}}},
                }}},
            }}}],
        }
    }
    kind, schema = crds.schema_for(crd)
    assert kind == "Thing"
    Draft7Validator.check_schema(schema)
    v = Validator(schema)

    def errs(spec_: dict) -> list:
        doc = {"apiVersion": "ome.io/v1beta1", "kind": "Thing",
               "metadata": {"name": "t", "namespace": "n"}, "spec": spec_}
        return v.errors(doc)

    assert errs({"size": 1, "bare": "2Gi", "free": {"any": {"thing": 1}}, "maybe": None,
                 "small": 5, "tags": ["a", "b"], "ports": [{"port": 1}, {"port": 2}]}) == []
    assert errs({"size": 1.5}) and errs({"bare": True}) and errs({"small": 2**31})
    assert errs({"tags": ["a", "a"]}) and errs({"ports": [{"port": 1}, {"port": 1}]})
    assert errs({"typo": 1}) and errs({"maybe": 3})


def test_schemas_are_cached_once_per_process_and_on_disk(tmp_path, monkeypatch):
    monkeypatch.setenv(crds.CACHE_DIR_ENV, str(tmp_path))
    path = CRD_DIR / "BenchmarkJob.crd.yaml"
    kind, first = crds.load_schema_file(path)
    cached = list(tmp_path.glob("BenchmarkJob.crd.yaml.*.json"))
    assert kind == "BenchmarkJob" and len(cached) == 1
    assert crds.load_schema_file(path) == (kind, first)
    assert crds.from_dir(CRD_DIR) is crds.from_dir(CRD_DIR)


def test_a_missing_crd_folder_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no OME CRDs"):
        crds.crd_source(tmp_path / "absent")
    with pytest.raises(UserError, match="no CRD for InferenceService"):
        crds.from_dir(tmp_path).validator("InferenceService")


def test_vendored_crds_match_their_recorded_source():
    """schemas/crds/ome ships with tuneops; SOURCE.json names the OME commit and each file's
    hash, so a hand edit (or a partial refresh) of a CRD is caught here."""
    import hashlib
    import json

    source = json.loads((CRD_DIR / "SOURCE.json").read_text())
    assert source["repository"].endswith("sgl-project/ome") and source["commit"]
    kinds = {"InferenceService", "BenchmarkJob", "ClusterServingRuntime", "ServingRuntime",
             "ClusterBaseModel", "BaseModel"}
    assert set(source["files"]) == {f"{k}.crd.yaml" for k in kinds}
    for name, entry in source["files"].items():
        assert hashlib.sha256((CRD_DIR / name).read_bytes()).hexdigest() == entry["sha256"], name
    assert crds.DEFAULT_CRD_DIR.is_relative_to(Path(crds.__file__).resolve().parents[2])


# -- GPUs, placement and in-cluster benchmarking -------------------------------------------


def _affinity_terms(isvc: dict) -> list[dict]:
    node = isvc["spec"]["engine"]["affinity"]["nodeAffinity"]
    terms = node["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    return [e for t in terms for e in t["matchExpressions"]]


def test_gpu_type_becomes_node_affinity_on_the_product_label_plus_tolerations():
    exp = experiment()
    isvc = ome.inference_service(exp, make_plan(exp).trials[0])
    assert _affinity_terms(isvc) == [{"key": "nvidia.com/gpu.product", "operator": "In",
                                      "values": list(ome.GPU_PRODUCTS["H100"])}]
    assert "tolerations" not in isvc["spec"]["engine"]
    doc = document()
    toleration = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    doc["deployment"]["ome"].update(gpuProductLabel="example.com/gpu", gpuProducts=["X-1"],
                                    tolerations=[toleration])
    exp = experiment(doc)
    isvc = ome.inference_service(exp, make_plan(exp).trials[0])
    assert _affinity_terms(isvc) == [{"key": "example.com/gpu", "operator": "In",
                                      "values": ["X-1"]}]
    assert isvc["spec"]["engine"]["tolerations"] == [toleration]
    assert not crds.crd_source(CRD_DIR).errors(isvc)  # the CRD takes both


def test_no_gpu_no_affinity():
    doc = document()
    doc["deployment"]["gpus"] = {"count": 0}
    doc["parameters"] = {"mem-fraction-static": [0.8]}
    doc["constraints"] = []
    exp = experiment(doc)
    assert "affinity" not in ome.inference_service(exp, make_plan(exp).trials[0])["spec"]["engine"]


def test_in_cluster_benchmarking_works_around_omes_benchmark_arguments():
    """OME gives genai-bench `--api-backend` from the runner's PROTOCOL_VERSION (else openai,
    which drops ignore_eos) and `--api-model-name vllm-model`."""
    exp = experiment()
    runner = ome.inference_service(exp, make_plan(exp).trials[0])["spec"]["engine"]["runner"]
    assert {"name": "PROTOCOL_VERSION", "value": "sglang"} in runner["env"]
    assert "vllm-model" not in runner["command"]  # SGLang ignores the request's model name
    doc = document()
    doc["engine"] = {"name": "vllm", "image": "vllm/vllm-openai:v0.11.0", "version": "0.33.0"}
    doc["parameters"] = {"gpu-memory-utilization": [0.85, 0.9]}
    doc["constraints"] = []
    exp = experiment(doc)
    runner = ome.inference_service(exp, make_plan(exp).trials[0])["spec"]["engine"]["runner"]
    served = runner["command"].index("--served-model-name")
    assert runner["command"][served + 1:served + 3] == [exp.model.served_name, "vllm-model"]
    assert {"name": "PROTOCOL_VERSION", "value": "vllm"} in runner["env"]
    doc["deployment"]["ome"]["benchmarkIn"] = "runner"  # measured here: nothing added
    exp = experiment(doc)
    runner = ome.inference_service(exp, make_plan(exp).trials[0])["spec"]["engine"]["runner"]
    assert "vllm-model" not in runner["command"] and "env" not in runner


def test_launch_counts_the_gpus_kubernetes_schedules():
    from tuneops.deployments.ome.mode import scheduled_gpus
    from tuneops.runner.run import trial_launch

    exp = experiment()
    trial = make_plan(exp).trials[0]
    launch = trial_launch(exp, trial, owner="x/1", gpus=("ome-slot0", "ome-slot1"),
                          log_dir=Path("/tmp"))
    assert launch.gpus == () and launch.gpu_count == 2  # the example's 2 GPUs per trial
    assert set(launch.spec) == {"InferenceService", "BenchmarkJob", "ClusterServingRuntime"}
    service = {"spec": {"engine": {"minReplicas": 2,
                                   "leader": {"runner": {"resources": {"limits": {
                                       "nvidia.com/gpu": 8}}}},
                                   "worker": {"size": 3, "runner": {"resources": {"requests": {
                                       "nvidia.com/gpu": 8}}}}}}}
    assert scheduled_gpus(service) == 2 * (8 + 3 * 8)


def test_in_cluster_benchmarking_refuses_what_it_cannot_measure():
    from tuneops.validate import validate_document

    doc = document()
    doc["benchmark"]["task"] = "image-text-to-text"
    doc["benchmark"]["trafficScenarios"] = ["I(512,512)"]
    doc["benchmark"]["dataset"] = "images.json"
    doc["benchmark"]["additionalRequestParams"] = {"temperature": 0.5}
    exp, problems = validate_document(doc)
    assert exp is None
    assert [(p.path, p.message.split(":")[0]) for p in problems] == [
        ("benchmark.additionalRequestParams",
         "OME's BenchmarkJob does not pass benchmark.additionalRequestParams on to genai-bench"),
        ("benchmark.dataset",
         "OME's BenchmarkJob does not pass benchmark.dataset on to genai-bench"),
        ("benchmark.task", "OME's BenchmarkJob cannot run task 'image-text-to-text'")]
    doc["deployment"]["ome"]["benchmarkIn"] = "runner"
    exp, problems = validate_document(doc)
    assert problems == [] and exp is not None
