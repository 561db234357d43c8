"""A small OME stand-in for tests: a controller loop against kmock's KubernetesEmulator.

It plays what OME's controllers and the kubelet do, with OME's own labels and status
shapes, read from OME's source at commit 17b77eda (the commit schemas/crds/ome vendors):
- an InferenceService becomes a real engine process started from its
  ``spec.engine.runner`` (Kubernetes' ``$(VAR)``/``$$`` expansion, ``MODEL_PATH`` = the
  base model's ``storage.path``), with an engine pod labelled ``ome.io/inferenceservice``
  and ``component: engine`` on a node carrying a GPU product label; once it answers
  ``/health`` the service gets ``status.url``/``status.address.url`` and a True ``Ready``
  condition (pkg/apis/ome/v1beta1/inference_service_status.go); an engine that exits
  leaves its pod in CrashLoopBackOff with the exit code, as the kubelet would;
- a BenchmarkJob becomes a ``batch/v1`` Job and a real genai-bench run with the arguments
  OME's controller builds (pkg/controller/v1beta1/benchmark/controller.go
  ``buildBenchmarkCommand`` and utils/utils.go ``BuildInferenceServiceArgs`` /
  ``BuildStorageArgs``), its pods labelled ``benchmark=<name>``, its ``status.state`` going
  Pending → Running → Completed | Failed; ``pvc://<claim>/<sub>`` is a local folder
  ``<pvc_root>/<claim>`` mounted at ``/<sub>`` (the path is rewritten); ``s3://`` uploads
  go wherever boto3's environment points (a moto server in tests);
- OME's model agent fills a ClusterBaseModel from ``config.json`` in its ``storage.path``
  (pkg/modelagent/config_parser.go:285-323: architecture, safetensors 1.0.0, transformers
  and its version); without a config.json it fills nothing, as the agent's parser fails;
- before it starts an engine, the InferenceService controller validates the named runtime
  against the base model with OME's matcher (the port in deployments/ome/matcher.py) and,
  on a mismatch, records a Warning Event ``RuntimeValidationError`` with OME's text
  (pkg/controller/v1beta1/inferenceservice/controller.go:233-238) and starts nothing;
- the engine pod is placed as kube-scheduler places it (``_place``): node taints against the
  pod's tolerations, OME's model-ready node selector, required node affinity and the
  GPUs left of the node's allocatable filter; preferred node affinity chooses; a pod that
  fits nowhere stays Pending with kube's Unschedulable condition and FailedScheduling Event;
- OME's validating webhooks run on create (``_admit``): an InferenceService name against
  IsvcNameFmt, a BenchmarkJob's endpoint and traffic scenarios against its task's
  pattern; a denial is a 403 with the API server's 'admission webhook ... denied the
  request' text and nothing is stored;
- an engine image the nodes cannot pull (``pullable``) leaves the bound pod waiting in
  ImagePullBackOff with the kubelet's message, and no engine starts;
- an engine that crash-loops sets ``modelStatus`` BlockedByFailedLoad / ModelLoadFailed
  with its exit code (status/status_util.go:296-303, status_reconciler.go:204-210);
- any other pod that mounts a claim runs its command here with the mount rewritten to the
  claim's folder; its output becomes its log and it ends Succeeded or Failed.
Deleting an object stops what it started. The engines run from this interpreter (its
virtualenv stands for the image).
"""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import kmock
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from tuneops.deployments.ome.matcher import runtime_mismatches
from tuneops.deployments.ome.webhooks import ISVC_NAME, SCENARIO_PATTERNS

from tests.kube_helpers import ApiServer

GROUP, VERSION = "ome.io", "v1beta1"
GPU = "nvidia.com/gpu"
POD_LABEL, COMPONENT = "ome.io/inferenceservice", "component"
ROOT = Path(__file__).resolve().parent.parent
ISVC_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"  # inference_service_validation.go:25 IsvcNameFmt
_VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)")
_direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def expand(word: str, env: dict[str, str]) -> str:
    """Kubernetes' expansion of a container command word: $(VAR) from env, $$ -> $."""
    return _VAR.sub(lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)),
                    word)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Engine:
    name: str
    namespace: str
    proc: subprocess.Popen
    port: int
    log: Path
    pod: str
    node: str = ""
    gpus: int = 0
    ready: bool = False
    crashed: bool = False


@dataclass
class Bench:
    name: str
    namespace: str
    log: Path
    proc: subprocess.Popen | None = None
    state: str = "Pending"
    job: dict = field(default_factory=dict)  # the manifest as last listed


REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
PREFERRED = "preferredDuringSchedulingIgnoredDuringExecution"


@dataclass
class PodNeeds:
    """An engine pod's scheduling asks, after OME merged the service over the runtime."""

    selector: dict[str, str]
    required: list[dict]  # nodeSelectorTerms: any one must match
    preferred: list[dict]  # {weight, preference: a nodeSelectorTerm}
    tolerations: list[dict]
    gpus: int


def admit_inference_service(name: str) -> str | None:
    """pkg/webhook/admission/isvc/inference_service_validation.go:25-33,127-131
    (validateInferenceServiceName, the first check of ValidateCreate): why it is denied."""
    if ISVC_NAME.match(name):
        return None
    return f"invalid InferenceService name {json.dumps(name)}, must match {json.dumps(ISVC_FMT)}"


def admit_benchmark_job(spec: dict) -> str | None:
    """pkg/webhook/admission/benchmark/benchmark_webhook.go:46-56,107-113,140-151: the
    endpoint named once, then each traffic scenario against its task's pattern."""
    endpoint = spec.get("endpoint") or {}
    if bool(endpoint.get("endpoint")) == bool(endpoint.get("inferenceService")):
        return "invalid endpoint: " + ("endpoint and InferenceService cannot be specified "
                                       "together" if endpoint else
                                       "endpoint or InferenceService must be specified")
    task = spec.get("task") or ""
    pattern = SCENARIO_PATTERNS.get(task)
    for scenario in spec.get("trafficScenarios") or []:
        if pattern is None:
            why = f"no validation pattern defined for task: {task}"
        elif not pattern.search(scenario):  # Go's MatchString searches
            why = f"invalid scenario format for task '{task}': {scenario}"
        else:
            continue
        return f"invalid traffic scenarios: failed to validate scenario '{scenario}': {why}"
    return None


