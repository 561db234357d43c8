"""The cluster checked before the first trial starts: what would otherwise show up only as
a trial that never becomes ready (or a BenchmarkJob that never starts), found in one pass
of a few reads, each problem one line with its fix.

- The base model the trials serve: it exists, is Ready (OME's model agent finished the
  download; until then OME gives the pods a `models.ome.io/clusterbasemodel.<name>=Ready`
  node selector, pkg/controller/v1beta1/inferenceservice/utils/utils.go:110-135
  AddNodeSelectorForModelReadyNode, and they stay Pending) and has `storage.path` (a
  BenchmarkJob needs it, pkg/controller/v1beta1/benchmark/utils/utils.go:68-75).
- The runtime serves that model by OME's matcher (matcher.py), for a named runtime read
  from the cluster as for a generated one: OME itself would only record a
  RuntimeValidationError Event (inferenceservice/controller.go:229-238).
- The result claim of a `pvc://` location exists in the BenchmarkJob's namespace
  (benchmark/controller.go:375-382 fails the job without it).
- Nodes carry the GPU product label the trials' required affinity names, with enough
  allocatable GPUs for one trial and for `gpuBudget` (kube-scheduler's NodeAffinity and
  NodeResourcesFit filters, kubernetes.io/docs/concepts/scheduling-eviction/
  assign-pod-node and .../resource-bin-packing).
- OME's admission webhooks answer: their configurations exist (config/webhook/
  manifests.yaml:58-83, 166-191) and their Service has a ready endpoint; with
  `failurePolicy: Fail` the API server refuses every InferenceService otherwise
  (kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers).
- A cluster-scoped object tuneops would create exists and is not tuneops' (backend.py
  never patches it).

A read that RBAC forbids (403) is skipped: the trial's own failure signals still tell.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tuneops.deployments.common.backend import TrialFailure
from tuneops.deployments.ome import render as ome
from tuneops.deployments.ome import results as ome_results
from tuneops.deployments.ome.matcher import runtime_mismatches
from tuneops.deployments.ome.options import ome_options

from tuneops.errors import Diagnostic
from tuneops.spec import Experiment

if TYPE_CHECKING:
    from tuneops.deployments.ome.backend import OmeBackend

GROUP, VERSION = "ome.io", "v1beta1"
# config/webhook/manifests.yaml:58-83 and 166-191 (OME 17b77eda): the validating webhooks
# an InferenceService and a BenchmarkJob pass
WEBHOOKS = ("inferenceservice.ome.io", "benchmarkjob.ome.io")
UNREADABLE = (403, 404)  # forbidden to us, or (in an emulator) a kind with no objects yet


def _get(backend: OmeBackend, doing: str, fn, *args) -> Any:
    """The object, or None where it does not exist; 403 gives the sentinel ``...``."""
    found = backend._call(doing, fn, *args, ok=UNREADABLE)
    if found == 404:
        return None
    if found == 403:
        return ...
    return found


class Checks:
    """One pass over the cluster for one experiment; ``problems`` collects the lines."""

    def __init__(self, backend: OmeBackend, exp: Experiment) -> None:
        self.backend, self.exp, self.options = backend, exp, ome_options(exp)
        self.found: list[Diagnostic] = []

    def problem(self, path: str, message: str, fix: str) -> None:
        self.found.append(Diagnostic(self.exp.source_file, 0, 0, path, message, fix))

    # -- shared objects ------------------------------------------------------------------

    def _cluster_object(self, plural: str, name: str) -> Any:
        return _get(self.backend, f"reading {plural}/{name}",
                    self.backend.objects.get_cluster_custom_object,
                    GROUP, VERSION, plural, name)

    def _not_ours(self, kind: str, plural: str, name: str, path: str, fix: str) -> None:
        from tuneops.deployments.ome.backend import made_for

        existing = self._cluster_object(plural, name)
        if isinstance(existing, dict) and not made_for(existing, self.exp.name):
            self.problem(path, f"{kind} {name} exists and was not created by tuneops for "
                         f"{self.exp.name}: tuneops never changes an object it did not create",
                         fix)

    def base_model(self) -> dict | None:
        """The base model's spec as the trials will see it (None: unknown)."""
        name = ome.base_model_name(self.exp)
        path = "deployment.ome.baseModel"
        if self.options.generate_base_model is not None:
            self._not_ours("ClusterBaseModel", "clusterbasemodels", name,
                           "deployment.ome.generateBaseModel",
                           "name it in deployment.ome.baseModel without generateBaseModel, "
                           "or delete it")
            return ome.agent_filled_model(self.exp)  # OME fills it after tuneops creates it
        model = self._cluster_object("clusterbasemodels", name)
        if model is ...:
            return None
        if model is None:
            self.problem(path, f"ClusterBaseModel {name} does not exist",
                         "create it (kubectl get clusterbasemodels lists those there), or "
                         "let tuneops create it: deployment.ome.generateBaseModel")
            return None
        spec, status = model.get("spec") or {}, model.get("status") or {}
        if status.get("state") != "Ready":
            self.problem(path, f"ClusterBaseModel {name} is not Ready (state "
                         f"{status.get('state') or 'none'}): OME schedules a trial only on "
                         "nodes where the model is downloaded",
                         f"wait for the download (kubectl get clusterbasemodel {name} -w), "
                         "or look at the model agent's logs")
        if not (spec.get("storage") or {}).get("path"):
            self.problem(path, f"ClusterBaseModel {name} has no storage.path: OME's "
                         "BenchmarkJob needs it for the tokenizer and never starts without it",
                         f"set spec.storage.path of ClusterBaseModel {name}")
        return spec

    def runtime(self, model: dict | None) -> None:
        if self.options.generate_runtime:
            name = ome.runtime_name(self.exp)
            self._not_ours("ClusterServingRuntime", "clusterservingruntimes", name,
                           "deployment.ome.generateRuntime",
                           "name it in deployment.ome.runtime instead, or delete it")
            runtime = ome.runtime_matching(self.exp)
        else:
            name = self.options.runtime
            found = self._cluster_object("clusterservingruntimes", name)
            if found is ...:
                return
            if found is None:
                self.problem("deployment.ome.runtime",
                             f"ClusterServingRuntime {name} does not exist",
                             "kubectl get clusterservingruntimes lists those there; or "
                             "deployment.ome.generateRuntime: true")
                return
            runtime = found.get("spec") or {}
        if model is None or "modelFormat" not in model:
            return  # not filled yet by OME's agent: nothing to match against
        for reason in runtime_mismatches(runtime, model):
            self.problem("deployment.ome.runtime" if self.options.runtime else
                         "deployment.ome.modelMetadata",
                         f"OME would not serve base model {ome.base_model_name(self.exp)} "
                         f"with runtime {name}: {reason} (OME's matcher, "
                         "pkg/runtimeselector/matcher.go:302-358)",
                         "pick a runtime whose supportedModelFormats list the model's, or "
                         "make modelMetadata say what the model's config.json says")

    # -- where the trials run ------------------------------------------------------------

    def claim(self) -> None:
        uri = self.options.storage_uri or ""
        if self.options.benchmark_in != "cluster" or not uri.startswith("pvc://"):
            return
        loc = ome_results.location(uri, None)
        namespace = self.options.namespace
        found = _get(self.backend, f"reading claim {loc.container}",
                     self.backend.core.read_namespaced_persistent_volume_claim,
                     loc.container, namespace)
        if found is None:
            self.problem("deployment.ome.benchmarkStorageUri",
                         f"PersistentVolumeClaim {loc.container} does not exist in namespace "
                         f"{namespace}, where OME mounts it into each BenchmarkJob",
                         f"create it in {namespace} (kubectl -n {namespace} get pvc)")

    def nodes(self) -> None:
        need = self.exp.gpus_per_trial if ome._gpu_resources(self.exp) else 0
        if not need:
            return
        found = self.backend._call("listing nodes", self.backend.core.list_node,
                                   ok=UNREADABLE)
        if found == 403:
            return
        items = [] if found == 404 else found.items
        label, products = self.options.gpu_product_label, ome.gpu_products(self.exp)
        fitting = []
        for node in items:
            value = (node.metadata.labels or {}).get(label)
            if value is None or (products and value not in products):
                continue
            allocatable = (node.status.allocatable or {}) if node.status else {}
            fitting.append(int(allocatable.get(ome.GPU_RESOURCE, 0) or 0))
        wanted = f"{label} in ({', '.join(products)})" if products else f"label {label}"
        if not fitting:
            self.problem("deployment.gpus.type",
                         f"no node has {wanted}: every trial would stay Pending "
                         "(Unschedulable)",
                         "label the GPU nodes (NVIDIA GPU feature discovery sets "
                         "nvidia.com/gpu.product), or set deployment.ome.gpuProductLabel / "
                         "gpuProducts to what the nodes carry (kubectl get nodes -L "
                         f"{label})")
            return
        if max(fitting) < need:
            self.problem("deployment.gpus.count",
                         f"no node with {wanted} has {need} allocatable {ome.GPU_RESOURCE} "
                         f"(most: {max(fitting)})", "lower deployment.gpus.count")
            return
        budget = self.options.gpu_budget or need
        usable = sum(n - n % need for n in fitting)  # whole trials per node
        if usable < budget:
            self.problem("deployment.ome.gpuBudget",
                         f"gpuBudget {budget} needs {budget} {ome.GPU_RESOURCE} on nodes with "
                         f"{wanted}; they have {usable} usable in trials of {need}",
                         f"lower deployment.ome.gpuBudget to {usable}")

    def webhooks(self) -> None:
        from kubernetes import client

        admission = client.AdmissionregistrationV1Api(self.backend.api)
        services: dict[tuple[str, str], list[str]] = {}  # one Service serves them all
        for name in WEBHOOKS:
            found = _get(self.backend, f"reading webhook {name}",
                         admission.read_validating_webhook_configuration, name)
            if found is ...:
                continue
            if found is None:
                self.problem("deployment.mode",
                             f"OME's admission webhook {name} is not installed",
                             "install OME with its webhooks (kubectl get "
                             "validatingwebhookconfigurations)")
                continue
            for hook in found.webhooks or []:
                service = hook.client_config.service if hook.client_config else None
                if service is not None:
                    services.setdefault((service.namespace, service.name), []).append(name)
        for (namespace, service), names in services.items():
            self._answers(" and ".join(dict.fromkeys(names)), namespace, service)

    def _answers(self, webhook: str, namespace: str, name: str) -> None:
        endpoints = _get(self.backend, f"reading endpoints {namespace}/{name}",
                         self.backend.core.read_namespaced_endpoints, name, namespace)
        if endpoints is ...:
            return
        ready = [a for s in ((endpoints.subsets or []) if endpoints else [])
                 for a in (s.addresses or [])]
        if not ready:
            self.problem("deployment.mode",
                         f"OME's webhooks {webhook} do not answer: Service "
                         f"{namespace}/{name} has no ready endpoint, and the API server "
                         "refuses every InferenceService (failurePolicy: Fail)",
                         f"start OME's controller manager (kubectl -n {namespace} get pods)")


def problems(backend: OmeBackend, exp: Experiment) -> list[Diagnostic]:
    """Every problem the cluster has for this experiment, one Diagnostic each."""
    checks = Checks(backend, exp)
    try:
        checks.runtime(checks.base_model())
        checks.claim()
        checks.nodes()
        checks.webhooks()
    except TrialFailure as e:  # the API server itself: unreachable, 5xx, no kubeconfig
        checks.problem("deployment.mode", f"cannot read the cluster: {e.reason}",
                       "check $KUBECONFIG and that the API server answers (kubectl get ns)")
    return checks.found
