"""Run the engine on Kubernetes as an OME InferenceService, through the `kubernetes` client.

``launch.spec`` holds the rendered objects by kind. The cluster-wide ClusterServingRuntime
and ClusterBaseModel are created once per backend (one run), owned by the run, and deleted
by ``close`` at its end (or by ``reap``); one an earlier run of the same experiment left
is brought to the manifest, and one tuneops did not create is never changed: the trial is
refused. Each trial's InferenceService is created with the owner/trial labels added. The owner
("<experiment>/<run-id>") has a "/", which a label value cannot hold, so it is kept whole
in an annotation that ``reap`` matches by prefix, and a label-safe form goes in the label.

Healthy means OME's Ready condition is True. Where the trial is measured is the
experiment's choice (``deployment.ome.benchmarkIn``):
- ``cluster`` (default): ``benchmark`` (benchmark.py) applies the trial's
  BenchmarkJob (owned like the service), waits for ``status.state`` Completed or Failed,
  reads genai-bench's files back from ``outputLocation`` (results.py), parses them with
  the parser local runs use and deletes the job. The runner needs only the API server.
- ``runner``: genai-bench runs here against ``status.url``, which must then answer from here
  (run the runner in-cluster, or through an ingress).

Once ready, the engine pod's node and its GPU product label are recorded as the trial's
placement, beside what the experiment declared. The API server's 400/422 (a manifest it
rejects) is a ConfigFailure; 5xx, refused connections and other 4xx (RBAC, missing CRDs)
are InfraFailures.
"""

from __future__ import annotations

import copy
import json
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from tuneops.deployments.common import health
from tuneops.deployments.common.backend import (
    OWNER_LABEL,
    TRIAL_LABEL,
    ConfigFailure,
    Deployment,
    InfraFailure,
    Launch,
    TrialFailure,
)

# the BenchmarkJob side of the backend, and the names both sides use
from tuneops.deployments.ome import signals
from tuneops.deployments.ome.benchmark import (  # noqa: F401 - re-exported
    BENCH_LOG,
    BENCH_POD_LABEL,
    BJ,
    GROUP,
    READER_LABEL,
    SCHEDULE_SLACK_S,
    VERSION,
    ClusterBenchmarks,
)
from tuneops.deployments.ome.render import EXPERIMENT_LABEL

from tuneops import secrets

ISVC = "inferenceservices"
# prometheus-operator's PodMonitor (deployment.ome.monitoring), applied with the trial
MONITOR_GROUP, MONITOR_VERSION, MONITORS = "monitoring.coreos.com", "v1", "podmonitors"
CLUSTER_PLURALS = {  # cluster-scoped objects shared by every trial of a run
    "ClusterBaseModel": "clusterbasemodels",
    "ClusterServingRuntime": "clusterservingruntimes",
}
POD_LABEL = "ome.io/inferenceservice"  # OME's label on the pods of an InferenceService
COMPONENT_LABEL, ENGINE = "component", "engine"
RUNNER_CONTAINER = "ome-container"
LOG_NAME = "engine.log"
REQUEST_TIMEOUT_S = 30
SA_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
# Ready=False reasons and pod states that no amount of waiting fixes.
TERMINAL_REASON = re.compile(r"fail|error|invalid|crashloop", re.IGNORECASE)
TERMINAL_TRANSITIONS = frozenset({"BlockedByFailedLoad", "InvalidSpec"})


def label_value(text: str) -> str:
    """``text`` as a valid label value: [A-Za-z0-9._-], at most 63, alphanumeric ends."""
    return re.sub(r"[^A-Za-z0-9._-]", ".", text)[:63].strip("._-")


@dataclass
class OmeService:
    namespace: str
    name: str
    removed: bool = False
    monitor: dict | None = None  # the owned PodMonitor, when one was applied
    uid: str | None = None  # this incarnation's uid: Events of an earlier one are not its
    benchmark: dict | None = None  # the owned BenchmarkJob manifest, applied once ready
    bench_applied: bool = False
    warmed: bool = False  # the warm-up BenchmarkJob ran (once per engine)


def _message(exc: Exception) -> str:
    """The API server's own message from an ApiException, else the exception's text."""
    body = getattr(exc, "body", None)
    try:
        return json.loads(body)["message"]
    except (TypeError, ValueError, KeyError):
        status = getattr(exc, "status", None)
        return f"{status} {getattr(exc, 'reason', '')}".strip() if status else str(exc)