def tolerates(toleration: dict, taint: dict) -> bool:
    """k8s.io/api core/v1 toleration.go ToleratesTaint: the effects agree (an empty
    effect matches all), an empty key with Exists matches every taint, else the keys agree
    and the operator is Exists, or Equal (the default) with the same value."""
    if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
        return False
    operator = toleration.get("operator") or "Equal"
    if not toleration.get("key"):
        return operator == "Exists"
    if toleration["key"] != taint.get("key"):
        return False
    return operator == "Exists" or (toleration.get("value") or "") == (taint.get("value") or "")


@dataclass
class OmeStandIn:
    server: ApiServer
    kubeconfig: Path
    namespace: str
    pvc_root: Path  # <pvc_root>/<claim> stands for each PersistentVolumeClaim
    gpu_product_label: str = "nvidia.com/gpu.product"
    nodes: dict[str, str] = field(default_factory=lambda: {
        "gpu-node-a": "NVIDIA-H100-80GB-HBM3", "gpu-node-b": "NVIDIA-H100-80GB-HBM3"})
    gpus_per_node: int = 8  # each node's allocatable nvidia.com/gpu
    # each node's taints ({key, value, effect}), as a GPU operator or a team's pool sets them
    taints: dict[str, list[dict]] = field(default_factory=dict)
    model_nodes: tuple[str, ...] | None = None  # where the agent has the model (None: all)
    claims: tuple[str, ...] = ("bench-results", "claim")  # PVCs in the namespace
    webhooks_up: bool = True  # OME's webhook Service has a ready endpoint
    # what the nodes' kubelets can pull (None: every image); an engine image it cannot is
    # ImagePullBackOff, as the kubelet reports it (see _image_pull_backoff)
    pullable: Callable[[str], bool] | None = None
    bench_env: dict[str, str] = field(default_factory=dict)  # e.g. AWS_ENDPOINT_URL_S3
    poll_s: float = 0.1
    engines: dict[str, Engine] = field(default_factory=dict)
    benches: dict[str, Bench] = field(default_factory=dict)
    served: list[str] = field(default_factory=list)  # every InferenceService it ran
    bench_commands: dict[str, list[str]] = field(default_factory=dict)
    bench_procs: list = field(default_factory=list)  # every genai-bench it started
    readers: set = field(default_factory=set)
    refused: set = field(default_factory=set)  # services whose runtime OME refused
    max_running: int = 0  # most engines alive at once
    pending: set = field(default_factory=set)  # services whose engine pod is unschedulable
    pull_failed: set = field(default_factory=set)  # services whose engine image cannot be pulled
    bench_pods: dict[str, dict] = field(default_factory=dict)  # the Jobs' pod specs
    bench_history: list = field(default_factory=list)  # every genai-bench command, in order
    bench_envs: list = field(default_factory=list)  # what each genai-bench pod's env resolved to
    errors: list[str] = field(default_factory=list)
    # called with a BenchmarkJob's manifest once the job is deleted (tests plant what a
    # leftover would look like where it wrote)
    on_deleted: Callable[[dict], None] | None = None

    def __post_init__(self) -> None:
        configuration = client.Configuration()
        config.load_kube_config(config_file=str(self.kubeconfig),
                                client_configuration=configuration, persist_config=False)
        api = client.ApiClient(configuration)
        self.objects = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)
        self.batch = client.BatchV1Api(api)
        self.work = Path(tempfile.mkdtemp(prefix="ome-standin-"))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    # -- lifecycle -----------------------------------------------------------------------

    def __enter__(self) -> OmeStandIn:
        seed_cluster(self.core, self.namespace, self.nodes, self.gpu_product_label,
                     self.gpus_per_node, self.claims, self.webhooks_up, self.taints)
        if self.webhooks_up:
            for plural in ("inferenceservices", "benchmarkjobs"):
                self.server.emulator[f"post /apis/{GROUP}/{VERSION}/namespaces/"
                                     f"{self.namespace}/{plural}"] << self._admit
        for claim in self.claims:
            (self.pvc_root / claim).mkdir(parents=True, exist_ok=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        for engine in self.engines.values():
            _kill(engine.proc)
        for bench in self.benches.values():
            if bench.proc is not None:
                _kill(bench.proc)

    def _admit(self, request: kmock.Request) -> object:
        """OME's validating webhooks, called by the API server before it stores a created
        InferenceService or BenchmarkJob (config/webhook/manifests.yaml:58-83, 166-191). A
        denial is controller-runtime's admission.Denied: HTTP 403, and the API server's
        Status message 'admission webhook "<name>" denied the request: <why>'
        (k8s.io/apiserver admission/plugin/webhook/errors ToStatusErr). Otherwise the
        request goes on to the store (kmock: NotImplemented passes it on). Runs on the
        emulator's loop: no API calls here."""
        obj = request.data if isinstance(request.data, dict) else {}
        name = (obj.get("metadata") or {}).get("name") or ""
        if request.url.path.endswith("/inferenceservices"):
            webhook = "inferenceservice.ome-webhook-server.validator"
            why = admit_inference_service(name)
        else:
            webhook = "benchmarkjob.ome-webhook-server.validator"
            why = admit_benchmark_job(obj.get("spec") or {})
        if why is None:
            return NotImplemented
        # kmock stores a created object before any reaction runs; a denied one never is
        plural = request.url.path.rsplit("/", 1)[-1]
        del self.server.emulator.objects[f"{GROUP}/{VERSION}/{plural}", self.namespace, name]
        return kmock.Response(status=403, payload={
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": f'admission webhook "{webhook}" denied the request: {why}',
            "reason": "Forbidden", "code": 403})

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_s):
            for step in (self._models, self._services, self._benchmarks, self._readers):
                try:
                    step()
                except Exception as e:  # noqa: BLE001 - a test asserts errors == []
                    self.errors.append(f"{step.__name__}: {type(e).__name__}: {e}")

    def _list(self, plural: str) -> list[dict]:
        try:
            return self.objects.list_namespaced_custom_object(
                GROUP, VERSION, self.namespace, plural)["items"]
        except ApiException as e:
            if e.status == 404:
                return []
            raise

    def _log_route(self, pod: str, path: Path) -> None:
        self.server.emulator[f"get /api/v1/namespaces/{self.namespace}/pods/{pod}/log"] << (
            lambda: path.read_bytes() if path.exists() else b"")

    # -- InferenceServices ---------------------------------------------------------------

    def _base_model_path(self, isvc: dict) -> str:
        name = ((isvc.get("spec") or {}).get("model") or {}).get("name")
        try:
            model = self.objects.get_cluster_custom_object(
                GROUP, VERSION, "clusterbasemodels", name)
        except ApiException:
            return str(ROOT / "assets" / "tokenizer")
        return ((model.get("spec") or {}).get("storage") or {}).get("path") or ""

    def _agent_fill(self, model: dict) -> dict:
        """The base model's spec as OME's model agent leaves it: from config.json in
        storage.path (config_parser.go:285-323), fields already set kept (:381-446)."""
        spec = dict(model.get("spec") or {})
        path = Path(((spec.get("storage") or {}).get("path")) or "/nonexistent")
        try:
            hf = json.loads((path / "config.json").read_text())
        except (OSError, ValueError):
            return spec  # the agent's parser fails without config.json: nothing filled
        framework = {"name": "transformers"}
        if hf.get("transformers_version"):
            framework["version"] = hf["transformers_version"]
        filled = {"modelFormat": {"name": "safetensors", "version": "1.0.0"},
                  "modelFramework": framework}
        if hf.get("architectures"):
            filled["modelArchitecture"] = hf["architectures"][0]
        return {**filled, **spec}

    # -- the model agent and the scheduler -----------------------------------------------

    def _models(self) -> None:
        """OME's model agent on each of ``model_nodes``: once a ClusterBaseModel is there it
        labels the node models.ome.io/clusterbasemodel.<name>=Ready (pkg/modelagent/
        node_label_reconciler.go:188-196, key from pkg/constants/constants.go:802-813), and
        the base model controller sets state Ready when any node is ready
        (pkg/controller/v1beta1/basemodel/controller.go:606-615). What the agent parsed
        from config.json goes into the spec first (config_parser.go:381-446)."""
        try:
            models = self.objects.list_cluster_custom_object(
                GROUP, VERSION, "clusterbasemodels")["items"]
        except ApiException as e:
            if e.status == 404:
                return
            raise
        nodes = sorted(self.nodes) if self.model_nodes is None else list(self.model_nodes)
        for model in models:
            name = model["metadata"]["name"]
            if (model.get("status") or {}).get("state") == "Ready" or not nodes:
                continue
            filled = self._agent_fill(model)
            if filled != (model.get("spec") or {}):  # the agent writes what it parsed
                self.objects.patch_cluster_custom_object(
                    GROUP, VERSION, "clusterbasemodels", name, {"spec": filled})
            for node in nodes:
                self.core.patch_node(node, {"metadata": {"labels": {model_label(name): "Ready"}}})
            self.objects.patch_cluster_custom_object_status(
                GROUP, VERSION, "clusterbasemodels", name,
                {"status": {"state": "Ready", "nodesReady": nodes, "lifecycle": "Ready"}})

    def _requirements(self, isvc: dict) -> PodNeeds:
        """What the engine pod asks the scheduler for: OME's model-ready node selector
        (pkg/controller/v1beta1/inferenceservice/utils/utils.go:110-135), and the node
        selector, node affinity, tolerations and GPUs of the service's engine as OME merges
        it over the runtime's engineConfig (utils/merging.go:105-121 MergeEngineSpec, a
        strategic merge patch: nodeSelector merges key by key, a list without a patch merge
        key (tolerations, nodeSelectorTerms) is the service's when it sets one, else the
        runtime's; k8s.io/api core/v1 PodSpec)."""
        spec = isvc.get("spec") or {}
        engine = spec.get("engine") or {}
        runtime = {}
        name = (spec.get("runtime") or {}).get("name")
        if name:
            try:
                runtime = (self.objects.get_cluster_custom_object(
                    GROUP, VERSION, "clusterservingruntimes", name).get("spec") or {}
                          ).get("engineConfig") or {}
            except ApiException:
                runtime = {}
        selector = {**(runtime.get("nodeSelector") or {}), **(engine.get("nodeSelector") or {})}
        selector.setdefault(model_label((spec.get("model") or {}).get("name", "")), "Ready")
        mine, theirs = ((engine.get("affinity") or {}).get("nodeAffinity") or {},
                        (runtime.get("affinity") or {}).get("nodeAffinity") or {})
        required = mine.get(REQUIRED) or theirs.get(REQUIRED) or {}
        preferred = mine.get(PREFERRED) or theirs.get(PREFERRED) or []
        runner = engine.get("runner") or {}
        resources = runner.get("resources") or (runtime.get("runner") or {}).get(
            "resources") or {}
        gpus = int((resources.get("limits") or resources.get("requests") or {}).get(GPU, 0))
        tolerations = engine.get("tolerations") or runtime.get("tolerations") or []
        return PodNeeds(selector, required.get("nodeSelectorTerms") or [], preferred,
                        tolerations, gpus)

    def _used_gpus(self, node: str) -> int:
        return sum(e.gpus for e in self.engines.values() if e.node == node)

    def _place(self, isvc: dict) -> tuple[str | None, int, str]:
        """kube-scheduler for the engine pod. Filters, in the default profile's order
        (pkg/scheduler/apis/config/v1/default_plugins.go: TaintToleration, NodeAffinity,
        NodeResourcesFit): every NoSchedule/NoExecute taint of the node tolerated
        (kubernetes.io/docs/concepts/scheduling-eviction/taint-and-toleration), the node
        selector and required node affinity (.../assign-pod-node), the GPUs asked for within
        the node's allocatable less what placed pods asked for (.../manage-resources-
        containers). Of the nodes left, the one with the highest sum of matching preferred
        node-affinity weights, then the fewest untolerated PreferNoSchedule taints
        (NodeAffinity's and TaintToleration's Score); ties go to the first by name (the real
        scheduler picks at random). Returns (node, gpus, why not): None and the scheduler's
        FailedScheduling text when no node fits."""
        needs = self._requirements(isvc)
        counts: dict[str, int] = {}
        fits: list[tuple[int, int, str]] = []
        for node in sorted(self.nodes):
            found = self.core.read_node(node)
            labels = found.metadata.labels or {}
            taints = [t.to_dict() for t in (found.spec.taints or [])]
            blocking = [t for t in taints if t["effect"] in ("NoSchedule", "NoExecute")
                        and not any(tolerates(tol, t) for tol in needs.tolerations)]
            allocatable = int(((found.status.allocatable or {}) if found.status else {}
                               ).get(GPU, 0))
            if blocking:
                # tainttoleration/taint_toleration.go Filter: the first taint not tolerated,
                # "node(s) had untolerated taint {key: value}" (value empty: "{key: }")
                key, value = blocking[0]["key"], blocking[0].get("value") or ""
                why = f"node(s) had untolerated taint {{{key}: {value}}}"
            elif any(labels.get(k) != v for k, v in needs.selector.items()) or (
                    needs.required and not any(_term_matches(t, labels)
                                               for t in needs.required)):
                why = "node(s) didn't match Pod's node affinity/selector"
            elif allocatable - self._used_gpus(node) < needs.gpus:
                why = f"Insufficient {GPU}"
            else:
                weight = sum(int(p.get("weight", 0)) for p in needs.preferred
                             if _term_matches(p.get("preference") or {}, labels))
                soft = sum(1 for t in taints if t["effect"] == "PreferNoSchedule"
                           and not any(tolerates(tol, t) for tol in needs.tolerations))
                fits.append((-weight, soft, node))
                continue
            counts[why] = counts.get(why, 0) + 1
        if fits:
            return min(fits)[2], needs.gpus, ""
        # pkg/scheduler/schedule_one.go FitError.Error(): "0/N nodes are available: " and
        # the reasons with their node counts, sorted
        reasons = ", ".join(sorted(f"{n} {why}" for why, n in counts.items()))
        return None, needs.gpus, f"0/{len(self.nodes)} nodes are available: {reasons}."

    def _unschedulable(self, isvc: dict, why: str) -> None:
        """The engine pod left Pending as kube-scheduler leaves it: PodScheduled=False,
        reason Unschedulable, and a Warning Event FailedScheduling on the pod
        (kubernetes.io/docs/concepts/scheduling-eviction/pod-scheduling-readiness;
        k8s.io/api core/v1 PodReasonUnschedulable)."""
        name = isvc["metadata"]["name"]
        if name in self.pending:
            return
        self.pending.add(name)
        pod = self._engine_pod(name, "", status={"phase": "Pending", "conditions": [{
            "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": why, "lastTransitionTime": _now()}]})
        self.core.create_namespaced_event(self.namespace, {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{pod}.scheduling", "namespace": self.namespace},
            "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": pod,
                               "namespace": self.namespace},
            "type": "Warning", "reason": "FailedScheduling", "message": why,
            "source": {"component": "default-scheduler"}})

    def _runtime_valid(self, isvc: dict) -> bool:
        """controller.go:229-238: a named runtime is validated against the base model;
        a refusal is a Warning Event on the service and the reconcile ends there."""
        spec = isvc.get("spec") or {}
        runtime_name = (spec.get("runtime") or {}).get("name")
        model_name = (spec.get("model") or {}).get("name")
        if not runtime_name:
            return True
        try:
            runtime = self.objects.get_cluster_custom_object(
                GROUP, VERSION, "clusterservingruntimes", runtime_name)
            model = self.objects.get_cluster_custom_object(
                GROUP, VERSION, "clusterbasemodels", model_name)
        except ApiException:
            return True  # not modelled: a missing object (see the module doc)
        model_spec = self._agent_fill(model)
        if "modelFormat" not in model_spec:
            return True  # not filled yet: OME's pods wait for the model to be Ready
        reasons = runtime_mismatches(runtime.get("spec") or {}, model_spec)
        if not reasons:
            return True
        name = isvc["metadata"]["name"]
        self.refused.add(name)
        self.core.create_namespaced_event(self.namespace, {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{name}.runtime", "namespace": self.namespace},
            "involvedObject": {"apiVersion": f"{GROUP}/{VERSION}", "kind": "InferenceService",
                               "name": name, "namespace": self.namespace,
                               "uid": isvc["metadata"].get("uid", "")},
            "type": "Warning", "reason": "RuntimeValidationError",
            "message": f"Runtime {runtime_name} does not support model {model_name}: "
                       f"runtime {runtime_name} does not support model: {'; '.join(reasons)}",
            "source": {"component": "inferenceservice-controller"}})
        return False

    def _services(self) -> None:
        items = {i["metadata"]["name"]: i for i in self._list("inferenceservices")}
        for name in list(self.engines):
            # deleted: its pods go with it, as Kubernetes' garbage collector removes objects
            # whose ownerReference is gone (kubernetes.io/docs/concepts/architecture/
            # garbage-collection; OME's engine Deployment is owned by the InferenceService)
            if name not in items:
                engine = self.engines.pop(name)
                self.pending.discard(name)
                _kill(engine.proc)
                _delete_pod(self.core, engine.pod, self.namespace)
        for name in (self.pending | self.pull_failed) - set(items):  # its pod goes too
            self.pending.discard(name)
            self.pull_failed.discard(name)
            _delete_pod(self.core, f"{name}-engine-0", self.namespace)
        for name, isvc in items.items():
            engine = self.engines.get(name)
            if engine is None:
                if name in self.refused or not self._runtime_valid(isvc):
                    # controller.go:229-238: Reconcile returns the validation error and the
                    # request is requeued; no engine Deployment is created
                    continue
                node, gpus, why = self._place(isvc)
                if node is None:
                    self._unschedulable(isvc, why)
                    continue
                if name in self.pending:  # scheduled at last: the pending pod becomes it
                    self.pending.discard(name)
                    _delete_pod(self.core, f"{name}-engine-0", self.namespace)
                image = isvc["spec"]["engine"]["runner"].get("image", "")
                if self.pullable is not None and not self.pullable(image):
                    if name not in self.pull_failed:
                        self._image_pull_backoff(name, node, image)
                    continue
                self.engines[name] = self._start_engine(isvc, node, gpus)
                self.served.append(name)
                self.max_running = max(self.max_running, len(self.engines))
            elif not engine.ready and not engine.crashed:
                self._check_engine(engine)

    def _engine_pod(self, name: str, image: str, node: str | None = None,
                    status: dict | None = None) -> str:
        """The service's engine pod, labelled as OME's engine Deployment labels its pods
        (ome.io/inferenceservice, component: engine), bound to `node` once scheduled."""
        pod = f"{name}-engine-0"
        spec: dict = {"containers": [{"name": "ome-container", "image": image}]}
        if node is not None:
            spec["nodeName"] = node
        self.core.create_namespaced_pod(self.namespace, {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": pod, "namespace": self.namespace,
                         "labels": {POD_LABEL: name, COMPONENT: "engine"}},
            "spec": spec, **({"status": status} if status else {})})
        return pod

    def _image_pull_backoff(self, name: str, node: str, image: str) -> None:
        """The pod is bound to its node, and the kubelet there cannot pull the image: the
        container waits in ImagePullBackOff with the kubelet's message (k8s.io/kubernetes
        pkg/kubelet/images/image_manager.go: 'Back-off pulling image %q' after
        ErrImagePull; kubernetes.io/docs/concepts/containers/images/#imagepullbackoff).
        No engine starts, and the kubelet keeps retrying: the pod stays until deleted."""
        self.pull_failed.add(name)
        pod = self._engine_pod(name, image, node=node)
        self.core.patch_namespaced_pod_status(pod, self.namespace, {"status": {
            "phase": "Pending", "containerStatuses": [{
                "name": "ome-container", "ready": False, "restartCount": 0, "image": image,
                "imageID": "", "state": {"waiting": {
                    "reason": "ImagePullBackOff",
                    "message": f'Back-off pulling image "{image}"'}}}]}})

    def _start_engine(self, isvc: dict, node: str, gpus: int) -> Engine:
        name = isvc["metadata"]["name"]
        runner = isvc["spec"]["engine"]["runner"]
        env = {e["name"]: e.get("value", "") for e in runner.get("env") or []}
        env["MODEL_PATH"] = self._base_model_path(isvc)
        words = [expand(w, env) for w in runner["command"]]
        port = _free_port()
        if words[:1] == ["python3"]:
            words[0] = sys.executable
        for flag, value in (("--port", str(port)), ("--host", "127.0.0.1")):
            if flag in words:
                words[words.index(flag) + 1] = value
        log = self.work / f"{name}.engine.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                words, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=ROOT, env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
                start_new_session=True)
        pod = self._engine_pod(name, runner.get("image", ""), node=node)
        self._log_route(pod, log)
        return Engine(name, self.namespace, proc, port, log, pod, node, gpus)

    def _check_engine(self, engine: Engine) -> None:
        code = engine.proc.poll()
        if code is not None:  # the kubelet restarts it and backs off: CrashLoopBackOff
            engine.crashed = True
            self.core.patch_namespaced_pod_status(engine.pod, self.namespace, {"status": {
                "phase": "Running", "containerStatuses": [{
                    "name": "ome-container", "ready": False, "restartCount": 1, "image": "",
                    "imageID": "",
                    "state": {"waiting": {"reason": "CrashLoopBackOff",
                                          "message": "back-off 10s restarting failed container"}},
                    "lastState": {"terminated": {"exitCode": code, "reason": "Error"}}}]}})
            # OME's status reconciler then marks the model load failed
            # (status_util.go:296-303, status_reconciler.go:204-210)
            self.objects.patch_namespaced_custom_object_status(
                GROUP, VERSION, self.namespace, "inferenceservices", engine.name, {"status": {
                    "modelStatus": {"transitionStatus": "BlockedByFailedLoad",
                                    "lastFailureInfo": {
                                        "reason": "ModelLoadFailed", "exitCode": code,
                                        "message": "engine container exited"}}}})
            return
        try:
            with _direct.open(f"http://127.0.0.1:{engine.port}/health", timeout=1) as r:
                if r.status != 200:
                    return
        except OSError:
            return
        engine.ready = True
        url = f"http://127.0.0.1:{engine.port}"
        ready = [{"type": kind, "status": "True", "lastTransitionTime": _now()}
                 for kind in ("EngineReady", "IngressReady", "PredictorReady", "Ready")]
        self.objects.patch_namespaced_custom_object_status(
            GROUP, VERSION, self.namespace, "inferenceservices", engine.name, {"status": {
                "url": url, "address": {"url": url}, "conditions": ready,
                "components": {"engine": {"url": url, "latestReadyRevision": "1"}},
                "modelStatus": {"transitionStatus": "UpToDate"}}})

    # -- BenchmarkJobs -------------------------------------------------------------------

    def _benchmarks(self) -> None:
        items = {i["metadata"]["name"]: i for i in self._list("benchmarkjobs")}
        for name in list(self.benches):
            if name not in items:
                self._forget(name)
        for name, job in items.items():
            bench = self.benches.get(name)
            if bench is not None and bench.state in ("Completed", "Failed") and not (
                    job.get("status") or {}).get("state"):
                # a new job of the same name, created before this loop saw the old one go
                # (the emulator gives no uid): OME reconciles it as the new object it is
                self._forget(name)
                bench = None
            if bench is None:
                bench = self.benches[name] = Bench(name, self.namespace,
                                                   self.work / f"{name}.bench.log")
                self._set_state(name, "Pending")
            if not bench.job:
                bench.job = job
            if bench.state == "Pending":
                self._maybe_run(job, bench)
            elif bench.state == "Running" and bench.proc.poll() is not None:
                code = bench.proc.returncode
                bench.state = "Completed" if code == 0 else "Failed"
                message = "" if code == 0 else (
                    "Job has reached the specified backoff limit")
                self._set_state(name, bench.state, completionTime=_now(),
                                failureMessage=message)

    def _forget(self, name: str) -> None:
        """A deleted BenchmarkJob: its Job and the Job's pods go with it, as Kubernetes'
        garbage collector removes what the deleted object owned (OME's controller sets the
        BenchmarkJob as the Job's controller owner, pkg/controller/v1beta1/benchmark/
        controller.go:169-171 reconcileJob; kubernetes.io/docs/concepts/architecture/
        garbage-collection). A job of the same name created afterwards then gets a new Job
        instead of a name conflict with the old one."""
        bench = self.benches.pop(name)
        if bench.proc is not None:
            _kill(bench.proc)
        _delete_pod(self.core, f"{name}-run", self.namespace)
        try:
            self.batch.delete_namespaced_job(name, self.namespace)
        except ApiException:
            pass
        if self.on_deleted is not None and bench.job:
            self.on_deleted(bench.job)

    def _set_state(self, name: str, state: str, **extra: str) -> None:
        status = {"state": state, "lastReconcileTime": _now(), **extra}
        self.objects.patch_namespaced_custom_object_status(
            GROUP, VERSION, self.namespace, "benchmarkjobs", name, {"status": status})

    def _maybe_run(self, job: dict, bench: Bench) -> None:
        spec = job["spec"]
        ref = spec["endpoint"]["inferenceService"]
        try:
            isvc = self.objects.get_namespaced_custom_object(
                GROUP, VERSION, ref["namespace"], "inferenceservices", ref["name"])
        except ApiException:
            return  # OME requeues until the service exists
        conditions = (isvc.get("status") or {}).get("conditions") or []
        if not any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
            return
        args, cwd_map = self.benchmark_args(job, isvc)
        command = [str(Path(sys.executable).parent / "genai-bench"), *args]
        self.bench_commands[bench.name] = command
        self.bench_history.append(command)
        argv = [cwd_map.get(w, w) for w in command]
        pod_spec = self.bench_pod_spec(job, isvc, args)
        self.batch.create_namespaced_job(self.namespace, {
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": bench.name, "namespace": self.namespace,
                         "labels": {"benchmark": bench.name}},
            "spec": {"backoffLimit": 0, "template": {
                "metadata": {"labels": {"benchmark": bench.name}}, "spec": pod_spec}}})
        pod = f"{bench.name}-run"
        self.core.create_namespaced_pod(self.namespace, {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": pod, "namespace": self.namespace,
                         "labels": {"benchmark": bench.name, "job-name": bench.name}},
            "spec": {**pod_spec, "nodeName": sorted(self.nodes)[0]}})  # not placed: any node
        self._log_route(pod, bench.log)
        container = pod_spec["containers"][0]
        self.bench_pods[bench.name] = pod_spec
        env = {**os.environ, **self._resolve_env(container), "HF_HUB_OFFLINE": "1",
               "TRANSFORMERS_OFFLINE": "1", **self.bench_env}
        run_dir = self.work / f"{bench.name}.cwd"
        run_dir.mkdir(exist_ok=True)
        with bench.log.open("wb") as out:
            bench.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, cwd=run_dir, env=env,
                                          start_new_session=True)
        self.bench_procs.append(bench.proc)
        bench.state = "Running"
        self._set_state(bench.name, "Running", startTime=_now())

    def bench_pod_spec(self, job: dict, isvc: dict, args: list[str]) -> dict:
        """The Job's pod as OME builds it: its container (name, image, resources, ENABLE_UI,
        genai-bench's command; controller.go:260-299), OME's GPU toleration
        (:195-201, :403-409), the model-ready node selector (:233-257), then
        ``podOverride`` strategic-merge-patched over it (:412-497): the container's image
        replaced, env merged by name, envFrom and tolerations replaced (no merge key),
        resources and nodeSelector merged key by key."""
        name = job["metadata"]["name"]
        model = ((isvc.get("spec") or {}).get("model") or {}).get("name", "")
        container = {"name": name, "image": "genai-bench", "command": ["genai-bench"],
                     "args": args, "env": [{"name": "ENABLE_UI", "value": "false"}],
                     "resources": {"requests": {"cpu": "2", "memory": "4Gi"},
                                   "limits": {"cpu": "2", "memory": "4Gi"}}}
        spec = {"restartPolicy": "Never", "containers": [container],
                "tolerations": [{"key": GPU, "operator": "Exists", "effect": "NoSchedule"}],
                "nodeSelector": {model_label(model): "Ready"}}
        override = job["spec"].get("podOverride") or {}
        if override.get("image"):
            container["image"] = override["image"]
        by_name = {e["name"]: e for e in container["env"]}
        by_name.update({e["name"]: e for e in override.get("env") or []})
        container["env"] = list(by_name.values())
        if override.get("envFrom"):
            container["envFrom"] = override["envFrom"]
        for kind, values in (override.get("resources") or {}).items():
            container["resources"][kind] = {**container["resources"].get(kind, {}), **values}
        if override.get("tolerations"):
            spec["tolerations"] = override["tolerations"]
        spec["nodeSelector"] = {**spec["nodeSelector"], **(override.get("nodeSelector") or {})}
        return spec

    def _resolve_env(self, container: dict) -> dict[str, str]:
        """The container's environment as the kubelet resolves it: literal values,
        secretKeyRef and envFrom secretRef read from the namespace's Secrets (base64 data,
        kubernetes.io/docs/concepts/configuration/secret)."""
        def secret(name: str) -> dict[str, str]:
            data = self.core.read_namespaced_secret(name, self.namespace).data or {}
            return {k: base64.b64decode(v).decode() for k, v in data.items()}

        env: dict[str, str] = {}
        for source in container.get("envFrom") or []:
            if source.get("secretRef"):
                env.update(secret(source["secretRef"]["name"]))
        for var in container.get("env") or []:
            ref = (var.get("valueFrom") or {}).get("secretKeyRef")
            env[var["name"]] = secret(ref["name"])[ref["key"]] if ref else var.get("value", "")
        self.bench_envs.append(env)
        return env

    def benchmark_args(self, job: dict, isvc: dict) -> tuple[list[str], dict[str, str]]:
        """genai-bench's arguments as OME's controller builds them (see the module doc), and
        the container paths this machine stands in for."""
        spec = job["spec"]
        runner = ((isvc.get("spec") or {}).get("engine") or {}).get("runner") or {}
        protocol = next((e.get("value") for e in runner.get("env") or []
                         if e["name"] == "PROTOCOL_VERSION"), "") or "openai"
        url = isvc["status"]["url"]
        scheme, _, rest = url.partition("://")
        args = ["benchmark", "--api-backend", protocol,
                "--api-base", f"{scheme or 'http'}://{rest.split('/')[0]}",
                "--api-model-name", "vllm-model", "--task", spec["task"],
                "--max-time-per-run", str(spec["maxTimePerIteration"]),
                "--max-requests-per-run", str(spec["maxRequestsPerIteration"]),
                "--api-key", "sample-key", "--model-tokenizer", self._base_model_path(isvc)]
        for scenario in spec.get("trafficScenarios") or []:
            args += ["--traffic-scenario", scenario]
        for level in spec.get("numConcurrency") or []:
            args += ["--num-concurrency", str(level)]
        if spec.get("resultFolderName"):
            args += ["--experiment-folder-name", spec["resultFolderName"]]
        meta = spec.get("serviceMetadata")
        if meta:
            args += ["--server-engine", meta["engine"], "--server-gpu-type", meta["gpuType"],
                     "--server-version", meta["version"],
                     "--server-gpu-count", str(meta["gpuCount"])]
        uri = spec["outputLocation"]["storageUri"]
        paths: dict[str, str] = {}
        if uri.startswith("pvc://"):
            claim, _, sub = uri[len("pvc://"):].partition("/")
            args += ["--experiment-base-dir", "/" + sub]
            local = self.pvc_root / claim.split(":")[-1] / sub
            local.mkdir(parents=True, exist_ok=True)
            paths["/" + sub] = str(local)
        elif uri.startswith("s3://"):
            bucket, _, prefix = uri[len("s3://"):].partition("/")
            args += ["--upload-results", "--storage-provider", "aws",
                     "--storage-bucket", bucket.split("@")[0]]
            if prefix:
                args += ["--storage-prefix", prefix]
        return args, paths

    # -- pods that read a claim ----------------------------------------------------------

    def _readers(self) -> None:
        for pod in _items(self.core.list_namespaced_pod, self.namespace):
            name = pod.metadata.name
            volumes = {v.name: v.persistent_volume_claim for v in pod.spec.volumes or []
                       if v.persistent_volume_claim}
            if not volumes or name in self.readers:
                continue
            self.readers.add(name)
            container = pod.spec.containers[0]
            words = list(container.command or []) + list(container.args or [])
            for mount in container.volume_mounts or []:
                if mount.name in volumes:
                    folder = self.pvc_root / volumes[mount.name].claim_name
                    words = [w.replace(mount.mount_path, str(folder)) for w in words]
            log = self.work / f"{name}.log"
            with log.open("wb") as out:
                code = subprocess.call(words, stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL)
            self._log_route(name, log)
            self.core.patch_namespaced_pod_status(name, self.namespace, {"status": {
                "phase": "Succeeded" if code == 0 else "Failed"}})

    # -- what tests look at --------------------------------------------------------------

    def leftovers(self) -> list[str]:
        """Everything of OME's kinds, the Jobs and the pods still in the namespace."""
        left = [f"{p}/{i['metadata']['name']}" for p in ("inferenceservices", "benchmarkjobs")
                for i in self._list(p)]
        left += [f"pods/{p.metadata.name}" for p in
                 _items(self.core.list_namespaced_pod, self.namespace)]
        left += [f"jobs/{j.metadata.name}" for j in
                 _items(self.batch.list_namespaced_job, self.namespace)]
        return left

    def wait_settled(self, timeout_s: float = 30.0) -> list[str]:
        """Give the loop time to notice deletions; what is left then."""
        deadline = time.monotonic() + timeout_s
        while (left := self.leftovers()) and time.monotonic() < deadline:
            time.sleep(self.poll_s)
        return left


