"""A trial as OME objects: an InferenceService to serve it and a BenchmarkJob to measure it.

How tuned flags reach the engine: OME strategic-merge-patches `spec.engine.runner` over
the runtime's `engineConfig.runner`; env merges by name, but a `command` given here
replaces the runtime's. The bundled SGLang runtimes put every flag in `command`, so
appending our flags as `args` would be silently lost or duplicated. We therefore give a
full `command` — entry point, `--model-path $(MODEL_PATH)`, served name, host, port
8080, then every flag of the trial — and never `args`. Values are `$`-escaped so
Kubernetes cannot expand anything in them; only our own `$(MODEL_PATH)` is a reference.

Known OME/genai-bench mismatches handled here (OME commit 17b77eda,
pkg/controller/v1beta1/benchmark): the BenchmarkJob task enum says `image-to-text` where
genai-bench says `image-text-to-text`; `serviceMetadata` is only written when its gpuType
is valid for both the CRD and genai-bench (and its engine is one the CRD knows);
`additionalRequestParams` is not written because OME does not pass it on. For an
`inferenceService` endpoint OME runs genai-bench with `--api-model-name vllm-model` and
`--api-backend` from the runner's `PROTOCOL_VERSION` env (else `openai`, whose genai-bench
backend drops `ignore_eos`). The other endpoint form (`endpoint.url`) is no way out: OME
then passes no `--model-tokenizer`, which genai-bench requires. So when trials are
measured in the cluster the runner env gets `PROTOCOL_VERSION=<engine's ome.protocol>`
(schemas/engines.yaml), and an engine whose served-name flag takes several names (vLLM) also
answers to `vllm-model`; SGLang does not check the request's model name.

GPUs: `gpus.type` becomes a required node affinity on the GPU product label (GPU feature
discovery's `nvidia.com/gpu.product` unless `gpuProductLabel` says otherwise), with the
values `gpuProducts` lists or the usual product names of that type.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from tuneops.deployments.ome.matcher import format_param_count
from tuneops.deployments.ome.options import ome_options
from tuneops.renderers.command import engine_command
from tuneops.renderers.quoting import k8s_word

from tuneops.errors import Diagnostic, UserError
from tuneops.registry import catalog, engines
from tuneops.spec import Experiment, canonical_json

if TYPE_CHECKING:
    from tuneops.plan import Trial

API_VERSION = "ome.io/v1beta1"
PORT = 8080  # OME runtimes serve on 8080 (containerPort http1)
MODEL_REF = "$(MODEL_PATH)"  # injected by OME: where the base model's weights are mounted
RUNNER_NAME = "ome-container"
GPU_RESOURCE = "nvidia.com/gpu"
MAX_NAME = 63
EXPERIMENT_LABEL = "tuneops.io/experiment"
TRIAL_LABEL = "tuneops.io/trial"
PARAMS_ANNOTATION = "tuneops.io/params"

TASKS = {  # genai-bench task -> BenchmarkJob CRD task
    "text-to-text": "text-to-text",
    "image-text-to-text": "image-to-text",
    "text-to-embeddings": "text-to-embeddings",
    "image-to-embeddings": "image-to-embeddings",
}
# serviceMetadata.gpuType: the CRD allows H100, A100, MI300, A10; genai-bench rejects A100.
GPU_TYPES = frozenset({"H100", "MI300", "A10"})
SERVICE_ENGINES = frozenset({"SGLang", "vLLM", "TGI"})
OME_MODEL_NAME = "vllm-model"  # the --api-model-name OME gives genai-bench for a service
PROTOCOL_ENV = "PROTOCOL_VERSION"  # runner env OME reads for genai-bench's --api-backend
# What NVIDIA GPU feature discovery writes in nvidia.com/gpu.product for each gpus.type
# (the product name with spaces as '-'); a type not listed matches itself.
GPU_PRODUCTS = {
    "H100": ("NVIDIA-H100-80GB-HBM3", "NVIDIA-H100-PCIe", "NVIDIA-H100-NVL"),
    "H200": ("NVIDIA-H200", "NVIDIA-H200-NVL"),
    "H20": ("NVIDIA-H20",),
    "B200": ("NVIDIA-B200",),
    "A100-80G": ("NVIDIA-A100-SXM4-80GB", "NVIDIA-A100-80GB-PCIe"),
    "A100-40G": ("NVIDIA-A100-SXM4-40GB", "NVIDIA-A100-PCIE-40GB"),
    "L40S": ("NVIDIA-L40S",),
    "A10": ("NVIDIA-A10",),
}


def _fail(exp: Experiment, path: str, message: str, hint: str = "") -> UserError:
    return UserError([Diagnostic(exp.source_file, 0, 0, path, message, hint)])


def _name(prefix: str, suffix: str) -> str:
    """`prefix-suffix` cut to a DNS label; the suffix (a content hash) keeps it unique."""
    room = MAX_NAME - len(suffix) - 1
    return f"{prefix[:room].rstrip('-')}-{suffix}" if suffix else prefix[:MAX_NAME].rstrip("-")


def trial_name_for(experiment: str, trial_id: str) -> str:
    """The InferenceService (and BenchmarkJob) name of a trial."""
    return _name(experiment, trial_id)


def trial_name(exp: Experiment, trial: Trial) -> str:
    return trial_name_for(exp.name, trial.id)


def runtime_name(exp: Experiment) -> str | None:
    ome = ome_options(exp)
    if ome.generate_runtime:
        return _name(f"tuneops-{exp.name}", "")
    return ome.runtime


def base_model_name(exp: Experiment) -> str:
    if ome_options(exp).base_model:
        return ome_options(exp).base_model
    slug = re.sub(r"[^a-z0-9]+", "-", exp.model.id.lower()).strip("-")
    return slug[:MAX_NAME].rstrip("-") or "model"


def _labels(exp: Experiment, trial: Trial | None) -> dict[str, str]:
    labels = {k: str(v) for k, v in exp.labels.items()}
    labels[EXPERIMENT_LABEL] = exp.name
    if trial is not None:
        labels[TRIAL_LABEL] = trial.id
    return {k: labels[k] for k in sorted(labels)}


def _metadata(name: str, labels: dict, namespace: str | None = None, **extra: Any) -> dict:
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    meta["labels"] = labels
    meta.update(extra)
    return meta


def container_command(exp: Experiment, args: dict[str, Any]) -> list[str]:
    """The full engine command for an OME container, `$`-escaped except `$(MODEL_PATH)`."""
    engine = engines()[exp.engine.name]
    words = engine_command(exp, args, host="0.0.0.0", port=PORT, local=False, model=MODEL_REF)
    model_at = len(engine.command) + (1 if engine.model_flag else 0)
    return [w if i == model_at else k8s_word(w) for i, w in enumerate(words)]


def _env(exp: Experiment) -> list[dict[str, Any]]:
    """The runner's env: literal values `$`-escaped (Kubernetes expands `$(VAR)` in env
    values as in commands), secrets as `valueFrom.secretKeyRef`, never their values."""
    eng = exp.engine
    out: list[dict[str, Any]] = []
    for name in sorted({*eng.env, *eng.secret_env}):
        if name in eng.env:
            out.append({"name": name, "value": k8s_word(eng.env[name])})
            continue
        ref = eng.secret_env[name]
        if ref.secret_name is not None:  # fromEnv is refused for ome by validation
            out.append({
                "name": name,
                "valueFrom": {"secretKeyRef": {"name": ref.secret_name, "key": ref.secret_key}},
            })
    return out


def _gpu_resources(exp: Experiment) -> dict[str, Any]:
    n = exp.gpus_per_trial
    if n <= 0 or engines()[exp.engine.name].simulated:
        return {}
    return {"limits": {GPU_RESOURCE: n}, "requests": {GPU_RESOURCE: n}}


def benchmarked_in_cluster(exp: Experiment) -> bool:
    return ome_options(exp).benchmark_in == "cluster"


def gpu_products(exp: Experiment) -> tuple[str, ...]:
    """Values of the GPU product label a trial may be placed on (empty: anywhere)."""
    ome, gpu_type = ome_options(exp), exp.deployment.gpus.type
    if ome.gpu_products:
        return tuple(ome.gpu_products)
    if not gpu_type:
        return ()
    return GPU_PRODUCTS.get(gpu_type, (gpu_type,))


def _placement(exp: Experiment) -> dict[str, Any]:
    """Node affinity on the GPU product label (GPU trials only) and the tolerations."""
    ome, out = ome_options(exp), {}
    products = gpu_products(exp) if _gpu_resources(exp) else ()
    if products:
        term = {"key": ome.gpu_product_label, "operator": "In", "values": list(products)}
        out["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [term]}]}}}
    if ome.tolerations:
        out["tolerations"] = [dict(t) for t in ome.tolerations]
    return out


def _served_alias(exp: Experiment, command: list[str]) -> list[str]:
    """``command`` with OME's model name added to the served names, where the engine's
    served-name flag takes several (vLLM's nargs='+')."""
    flag = engines()[exp.engine.name].served_name_flag
    known = catalog(exp.engine.name).flags.get(flag.lstrip("-")) if flag else None
    if known is None or known.nargs != "+" or flag not in command:
        return command
    at = command.index(flag) + 2
    return [*command[:at], OME_MODEL_NAME, *command[at:]]


def _runner_env(exp: Experiment) -> list[dict[str, str]]:
    env = _env(exp)
    if benchmarked_in_cluster(exp) and PROTOCOL_ENV not in exp.engine.env:
        env.append({"name": PROTOCOL_ENV, "value": engines()[exp.engine.name].ome_protocol})
    return env


def inference_service(exp: Experiment, trial: Trial) -> dict[str, Any]:
    ome = ome_options(exp)
    runner: dict[str, Any] = {"name": RUNNER_NAME}
    if exp.engine.image:
        runner["image"] = exp.engine.image
    command = container_command(exp, trial.args)
    runner["command"] = _served_alias(exp, command) if benchmarked_in_cluster(exp) else command
    env = _runner_env(exp)
    if env:
        runner["env"] = env
    resources = _gpu_resources(exp)
    if resources:
        runner["resources"] = resources
    engine: dict[str, Any] = {"minReplicas": 1, "maxReplicas": 1}
    if ome.service_account:
        engine["serviceAccountName"] = ome.service_account
    engine.update(_placement(exp))
    engine["runner"] = runner
    spec: dict[str, Any] = {"model": {"name": base_model_name(exp)}}
    runtime = runtime_name(exp)
    if runtime:
        spec["runtime"] = {"name": runtime}
    spec["engine"] = engine
    params = canonical_json({k: trial.params[k] for k in sorted(trial.params)})
    return {
        "apiVersion": API_VERSION,
        "kind": "InferenceService",
        "metadata": _metadata(
            trial_name(exp, trial), _labels(exp, trial), ome.namespace,
            annotations={PARAMS_ANNOTATION: params},
        ),
        "spec": spec,
    }


def _service_metadata(exp: Experiment) -> dict[str, Any] | None:
    engine = engines()[exp.engine.name]
    gpu_type = exp.deployment.gpus.type
    if (
        engine.server_engine not in SERVICE_ENGINES
        or gpu_type not in GPU_TYPES
        or not exp.engine.version
    ):
        return None
    return {
        "engine": engine.server_engine,
        "gpuCount": exp.gpus_per_trial,
        "gpuType": gpu_type,
        "version": exp.engine.version,
    }


def storage_uri(exp: Experiment, trial: Trial) -> str:
    base = ome_options(exp).storage_uri
    if not base:
        raise _fail(
            exp, "deployment.ome.benchmarkStorageUri", "OME benchmarks need a result location",
            "e.g. pvc://<claim>/<folder>, s3://…, oci://…",
        )
    return f"{base.rstrip('/')}/{exp.name}/{trial.id}"


def benchmark_job(exp: Experiment, trial: Trial) -> dict[str, Any]:
    ome = ome_options(exp)
    bench = exp.benchmark
    task = TASKS.get(bench.task)
    if task is None:
        raise _fail(
            exp, "benchmark.task", f"OME BenchmarkJobs cannot run task {bench.task!r}",
            f"OME supports {', '.join(sorted(TASKS))}",
        )
    name = trial_name(exp, trial)
    spec: dict[str, Any] = {
        "endpoint": {"inferenceService": {"name": name, "namespace": ome.namespace}},
        "task": task,
        "trafficScenarios": list(bench.traffic_scenarios),
        "numConcurrency": list(bench.concurrency),
        "maxTimePerIteration": int(bench.max_time_per_run_min),
        "maxRequestsPerIteration": int(bench.max_requests_per_run),
        "outputLocation": {"storageUri": storage_uri(exp, trial)},
        "resultFolderName": trial.id,
    }
    meta = _service_metadata(exp)
    if meta:
        spec["serviceMetadata"] = meta
    override = pod_override(exp)
    if override:
        spec["podOverride"] = override
    return {
        "apiVersion": API_VERSION,
        "kind": "BenchmarkJob",
        "metadata": _metadata(name, _labels(exp, trial), ome.namespace),
        "spec": spec,
    }


# pkg/controller/v1beta1/benchmark/controller.go:195-201 (defaultGPUToleration), on every
# benchmark pod before the override is merged (:403-409)
OME_BENCH_TOLERATION = {"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}


def pod_override(exp: Experiment) -> dict[str, Any]:
    """The BenchmarkJob's ``podOverride`` from ``benchmarkImage`` and ``benchmarkPod``.

    OME strategic-merge-patches it over the pod it builds (controller.go:412-497): maps
    (nodeSelector, resources) merge key by key, env merges by name, but tolerations carry
    no merge key and replace OME's own GPU toleration, so it is kept in front of the
    user's. Secret values are never written: env takes ``secretKeyRef`` and ``envFrom``
    a ``secretRef``, which the kubelet resolves in the cluster."""
    ome = ome_options(exp)
    given = ome.benchmark_pod or {}
    out: dict[str, Any] = {}
    if ome.benchmark_image:
        out["image"] = ome.benchmark_image
    if given.get("resources"):
        out["resources"] = {kind: {k: str(v) for k, v in sorted(values.items())}
                            for kind, values in sorted(given["resources"].items())}
    env = []
    for var in given.get("env") or []:
        if "secretKeyRef" in var:
            env.append({"name": var["name"],
                        "valueFrom": {"secretKeyRef": dict(var["secretKeyRef"])}})
        else:
            env.append({"name": var["name"], "value": k8s_word(var["value"])})
    if env:
        out["env"] = env
    if given.get("envFrom"):
        out["envFrom"] = [dict(source) for source in given["envFrom"]]
    if given.get("tolerations"):
        out["tolerations"] = [dict(OME_BENCH_TOLERATION),
                              *(dict(t) for t in given["tolerations"]
                                if dict(t) != OME_BENCH_TOLERATION)]
    if given.get("nodeSelector"):
        out["nodeSelector"] = dict(sorted(given["nodeSelector"].items()))
    return out


def serving_runtime(exp: Experiment) -> dict[str, Any]:
    """The experiment's own ClusterServingRuntime: the engine with the fixed flags only
    (every InferenceService replaces its command with the trial's)."""
    engine = engines()[exp.engine.name]
    runner: dict[str, Any] = {"name": RUNNER_NAME}
    if exp.engine.image:
        runner["image"] = exp.engine.image
    runner["ports"] = [{"containerPort": PORT, "name": "http1", "protocol": "TCP"}]
    runner["command"] = container_command(exp, dict(exp.engine.args))
    if exp.engine.env or exp.engine.secret_env:
        runner["env"] = _env(exp)
    runner["volumeMounts"] = [{"mountPath": "/dev/shm", "name": "dshm"}]
    resources = _gpu_resources(exp)
    if resources:
        runner["resources"] = resources
    probe = {"httpGet": {"path": engine.health_path, "port": PORT}, "periodSeconds": 10}
    runner["readinessProbe"] = {**probe, "failureThreshold": 3}
    runner["startupProbe"] = {
        **probe,
        "failureThreshold": max(1, -(-int(exp.deployment.startup_timeout_s) // 10)),
    }
    return {
        "apiVersion": API_VERSION,
        "kind": "ClusterServingRuntime",
        "metadata": _metadata(runtime_name(exp), _labels(exp, None)),
        "spec": {
            "disabled": False,
            **runtime_matching(exp),
            "protocolVersions": ["openAI"],
            "engineConfig": {
                "volumes": [{"name": "dshm", "emptyDir": {"medium": "Memory"}}],
                "runner": runner,
            },
        },
    }


SAFETENSORS_VERSION = "1.0.0"  # pkg/modelagent/config_parser.go:305-309 writes this for HF models
SIZE_SLACK = 0.05  # the experiment's parameter count is rounded; the agent counts the weights


def agent_filled_model(exp: Experiment) -> dict[str, Any]:
    """The ClusterBaseModel spec fields OME's model agent writes after download, for a
    Hugging Face (non-diffusion) model (pkg/modelagent/config_parser.go:285-337, merged
    into the spec by updateModelSpec :381-446, which keeps fields already set)."""
    meta = ome_options(exp).model_metadata or {}
    given = _base_model_options(exp) or {}
    framework: dict[str, Any] = {"name": given.get("modelFramework", "transformers")}
    if meta.get("transformersVersion"):  # config_parser.go:316-323
        framework["version"] = meta["transformersVersion"]
    spec: dict[str, Any] = {
        "modelFormat": {"name": given.get("modelFormat", "safetensors"),
                        "version": SAFETENSORS_VERSION},
        "modelFramework": framework,
    }
    arch = given.get("modelArchitecture") or meta.get("architecture")
    if arch:  # config_parser.go:287: config.json's architectures[0]
        spec["modelArchitecture"] = arch
    if meta.get("quantization"):  # config_parser.go:326-337: int4 / fp8 only
        spec["quantization"] = meta["quantization"]
    size = given.get("modelParameterSize")
    if size is None and exp.model.architecture is not None:
        size = format_param_count(int(exp.model.architecture.parameters))  # :288
    if size is not None:
        spec["modelParameterSize"] = size
    return spec


def supported_format(exp: Experiment) -> dict[str, Any]:
    """The generated runtime's one `supportedModelFormats` entry: exactly what the agent
    will write (OME's matcher refuses a field one side has and the other lacks,
    pkg/runtimeselector/matcher.go:308-355); versions compare Equal (no operator,
    matcher.go:646-651)."""
    model = agent_filled_model(exp)
    entry: dict[str, Any] = {"modelFormat": dict(model["modelFormat"]),
                             "modelFramework": dict(model["modelFramework"])}
    for key in ("modelArchitecture", "quantization"):
        if key in model:
            entry[key] = model[key]
    entry.update({"autoSelect": False, "priority": 1})
    return entry


def runtime_matching(exp: Experiment) -> dict[str, Any]:
    """The fields of the generated runtime's spec that OME's matcher reads."""
    return {"supportedModelFormats": [supported_format(exp)], **size_range(exp)}


def size_range(exp: Experiment) -> dict[str, Any]:
    """`modelSizeRange` around the experiment's parameter count (matcher.go:621-641)."""
    arch = exp.model.architecture
    if arch is None:
        return {}
    low = format_param_count(int(arch.parameters * (1 - SIZE_SLACK)))
    high = format_param_count(int(arch.parameters * (1 + SIZE_SLACK)))
    return {"modelSizeRange": {"max": high, "min": low}}


_STORAGE_KEYS = ("storageUri", "path", "key")
# Written as names in the experiment (the docs say text), objects {name, ...} in the CRD.
_NAMED_KEYS = ("modelFormat", "modelFramework")


def _base_model_options(exp: Experiment) -> dict[str, Any] | None:
    given = ome_options(exp).generate_base_model
    if given is None or given is False:
        return None
    return {} if given is True else dict(given)


def base_model(exp: Experiment) -> dict[str, Any]:
    """A ClusterBaseModel from `deployment.ome.generateBaseModel`: `storageUri` (default
    hf://<model.id>), `path`, `key` go to spec.storage; other keys are ClusterBaseModel
    spec fields, written as given (and checked against the CRD)."""
    given = _base_model_options(exp) or {}
    uri = given.get("storageUri")
    if not uri:
        if exp.model.id.startswith(("/", ".", "~")):
            raise _fail(
                exp, "deployment.ome.generateBaseModel.storageUri",
                "the model id is a path, so the base model needs a storageUri",
                "e.g. hf://org/name, pvc://claim/path, oci://…",
            )
        uri = f"hf://{exp.model.id}"
    storage = {"storageUri": uri}
    storage.update({k: given[k] for k in _STORAGE_KEYS[1:] if k in given})
    spec = {k: given[k] for k in sorted(given) if k not in _STORAGE_KEYS}
    for key in _NAMED_KEYS:
        if isinstance(spec.get(key), str):
            spec[key] = {"name": spec[key]}
    spec.setdefault("disabled", False)
    spec["storage"] = storage
    return {
        "apiVersion": API_VERSION,
        "kind": "ClusterBaseModel",
        "metadata": _metadata(base_model_name(exp), _labels(exp, None)),
        "spec": spec,
    }


def shared_manifests(exp: Experiment) -> dict[str, dict[str, Any]]:
    """Objects rendered once per experiment, by file name."""
    out: dict[str, dict[str, Any]] = {}
    if ome_options(exp).generate_runtime:
        out["clusterservingruntime.yaml"] = serving_runtime(exp)
    if _base_model_options(exp) is not None:
        out["clusterbasemodel.yaml"] = base_model(exp)
    return out


def trial_manifests(exp: Experiment, trial: Trial) -> dict[str, dict[str, Any]]:
    """The objects of one trial, by file name (what the OME backend applies). A trial of a
    GPU-type comparison is rendered as its own type: its node affinity (`gpu_products`)
    and its BenchmarkJob's gpuType are the trial's."""
    exp = exp.for_trial(trial.params)
    return {
        "inferenceservice.yaml": inference_service(exp, trial),
        "benchmarkjob.yaml": benchmark_job(exp, trial),
    }