def _failure(exc: Exception, doing: str) -> TrialFailure:
    status = getattr(exc, "status", None)
    text = f"Kubernetes API {doing}: {_message(exc)}"
    if status in (400, 422) or signals.webhook_denial(exc):  # a webhook's 403: the spec
        return ConfigFailure(text)
    return InfraFailure(text)


def _condition(obj: dict, kind: str) -> dict | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return cond
    return None


def _describe(cond: dict | None) -> str:
    if not cond:
        return "no Ready condition yet"
    parts = [cond.get("reason"), cond.get("message")]
    return f"Ready={cond.get('status')}: " + " - ".join(p for p in parts if p)


def made_for(obj: dict, experiment: str) -> bool:
    """Whether tuneops created ``obj`` (it carries the owner annotation) for
    ``experiment`` (the experiment label render puts on what it generates)."""
    meta = obj.get("metadata") or {}
    return bool((meta.get("annotations") or {}).get(OWNER_LABEL)) and bool(experiment) and \
        (meta.get("labels") or {}).get(EXPERIMENT_LABEL) == experiment


class OmeBackend(ClusterBenchmarks):
    name: ClassVar[str] = "ome"
    records_runner: ClassVar[bool] = False  # OME objects carry the owner, not the runner

    def __init__(
        self, api_client: Any = None, namespaces: tuple[str, ...] = (), grace_s: int = 30,
        benchmark_in: str = "cluster", gpu_product_label: str = "nvidia.com/gpu.product",
        reader_image: str = "busybox:1.36", poll_s: float = 2.0,
    ) -> None:
        self._api = api_client
        self._namespaces = tuple(namespaces)
        self.grace_s = grace_s
        self.benchmark_in = benchmark_in
        self.gpu_product_label = gpu_product_label
        self.reader_image = reader_image
        self.poll_s = poll_s
        self._applied: set[str] = set()
        self._created: list[tuple[str, str]] = []  # cluster-scoped (plural, name) of this run
        self._lock = threading.Lock()

    # -- the client ------------------------------------------------------------------------

    @property
    def api(self) -> Any:
        """The ApiClient: given, else from $KUBECONFIG (read now) or the in-cluster config."""
        if self._api is None:
            from kubernetes import client, config

            configuration = client.Configuration()
            try:
                if os.environ.get("KUBERNETES_SERVICE_HOST") and not os.environ.get(
                    "KUBECONFIG"
                ):
                    config.load_incluster_config(client_configuration=configuration)
                else:
                    config.load_kube_config(
                        config_file=os.environ.get("KUBECONFIG") or None,
                        client_configuration=configuration, persist_config=False,
                    )
            except config.ConfigException as e:
                raise InfraFailure(f"no Kubernetes cluster configured: {e}") from e
            self._api = client.ApiClient(configuration)
        return self._api

    @property
    def objects(self) -> Any:
        from kubernetes import client

        return client.CustomObjectsApi(self.api)

    @property
    def core(self) -> Any:
        from kubernetes import client

        return client.CoreV1Api(self.api)

    def _call(self, doing: str, fn, *args, ok: tuple[int, ...] = (), **kwargs) -> Any:
        """One API call; its errors become trial failures, except the HTTP statuses in
        ``ok``, which are returned (as an int) instead of the response."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            return fn(*args, _request_timeout=REQUEST_TIMEOUT_S, **kwargs)
        except ApiException as e:
            if e.status in ok:
                return int(e.status)
            raise _failure(e, doing) from e
        except (HTTPError, OSError) as e:
            raise InfraFailure(f"Kubernetes API {doing}: {e}") from e

    # -- start -----------------------------------------------------------------------------

    def _apply_shared(self, manifest: dict, owner: str) -> None:
        """Create a cluster-scoped object, owned (labelled and annotated) by this run; one
        that exists is brought to the manifest only when an earlier run of the same
        experiment created it. Anything else of that name is not tuneops' to change: the
        trial fails as a config failure and the object is left as it is."""
        plural = CLUSTER_PLURALS[manifest["kind"]]
        name = manifest["metadata"]["name"]
        key = json.dumps(manifest, sort_keys=True)
        with self._lock:
            if key in self._applied:
                return
            manifest = copy.deepcopy(manifest)
            meta = manifest["metadata"]
            meta["labels"] = {**(meta.get("labels") or {}), OWNER_LABEL: label_value(owner)}
            meta["annotations"] = {**(meta.get("annotations") or {}), OWNER_LABEL: owner}
            created = self._call(f"creating {manifest['kind']} {name}",
                                 self.objects.create_cluster_custom_object,
                                 GROUP, VERSION, plural, manifest, ok=(409,))
            if created == 409:
                existing = self._call(f"reading {manifest['kind']} {name}",
                                      self.objects.get_cluster_custom_object,
                                      GROUP, VERSION, plural, name)
                experiment = (meta.get("labels") or {}).get(EXPERIMENT_LABEL, "")
                if not made_for(existing, experiment):
                    raise ConfigFailure(
                        f"{manifest['kind']} {name} exists and was not created by tuneops for "
                        f"{experiment}: tuneops never changes an object it did not create "
                        "(left as it is). Name it in the experiment instead of generating it "
                        "(deployment.ome.runtime / baseModel), or delete it")
                patch = {"metadata": {"labels": meta["labels"],
                                      "annotations": meta["annotations"]},
                         "spec": manifest["spec"]}
                self._call(f"updating {manifest['kind']} {name}",
                           self.objects.patch_cluster_custom_object,
                           GROUP, VERSION, plural, name, patch)
            self._created.append((plural, name))
            self._applied.add(key)

    def _runtime_tolerations(self, manifest: dict) -> None:
        """Add the named runtime's tolerations to the service's own: OME merges the
        service's engine over the runtime's with a strategic merge patch
        (pkg/controller/v1beta1/inferenceservice/utils/merging.go:105-121), and a PodSpec's
        tolerations carry no patch merge key, so the service's list would replace the
        runtime's (k8s.io/api core/v1 PodSpec.Tolerations)."""
        engine = manifest["spec"].get("engine") or {}
        runtime = (manifest["spec"].get("runtime") or {}).get("name")
        if not engine.get("tolerations") or not runtime:
            return
        found = self._call(f"reading ClusterServingRuntime {runtime}",
                           self.objects.get_cluster_custom_object, GROUP, VERSION,
                           CLUSTER_PLURALS["ClusterServingRuntime"], runtime, ok=(403, 404))
        if isinstance(found, int):
            return
        theirs = ((found.get("spec") or {}).get("engineConfig") or {}).get("tolerations") or []
        engine["tolerations"] = [*theirs, *(t for t in engine["tolerations"] if t not in theirs)]

    def preflight(self, exp: Any) -> list:
        """What the cluster lacks for this experiment (preflight.py), one Diagnostic each."""
        from tuneops.deployments.ome import preflight

        return preflight.problems(self, exp)

    def close(self) -> None:
        """Delete the cluster-scoped objects this backend created (end of the run)."""
        with self._lock:
            created, self._created = self._created, []
        for plural, name in reversed(created):
            self._call(f"deleting {plural}/{name}", self.objects.delete_cluster_custom_object,
                       GROUP, VERSION, plural, name, ok=(404,))
        self._applied.clear()

    def _owned(self, manifest: dict, launch: Launch) -> dict:
        """A copy of ``manifest`` with the owner annotation and the owner/trial labels."""
        manifest = copy.deepcopy(manifest)
        meta = manifest.setdefault("metadata", {})
        meta.setdefault("namespace", self._default_namespace())
        meta["labels"] = {**(meta.get("labels") or {}), OWNER_LABEL: label_value(launch.owner),
                          TRIAL_LABEL: label_value(launch.trial_id)}
        meta["annotations"] = {**(meta.get("annotations") or {}), OWNER_LABEL: launch.owner}
        return manifest

    def service_manifest(self, launch: Launch) -> dict:
        """The trial's InferenceService with the owner annotation and labels added."""
        if "InferenceService" not in launch.spec:
            raise ConfigFailure(f"trial {launch.trial_id} has no rendered InferenceService")
        return self._owned(launch.spec["InferenceService"], launch)

    def start(self, launch: Launch) -> Deployment:
        for kind in CLUSTER_PLURALS:
            if kind in launch.spec:
                self._apply_shared(launch.spec[kind], launch.owner)
        manifest = self.service_manifest(launch)
        if "ClusterServingRuntime" not in launch.spec:  # a runtime tuneops did not make
            self._runtime_tolerations(manifest)
        namespace, name = manifest["metadata"]["namespace"], manifest["metadata"]["name"]
        existing = self._get(namespace, name)
        if existing is not None:  # a killed run's copy of this trial: start afresh
            trial = (existing["metadata"].get("labels") or {}).get(TRIAL_LABEL)
            if trial != manifest["metadata"]["labels"][TRIAL_LABEL]:
                raise ConfigFailure(
                    f"InferenceService {namespace}/{name} exists and was not started by tuneops"
                )
            self._delete(namespace, name)
            self._wait_deleted(namespace, name)
        created = self._call(f"creating InferenceService {namespace}/{name}",
                             self.objects.create_namespaced_custom_object,
                             GROUP, VERSION, namespace, ISVC, manifest)
        uid = ((created or {}).get("metadata") or {}).get("uid") if isinstance(
            created, dict) else None
        job = launch.spec.get("BenchmarkJob") if self.benchmark_in == "cluster" else None
        handle = OmeService(namespace, name, uid=uid,
                            benchmark=self._owned(job, launch) if job else None)
        if "PodMonitor" in launch.spec:
            handle.monitor = self._apply_monitor(self._owned(launch.spec["PodMonitor"], launch))
        return Deployment(launch, "", handle)

    def _apply_monitor(self, monitor: dict) -> dict:
        """Create the trial's PodMonitor (an earlier attempt's is replaced)."""
        meta = monitor["metadata"]
        doing = f"creating PodMonitor {meta['namespace']}/{meta['name']}"
        if self._call(doing, self.objects.create_namespaced_custom_object, MONITOR_GROUP,
                      MONITOR_VERSION, meta["namespace"], MONITORS, monitor, ok=(409,)) == 409:
            self._delete_monitor(meta["namespace"], meta["name"])
            self._call(doing, self.objects.create_namespaced_custom_object, MONITOR_GROUP,
                       MONITOR_VERSION, meta["namespace"], MONITORS, monitor)
        return monitor

    def _delete_monitor(self, namespace: str, name: str) -> None:
        self._call(f"deleting PodMonitor {namespace}/{name}",
                   self.objects.delete_namespaced_custom_object, MONITOR_GROUP,
                   MONITOR_VERSION, namespace, MONITORS, name, ok=(404,))

    # -- health ----------------------------------------------------------------------------

    def _get(self, namespace: str, name: str) -> dict | None:
        obj = self._call(f"reading InferenceService {namespace}/{name}",
                         self.objects.get_namespaced_custom_object,
                         GROUP, VERSION, namespace, ISVC, name, ok=(404,))
        return None if obj == 404 else obj

    def _terminal(self, obj: dict, handle: OmeService) -> signals.Signal | None:
        """Why the service can never become ready (None while it still may): OME's
        modelStatus and Ready condition, its Warning Events, the pods' states."""
        status = obj.get("status") or {}
        model = status.get("modelStatus") or {}
        if model.get("transitionStatus") in TERMINAL_TRANSITIONS:
            info = model.get("lastFailureInfo") or {}
            detail = f"{info.get('reason', '')} {info.get('message', '')}".strip()
            return signals.Signal(signals.CONFIG, f"{model['transitionStatus']}: {detail}",
                                  info.get("exitCode"))
        ready = _condition(obj, "Ready")
        if ready and ready.get("status") == "False" and TERMINAL_REASON.search(
            f"{ready.get('reason', '')} {ready.get('message', '')}"
        ):
            return signals.Signal(signals.CONFIG, _describe(ready))
        return signals.from_events(self._events(handle), handle.name, handle.uid) or \
            signals.from_pods(self._pods(handle))

    def _events(self, handle: OmeService) -> list:
        """The Events on the service (none where RBAC hides them: the status still tells)."""
        try:
            found = self._call(f"listing events of {handle.name}",
                               self.core.list_namespaced_event, handle.namespace,
                               field_selector=f"involvedObject.name={handle.name}")
        except TrialFailure:
            return []
        return list(found.items) if found and not isinstance(found, int) else []

    def wait_healthy(self, deployment: Deployment, timeout_s: float) -> None:
        handle: OmeService = deployment.handle
        deadline = time.monotonic() + timeout_s
        delay = health.FIRST_DELAY_S
        while True:
            obj = self._get(handle.namespace, handle.name)
            if obj is None:
                raise InfraFailure(f"InferenceService {handle.namespace}/{handle.name} vanished")
            ready = _condition(obj, "Ready")
            status = obj.get("status") or {}
            url = status.get("url") or (status.get("address") or {}).get("url")
            if ready and ready.get("status") == "True" and url:
                deployment.base_url = url.rstrip("/")
                break
            signal = self._terminal(obj, handle)
            if signal:
                logs = self._safe_logs(deployment)
                why = signal.why
                if signal.exit_code is not None:  # classified like a local engine's exit
                    exited = health.exit_failure(int(signal.exit_code), logs)
                    raise type(exited)(f"InferenceService {handle.name} failed: {why}; "
                                       f"{exited.reason}", logs)
                kind = ConfigFailure if signal.kind == signals.CONFIG else InfraFailure
                raise kind(f"InferenceService {handle.name} failed: {why}", logs)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise InfraFailure(
                    f"InferenceService {handle.namespace}/{handle.name} did not serve (not "
                    f"ready) within {timeout_s:g}s ({_describe(ready)})",
                    self._safe_logs(deployment),
                )
            time.sleep(min(delay, remaining))
            delay = min(delay * health.BACKOFF, health.MAX_DELAY_S)
        deployment.placement = self._placement(handle)
        if self.benchmark_in == "cluster":
            return  # measured in the cluster: OME's Ready is what counts
        # Ready in the cluster; it must also answer here, where genai-bench runs.
        health.wait_http_ok(
            deployment.base_url + deployment.launch.health_path,
            max(deadline - time.monotonic(), 5.0),
            exit_code=lambda: None, logs=lambda: self._safe_logs(deployment),
        )

    def _placement(self, handle: OmeService) -> dict[str, str]:
        """The node the engine pod runs on and that node's GPU product label (what the
        trial got, beside what the experiment declared); empty where RBAC hides it."""
        nodes = sorted({p.spec.node_name for p in self._pods(handle)
                        if p.spec and p.spec.node_name})
        if not nodes:
            return {}
        placement = {"node": ",".join(nodes)}
        products = []
        for node in nodes:
            try:
                found = self._call(f"reading node {node}", self.core.read_node, node)
            except TrialFailure:
                return placement
            label = (found.metadata.labels or {}).get(self.gpu_product_label)
            if label and label not in products:
                products.append(label)
        if products:
            placement["gpu_product"] = ",".join(products)
        return placement

    # -- logs ------------------------------------------------------------------------------

    def _pods(self, handle: OmeService) -> list:
        """The engine pods of the service (selectors are checked here too)."""
        try:
            found = self._call(f"listing pods of {handle.name}", self.core.list_namespaced_pod,
                               handle.namespace, label_selector=f"{POD_LABEL}={handle.name}")
        except TrialFailure:
            return []  # pods may be off limits (RBAC): the service status still tells
        pods = [p for p in (found.items if found else [])
                if (p.metadata.labels or {}).get(POD_LABEL) == handle.name]
        engine = [p for p in pods if (p.metadata.labels or {}).get(COMPONENT_LABEL) == ENGINE]
        return sorted(engine or pods, key=lambda p: p.metadata.name)

    def _pod_log(self, namespace: str, pod: str, container: str | None = RUNNER_CONTAINER) -> str:
        from kubernetes.client.exceptions import ApiException

        for name in dict.fromkeys((container, None)):
            try:
                resp = self.core.read_namespaced_pod_log(
                    pod, namespace, container=name, _preload_content=False,
                    _request_timeout=REQUEST_TIMEOUT_S,
                )
                return resp.data.decode(errors="replace")
            except ApiException as e:
                if e.status != 400:  # 400: no such container; try the pod's only one
                    raise _failure(e, f"reading logs of {pod}") from e
        return ""

    def logs(self, deployment: Deployment) -> str:
        handle: OmeService = deployment.handle
        saved = deployment.launch.log_dir / LOG_NAME
        if handle.removed:
            return saved.read_text(errors="replace") if saved.exists() else ""
        pods = self._pods(handle)
        if len(pods) == 1:
            return self._pod_log(handle.namespace, pods[0].metadata.name)
        return "".join(
            f"==> {p.metadata.name} <==\n" + self._pod_log(handle.namespace, p.metadata.name)
            for p in pods
        )

    def _safe_logs(self, deployment: Deployment) -> str:
        try:
            return health.tail(self.logs(deployment))
        except Exception:  # noqa: BLE001 - logs only decorate a failure
            return ""

    # -- stop and reap ---------------------------------------------------------------------

    def _delete(self, namespace: str, name: str) -> None:
        self._call(f"deleting InferenceService {namespace}/{name}",
                   self.objects.delete_namespaced_custom_object,
                   GROUP, VERSION, namespace, ISVC, name,
                   propagation_policy="Foreground", ok=(404,))

    def _wait_deleted(self, namespace: str, name: str) -> None:
        deadline = time.monotonic() + self.grace_s
        while self._get(namespace, name) is not None and time.monotonic() < deadline:
            time.sleep(0.5)

    def stop(self, deployment: Deployment) -> None:
        handle: OmeService = deployment.handle
        if handle.removed:
            return
        text = self._safe_logs_full(deployment)
        deployment.launch.log_dir.mkdir(parents=True, exist_ok=True)
        (deployment.launch.log_dir / LOG_NAME).write_text(secrets.redact(text))
        if handle.benchmark is not None and handle.bench_applied:  # stopped while measuring
            meta = handle.benchmark["metadata"]
            self._delete_benchmark(meta["namespace"], meta["name"])
            handle.bench_applied = False
        if handle.monitor is not None:
            meta = handle.monitor["metadata"]
            self._delete_monitor(meta["namespace"], meta["name"])
        self._delete(handle.namespace, handle.name)
        self._wait_deleted(handle.namespace, handle.name)
        handle.removed = True

    def _safe_logs_full(self, deployment: Deployment) -> str:
        try:
            return self.logs(deployment)
        except TrialFailure:
            return ""

    def _default_namespace(self) -> str:
        """The first namespace given, else the kubeconfig context's (or the pod's own)."""
        if self._namespaces:
            return self._namespaces[0]
        from kubernetes import config

        if os.environ.get("KUBERNETES_SERVICE_HOST") and not os.environ.get("KUBECONFIG"):
            try:
                return Path(SA_NAMESPACE).read_text().strip() or "default"
            except OSError:
                return "default"
        try:
            _, active = config.list_kube_config_contexts(os.environ.get("KUBECONFIG") or None)
        except config.ConfigException:
            return "default"
        return (active or {}).get("context", {}).get("namespace") or "default"

    def reap(self, owner_prefix: str, live: bool = False) -> list[str]:
        """Delete what a run with this owner prefix left: its InferenceServices (the trials
        returned), BenchmarkJobs, PodMonitors, result reader pods and the cluster-scoped
        runtime and base model it created, matched by the owner annotation
        (OME records no runner, so `live` changes nothing: callers name their own run)."""
        reaped = []

        def owned(meta: dict) -> bool:
            return (meta.get("annotations") or {}).get(OWNER_LABEL, "").startswith(owner_prefix)

        for namespace in self._namespaces or (self._default_namespace(),):
            for plural in (BJ, ISVC):
                found = self._call(f"listing {plural} in {namespace}",
                                   self.objects.list_namespaced_custom_object,
                                   GROUP, VERSION, namespace, plural,
                                   label_selector=OWNER_LABEL, ok=(404,))  # 404: no CRD (yet)
                for obj in ([] if found == 404 else found["items"]):
                    meta = obj.get("metadata") or {}
                    if not owned(meta):
                        continue
                    if plural == BJ:
                        self._delete_benchmark(namespace, meta["name"])
                        continue
                    self._delete(namespace, meta["name"])
                    reaped.append((meta.get("labels") or {}).get(TRIAL_LABEL, meta["name"]))
            found = self._call(f"listing podmonitors in {namespace}",
                               self.objects.list_namespaced_custom_object, MONITOR_GROUP,
                               MONITOR_VERSION, namespace, MONITORS,
                               label_selector=OWNER_LABEL, ok=(403, 404))  # no operator
            for obj in ([] if isinstance(found, int) else found["items"]):
                if owned(obj.get("metadata") or {}):
                    self._delete_monitor(namespace, obj["metadata"]["name"])
            pods = self._call(f"listing pods in {namespace}", self.core.list_namespaced_pod,
                              namespace, label_selector=READER_LABEL, ok=(403, 404))
            for pod in ([] if isinstance(pods, int) else pods.items):
                meta = pod.metadata
                if (meta.labels or {}).get(READER_LABEL) and owned(
                        {"annotations": meta.annotations}):
                    self._call(f"deleting pod {meta.name}", self.core.delete_namespaced_pod,
                               meta.name, namespace, ok=(404,))
        for plural in CLUSTER_PLURALS.values():  # the runtime and base model it created
            found = self._call(f"listing {plural}", self.objects.list_cluster_custom_object,
                               GROUP, VERSION, plural, label_selector=OWNER_LABEL,
                               ok=(403, 404))
            for obj in ([] if isinstance(found, int) else found["items"]):
                meta = obj.get("metadata") or {}
                if owned(meta):
                    self._call(f"deleting {plural}/{meta['name']}",
                               self.objects.delete_cluster_custom_object,
                               GROUP, VERSION, plural, meta["name"], ok=(404,))
        return reaped