SIM_OME = """\
apiVersion: tuneops/v1
kind: Experiment
metadata: {{name: sim-ome-e2e}}
model:
  id: meta-llama/Llama-3.2-1B
  servedName: llama-1b
  tokenizer: {tokenizer}
  architecture: {{layers: 16, attentionHeads: 32, kvHeads: 8, hiddenSize: 2048, parameters: 1.24e9}}
engine: {{name: sim, image: "tuneops/sim:test", args: {{time-scale: 0.01, seed: 1}}}}
deployment:
  mode: ome
  gpus: {{count: 1, type: H100}}
  startupTimeout: 2m
  ome:
    namespace: tuneops
    baseModel: tiny-llama
    generateBaseModel: {{storageUri: "hf://meta-llama/Llama-3.2-1B", path: "{tokenizer}"}}
    generateRuntime: true
    modelMetadata: {{architecture: LlamaForCausalLM}}
    benchmarkStorageUri: {storage}
    gpuBudget: 2
parameters:
  max-running-requests: [8, 16]
benchmark:
  trafficScenarios: ["D(32,16)"]
  concurrency: [2]
  maxTimePerRun: 1
  maxRequestsPerRun: 6
  warmupRequests: 0  # the warm-up BenchmarkJob has a test of its own (test_benchmark_pod)
objective: {{metric: output_throughput_per_gpu, concurrency: 2}}
search: {{method: grid, parallelTrials: 2, confirm: false}}  # two trials, no re-measuring
"""



