"""Mode ``ome``: each trial is an OME InferenceService on Kubernetes (with the
BenchmarkJob that measures it in the cluster).

The trial renders ``inferenceservice.yaml`` and ``benchmarkjob.yaml``; objects shared by
every trial (a generated ClusterServingRuntime / ClusterBaseModel) render once into
``_shared/``. Every object is validated against OME's CRDs (vendored in schemas/crds/ome,
or read from a cluster). The cluster, not this machine, assigns GPUs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from tuneops.deployments.base import (
    DeploymentMode,
    LaunchPlan,
    Objects,
    PathResolver,
    needs_image,
)
from tuneops.deployments.ome import crds, monitoring, webhooks
from tuneops.deployments.ome import render as ome
from tuneops.deployments.ome.matcher import runtime_mismatches
from tuneops.deployments.ome.options import OPTIONS_SCHEMA, ome_options
from tuneops.renderers.templating import render

from tuneops import secrets
from tuneops.spec import Experiment

if TYPE_CHECKING:
    from tuneops.checks_base import Context
    from tuneops.plan import Trial

TEMPLATES = Path(__file__).parent / "templates"
MANIFEST_TEMPLATES = {  # manifest file name -> its template in TEMPLATES
    "inferenceservice.yaml": "inferenceservice.yaml.j2",
    "benchmarkjob.yaml": "benchmarkjob.yaml.j2",
    "clusterservingruntime.yaml": "clusterservingruntime.yaml.j2",
    "clusterbasemodel.yaml": "clusterbasemodel.yaml.j2",
    "podmonitor.yaml": "podmonitor.yaml.j2",
}
TOP_LEVEL = ("apiVersion", "kind", "metadata", "spec")
SHARED_PREFIX = "_shared/"
READ_SCHEMES = ("pvc", "s3")  # where tuneops reads a BenchmarkJob's results back from
CLUSTER_TASKS = ("text-to-text", "text-to-embeddings")  # same name in the CRD and genai-bench
# variables whose literal value would be a credential written into the manifests
CREDENTIAL_NAME = re.compile(r"SECRET|TOKEN|PASSWORD|PASSWD|API_?KEY|ACCESS_?KEY", re.I)


def _pod_gpus(pod: Mapping[str, Any] | None) -> int:
    """GPUs one pod of the service asks for: its runner's limit (else its request)."""
    resources = ((pod or {}).get("runner") or {}).get("resources") or {}
    for kind in ("limits", "requests"):
        value = (resources.get(kind) or {}).get(ome.GPU_RESOURCE)
        if value is not None:
            return int(value)
    return 0


def scheduled_gpus(service: Mapping[str, Any]) -> int:
    """GPUs Kubernetes gives one trial, from its rendered InferenceService: the engine's
    pods (replicas) times each pod's GPUs, plus a multi-node leader's and workers'."""
    spec = service.get("spec") or {}
    engine = spec.get("engine") or {}
    replicas = max(int(engine.get("minReplicas") or 1), 1)
    per_replica = _pod_gpus(engine)
    leader, worker = engine.get("leader"), engine.get("worker")
    if leader or worker:
        per_replica = _pod_gpus(leader) + int((worker or {}).get("size") or 0) * _pod_gpus(worker)
    return replicas * per_replica


def _check_runtime_match(ctx: Context) -> None:
    """Refuse a generated runtime OME's matcher would refuse for the base model as OME's
    model agent fills it (OME itself would only emit a RuntimeValidationError Event,
    pkg/controller/v1beta1/inferenceservice/controller.go:236, and the trial waits out its
    startup timeout). A named runtime lives in the cluster: not checked here."""
    exp, options = ctx.exp, ome_options(ctx.exp)
    if not options.generate_runtime:
        return
    where = ("deployment", "ome")
    if not (options.model_metadata or {}).get("architecture") and not (
            options.generate_base_model or {}).get("modelArchitecture"):
        ctx.error(
            where,
            "a generated runtime must declare the model's architecture: OME's model agent "
            "writes config.json's architectures[0] into the base model "
            "(pkg/modelagent/config_parser.go:287), and OME's matcher refuses a runtime that "
            "leaves it out (pkg/runtimeselector/matcher.go:312-314)",
            "add deployment.ome.modelMetadata: {architecture: LlamaForCausalLM, "
            "transformersVersion: <config.json's transformers_version>}",
        )
        return
    runtime = ome.runtime_matching(exp)
    for reason in runtime_mismatches(runtime, ome.agent_filled_model(exp)):
        ctx.error(
            (*where, "modelMetadata") if options.model_metadata else where,
            f"OME would not serve base model {ome.base_model_name(exp)!r} with the generated "
            f"runtime: {reason} (pkg/runtimeselector/matcher.go:302-358, 621-641)",
            "make deployment.ome.modelMetadata and generateBaseModel say what the model's "
            "config.json says",
        )


