"""Cluster-scoped objects are shared with everyone on the cluster: tuneops creates its
generated runtime and base model owned by the run, deletes them at the run's end, and
never changes one it did not create. A named runtime's tolerations are kept beside the
experiment's (OME's strategic merge would let the service's list replace them)."""

from __future__ import annotations

import pytest
from tuneops.deployments.common.backend import OWNER_LABEL, ConfigFailure

from tests.deployments.ome.test_backend import (  # noqa: F401
    EXAMPLE,
    GROUP,
    VERSION,
    _backend,
    _launch,
    _requests,
    _stored,
    exp,
    kube,
)
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