def write_sim_experiment(path: Path, storage_uri: str, namespace: str = "tuneops",
                         **ome_options: object) -> Path:
    """An OME experiment of two simulator trials (one GPU each, two at once) whose base
    model's path is the shared tokenizer: what the stand-in serves and measures."""
    text = SIM_OME.format(tokenizer=ROOT / "assets" / "tokenizer", storage=storage_uri)
    text = text.replace("    namespace: tuneops\n", f"    namespace: {namespace}\n")
    for key, value in ome_options.items():
        text = text.replace("    gpuBudget: 2\n", f"    gpuBudget: 2\n    {key}: {value}\n")
    path.write_text(text)
    return path


def _items(list_fn, namespace: str) -> list:
    """A namespaced list; the emulator answers 404 for a kind nobody has created yet."""
    try:
        return list_fn(namespace).items
    except ApiException as e:
        if e.status == 404:
            return []
        raise


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, 15)
        except ProcessLookupError:
            return
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(5)


def _delete_pod(core: client.CoreV1Api, name: str, namespace: str) -> None:
    try:
        core.delete_namespaced_pod(name, namespace)
    except ApiException as e:
        if e.status != 404:
            raise


def model_label(model: str) -> str:
    """OME's node label for a ready ClusterBaseModel (pkg/constants/constants.go:802-813;
    names over 32 characters are cut with a hash there, which tests do not use)."""
    assert len(model) <= 32, model
    return f"models.ome.io/clusterbasemodel.{model}"