class OmeMode(DeploymentMode):
    name: ClassVar[str] = "ome"
    description: ClassVar[str] = "an InferenceService per trial on Kubernetes (OME)"
    options_schema: ClassVar[dict[str, Any]] = OPTIONS_SCHEMA
    schedules_gpus: ClassVar[bool] = True

    def check(self, ctx: Context) -> None:
        needs_image(ctx, self.name)
        exp = ctx.exp
        dep, options = exp.deployment, ome_options(exp)
        if ctx.get("deployment", "ome") is None:
            ctx.error(
                ("deployment",),
                "deployment mode ome needs a deployment.ome section",
                "with baseModel, runtime or generateRuntime, and benchmarkStorageUri",
            )
            return
        if exp.benchmark.load is not None:
            # A BenchmarkJob runs genai-bench at fixed concurrency levels: its spec has
            # numConcurrency and no request rate (schemas/crds/ome/BenchmarkJob.crd.yaml:212,
            # OME pkg/apis/ome/v1beta1/benchmark_job.go, NumConcurrency).
            ctx.error(("benchmark", "load", "type"),
                      "deployment mode ome measures with a BenchmarkJob, which runs genai-bench "
                      "at concurrency levels only (its spec has numConcurrency, no request "
                      "rate): benchmark.load type rate cannot be measured there",
                      "use benchmark.concurrency with mode ome, or mode docker/local for rates")
        where = ("deployment", "ome")
        if not options.base_model:
            ctx.error(where, "mode ome needs ome.baseModel", "the ClusterBaseModel to serve")
        if not options.runtime and not options.generate_runtime:
            ctx.error(
                where,
                "mode ome needs ome.runtime or ome.generateRuntime: true",
                "name a ClusterServingRuntime, or let tuneops generate one",
            )
        if options.runtime and options.generate_runtime:
            ctx.error(
                (*where, "generateRuntime"),
                "ome.runtime and ome.generateRuntime exclude each other",
                "keep one",
            )
        if not options.storage_uri:
            ctx.error(
                where,
                "mode ome needs ome.benchmarkStorageUri",
                "where BenchmarkJobs write results, e.g. pvc://bench-results/tuneops",
            )
        if dep.gpus.devices:
            ctx.error(
                ("deployment", "gpus", "devices"),
                "mode ome cannot pin GPU devices: Kubernetes assigns them",
                "use count",
            )
        if options.gpu_budget is not None and options.gpu_budget < exp.gpus_per_trial:
            ctx.error(
                (*where, "gpuBudget"),
                f"gpuBudget {options.gpu_budget} is less than one trial's "
                f"{exp.gpus_per_trial} GPUs",
                "raise gpuBudget or lower deployment.gpus.count",
            )
        _check_runtime_match(ctx)
        webhooks.check_names(ctx)
        if options.benchmark_in != "cluster":
            return
        webhooks.check_benchmark_job(ctx)
        scheme = (options.storage_uri or "").split("://", 1)[0]
        if options.storage_uri and scheme not in READ_SCHEMES:
            ctx.error(
                (*where, "benchmarkStorageUri"),
                f"tuneops cannot read BenchmarkJob results back from {scheme}://",
                f"use {' or '.join(s + '://' for s in READ_SCHEMES)}, or benchmarkIn: runner",
            )
        for i, var in enumerate((options.benchmark_pod or {}).get("env") or []):
            if "value" in var and (secrets.looks_like_token(var["value"])
                                   or CREDENTIAL_NAME.search(var["name"])):
                ctx.error(
                    ("deployment", "ome", "benchmarkPod", "env", i, "value"),
                    f"{var['name']} looks like a credential: tuneops writes env values into "
                    "the rendered manifests (and the repository)",
                    "put it in a Secret and reference it: {name: ..., secretKeyRef: "
                    "{name: <secret>, key: <key>}}, or envFrom: [{secretRef: {name: ...}}]",
                )
        # OME 17b77eda builds genai-bench's arguments without these: they would be lost.
        for field_name, given in (("additionalRequestParams",
                                   exp.benchmark.additional_request_params),
                                  ("dataset", exp.benchmark.dataset),
                                  ("sharedPrefix", exp.benchmark.prefix_tokens is not None
                                   or exp.benchmark.prefix_ratio is not None)):
            if given:
                ctx.error(
                    ("benchmark", field_name),
                    f"OME's BenchmarkJob does not pass benchmark.{field_name} on to genai-bench",
                    "drop it, or measure from the runner: deployment.ome.benchmarkIn: runner",
                )
        if exp.benchmark.task not in CLUSTER_TASKS:
            ctx.error(
                ("benchmark", "task"),
                f"OME's BenchmarkJob cannot run task {exp.benchmark.task!r}: OME hands the "
                "CRD's task name to genai-bench, which spells it differently",
                f"in the cluster: {', '.join(CLUSTER_TASKS)}; or deployment.ome.benchmarkIn: "
                "runner",
            )

    def shared_objects(self, exp: Experiment) -> Objects:
        return ome.shared_manifests(exp)

    def trial_objects(self, exp: Experiment, trial: Trial) -> Objects:
        objects = ome.trial_manifests(exp, trial)
        if monitoring.enabled(exp):
            objects["podmonitor.yaml"] = monitoring.pod_monitor(exp, trial)
        return objects

    def manifest_text(self, filename: str, obj: Mapping[str, Any]) -> str:
        if tuple(obj) != TOP_LEVEL:
            raise ValueError(f"{filename}: a manifest has exactly {TOP_LEVEL}, got {tuple(obj)}")
        return render(TEMPLATES, MANIFEST_TEMPLATES[filename], m=obj)

    def schema_problems(
        self, exp: Experiment, objects: Mapping[str, Objects], crd_dir: Path | str | None
    ) -> tuple[list[str], int, str]:
        schemas = crds.crd_source(crd_dir)
        problems, checked = [], 0
        for folder, files in objects.items():
            for name, manifest in files.items():
                checked += 1
                against = crds.monitoring_schemas() if manifest.get("kind") in \
                    crds.MONITORING_KINDS else schemas
                problems += [f"{exp.name}/{folder}/{name}: {message}"
                             for message in against.errors(manifest)]
        return problems, checked, schemas.source

    def launch(
        self, exp: Experiment, trial: Trial, objects: Objects, resolve: PathResolver
    ) -> LaunchPlan:
        # the objects to apply, by kind: the trial's service, the shared ones once per run
        trial_files = ["inferenceservice.yaml", "podmonitor.yaml"]
        if ome.benchmarked_in_cluster(exp):
            trial_files.append("benchmarkjob.yaml")
        kinds = {m["kind"]: m for name, m in objects.items()
                 if name in trial_files or name.startswith(SHARED_PREFIX)}
        runner = kinds["InferenceService"]["spec"]["engine"]["runner"]
        return LaunchPlan(command=list(runner["command"]), env=dict(exp.engine.env),
                          container_port=ome.PORT, spec=kinds,
                          gpu_count=scheduled_gpus(kinds["InferenceService"]))

    def gpu_budget(self, exp: Experiment) -> int | None:
        return ome_options(exp).gpu_budget

    def backend_options(self, exp: Experiment) -> dict[str, Any]:
        options = ome_options(exp)
        return {"namespaces": (options.namespace,), "benchmark_in": options.benchmark_in,
                "gpu_product_label": options.gpu_product_label,
                "reader_image": options.reader_image}

    def reap_options(self, namespaces: tuple[str, ...]) -> dict[str, Any]:
        return {"namespaces": namespaces} if namespaces else {}
