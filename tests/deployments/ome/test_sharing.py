"""Cluster-scoped objects are shared with everyone on the cluster: tuneops creates its
generated runtime and base model owned by the run, deletes them at the run's end, and
never changes one it did not create. A named runtime's tolerations are kept beside the
experiment's (OME's strategic merge would let the service's list replace them), and the
stand-in's scheduler places the pod only where both reach it."""

from __future__ import annotations

import pytest
from tuneops.deployments.common.backend import OWNER_LABEL, ConfigFailure

from tests.deployments.ome.test_backend import (  # noqa: F401
    EXAMPLE,
    GROUP,
    NS,
    VERSION,
    _backend,
    _launch,
    _requests,
    _stored,
    exp,
    kube,
)
from tests.ome_standin import OmeStandIn, model_label, seed_cluster
from tuneops import spec, yamlio
from tuneops.plan import make_plan

RUNTIMES, MODELS = "clusterservingruntimes", "clusterbasemodels"


@pytest.mark.parametrize("kind", ["ClusterServingRuntime", "ClusterBaseModel"])
def test_a_foreign_object_of_the_same_name_is_refused_and_left_untouched(
        server, kube, exp, tmp_path, kind):  # noqa: F811
    doc = yamlio.to_plain(yamlio.load(exp.source_file))
    doc["deployment"]["ome"]["generateBaseModel"] = {"path": "/raid/m"}
    exp = spec.from_document(doc)
    launch = _launch(exp, make_plan(exp).trials[0], tmp_path)
    plural = RUNTIMES if kind == "ClusterServingRuntime" else MODELS
    name = launch.spec[kind]["metadata"]["name"]
    theirs = {"apiVersion": f"{GROUP}/{VERSION}", "kind": kind,
              "metadata": {"name": name, "labels": {"team": "platform"}}, "spec": {}}
    kube[0].create_cluster_custom_object(GROUP, VERSION, plural, theirs)
    with pytest.raises(ConfigFailure, match=f"{kind} {name} exists and was not created by"):
        _backend(exp).start(launch)
    stored = kube[0].get_cluster_custom_object(GROUP, VERSION, plural, name)
    assert stored["spec"] == {} and stored["metadata"]["labels"] == {"team": "platform"}
    assert _requests(server, "PATCH", f"/{plural}/") == 0


def test_what_a_run_created_is_owned_and_deleted_at_its_end(server, kube, exp, tmp_path):  # noqa: F811
    backend = _backend(exp)
    launch = _launch(exp, make_plan(exp).trials[0], tmp_path)
    backend.start(launch)
    name = launch.spec["ClusterServingRuntime"]["metadata"]["name"]
    stored = kube[0].get_cluster_custom_object(GROUP, VERSION, RUNTIMES, name)
    assert stored["metadata"]["annotations"][OWNER_LABEL] == launch.owner
    backend.close()
    assert kube[0].list_cluster_custom_object(GROUP, VERSION, RUNTIMES)["items"] == []


def test_reap_deletes_a_killed_runs_runtime_only(server, kube, exp, tmp_path):  # noqa: F811
    _backend(exp).start(_launch(exp, make_plan(exp).trials[0], tmp_path,
                                owner="llama8b-ome-tp/run-killed"))
    assert _backend(exp).reap("someone-else/") == []
    assert len(kube[0].list_cluster_custom_object(GROUP, VERSION, RUNTIMES)["items"]) == 1
    _backend(exp).reap("llama8b-ome-tp/run-killed")
    assert kube[0].list_cluster_custom_object(GROUP, VERSION, RUNTIMES)["items"] == []


def test_a_named_runtimes_tolerations_are_kept_beside_the_experiments(server, kube, tmp_path):  # noqa: F811
    doc = yamlio.to_plain(yamlio.load(EXAMPLE))
    ome = doc["deployment"]["ome"]
    del ome["generateRuntime"], ome["modelMetadata"]
    ome["runtime"] = "srt-llama"
    ome["tolerations"] = [{"key": "tuning", "operator": "Exists", "effect": "NoSchedule"}]
    named = spec.from_document(doc)
    gpu = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    kube[0].create_cluster_custom_object(GROUP, VERSION, RUNTIMES, {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "ClusterServingRuntime",
        "metadata": {"name": "srt-llama"},
        "spec": {"engineConfig": {"tolerations": [gpu], "runner": {"name": "x"}}}})
    deployment = _backend(named).start(_launch(named, make_plan(named).trials[0], tmp_path))
    engine = _stored(kube, deployment.handle.name)["spec"]["engine"]
    assert engine["tolerations"] == [gpu, ome["tolerations"][0]]
    assert _requests(server, "PATCH", f"/{RUNTIMES}/") == 0
    # where it lands: on the only node, tainted for both, as OME's merged pod would
    stored = _stored(kube, deployment.handle.name)
    place = _scheduler(kube, tmp_path, stored["spec"]["model"]["name"])
    assert place(stored) == ("gpu-a", "")
    # what it would get had the runtime's list been replaced, or the experiment's dropped
    mine = {**stored, "spec": {**stored["spec"], "engine": {**engine, "tolerations": [
        ome["tolerations"][0]]}}}
    assert "untolerated taint {nvidia.com/gpu: }" in place(mine)[1]
    dropped = {**stored, "spec": {**stored["spec"], "engine": {
        k: v for k, v in engine.items() if k != "tolerations"}}}
    assert "untolerated taint {tuning: }" in place(dropped)[1]


def _scheduler(kube, tmp_path, model: str):  # noqa: F811
    """The stand-in's scheduler (tests/ome_standin.py) over one H100 node that has the
    model, tainted as a GPU operator taints it and as a team reserves it: (node, why not)."""
    standin = OmeStandIn(None, tmp_path / "kubeconfig", NS, tmp_path / "pvcs",
                         nodes={"gpu-a": "NVIDIA-H100-80GB-HBM3"})
    seed_cluster(kube[1], NS, standin.nodes, claims=(), taints={"gpu-a": [
        {"key": "nvidia.com/gpu", "effect": "NoSchedule"},
        {"key": "tuning", "effect": "NoSchedule"}]})
    kube[1].patch_node("gpu-a", {"metadata": {"labels": {model_label(model): "Ready"}}})
    return lambda isvc: standin._place(isvc)[::2]