def _term_matches(term: dict, labels: dict[str, str]) -> bool:
    """A nodeSelectorTerm: every matchExpression holds (kubernetes.io/docs/concepts/
    scheduling-eviction/assign-pod-node/#operators: In, NotIn, Exists, DoesNotExist)."""
    for expr in term.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


WEBHOOK_NAMESPACE, WEBHOOK_SERVICE = "ome", "ome-webhook-server-service"


def seed_cluster(core: client.CoreV1Api, namespace: str, nodes: dict[str, str],
                 gpu_product_label: str = "nvidia.com/gpu.product", gpus_per_node: int = 8,
                 claims: tuple[str, ...] = ("bench-results",), webhooks_up: bool = True,
                 taints: dict[str, list[dict]] | None = None) -> None:
    """What a cluster with OME installed has before a run: GPU nodes labelled by GPU
    feature discovery with their allocatable GPUs, the result claims in the namespace,
    and OME's webhooks (install_webhooks)."""
    gpus = str(gpus_per_node)
    for node, product in nodes.items():
        core.create_node({"apiVersion": "v1", "kind": "Node", "metadata": {
            "name": node, "labels": {gpu_product_label: product,
                                     "kubernetes.io/hostname": node}},
            "spec": {"taints": list((taints or {}).get(node, []))},
            "status": {"capacity": {GPU: gpus}, "allocatable": {GPU: gpus}}})
    for claim in claims:
        core.create_namespaced_persistent_volume_claim(namespace, {
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": claim, "namespace": namespace},
            "spec": {"accessModes": ["ReadWriteMany"],
                     "resources": {"requests": {"storage": "1Gi"}}}})
    install_webhooks(core, client.AdmissionregistrationV1Api(core.api_client), up=webhooks_up)


def install_webhooks(core: client.CoreV1Api, admission: client.AdmissionregistrationV1Api,
                     up: bool = True) -> None:
    """OME's validating webhook configurations for InferenceServices and BenchmarkJobs
    (config/webhook/manifests.yaml:58-83, 166-191) and their Service's Endpoints
    (config/webhook/service.yaml), with a ready address when ``up``."""
    for name, plural in (("inferenceservice.ome.io", "inferenceservices"),
                         ("benchmarkjob.ome.io", "benchmarkjobs")):
        kind = name.split(".")[0]
        admission.create_validating_webhook_configuration({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration", "metadata": {"name": name},
            "webhooks": [{
                "name": f"{kind}.ome-webhook-server.validator",
                "clientConfig": {"service": {"name": WEBHOOK_SERVICE,
                                             "namespace": WEBHOOK_NAMESPACE,
                                             "path": f"/validate-ome-io-v1beta1-{kind}"}},
                "failurePolicy": "Fail", "sideEffects": "None",
                "admissionReviewVersions": ["v1beta1"],
                "rules": [{"apiGroups": ["ome.io"], "apiVersions": ["v1beta1"],
                           "operations": ["CREATE", "UPDATE"], "resources": [plural]}]}]})
    subset = {"ports": [{"port": 9443}]}
    if up:
        subset["addresses"] = [{"ip": "10.0.0.9"}]
    else:
        subset["notReadyAddresses"] = [{"ip": "10.0.0.9"}]
    core.create_namespaced_endpoints(WEBHOOK_NAMESPACE, {
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": WEBHOOK_SERVICE, "namespace": WEBHOOK_NAMESPACE},
        "subsets": [subset]})
