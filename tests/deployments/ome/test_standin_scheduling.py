"""The stand-in places engine pods as kube-scheduler would for OME's pods: by the node's
taints and the pod's tolerations, the model-ready node selector OME adds, the required node
affinity on the GPU product label, the GPUs left of each node's allocatable, and among the
nodes that fit, the preferred node affinity; a pod that fits nowhere stays Pending with kube's
Unschedulable condition and FailedScheduling Event, and the backend names it in seconds."""

from __future__ import annotations

import pytest
from tuneops.deployments.common.backend import InfraFailure
from tuneops.deployments.registry import deployment_mode
from tuneops.runner.run import trial_launch

from tests.ome_standin import OmeStandIn, model_label, write_sim_experiment
from tuneops.plan import make_plan
from tuneops.validate import load_experiment

NODES = {"gpu-a": "NVIDIA-H100-80GB-HBM3", "gpu-b": "NVIDIA-L40S"}


def _isvc(name: str, gpus: int, products=("NVIDIA-H100-80GB-HBM3",), tolerations=(),
          prefer: str | None = None) -> dict:
    term = {"key": "nvidia.com/gpu.product", "operator": "In", "values": list(products)}
    affinity = {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [term]}]}}
    if prefer:  # a preferred term on the node's hostname label
        affinity["preferredDuringSchedulingIgnoredDuringExecution"] = [{
            "weight": 50, "preference": {"matchExpressions": [{
                "key": "kubernetes.io/hostname", "operator": "In", "values": [prefer]}]}}]
    return {"metadata": {"name": name}, "spec": {
        "model": {"name": "tiny-llama"},
        "engine": {"affinity": {"nodeAffinity": affinity}, "tolerations": list(tolerations),
                   "runner": {"resources": {"limits": {"nvidia.com/gpu": gpus}}}}}}


def _standin(server, tmp_path, **kwargs) -> OmeStandIn:
    return OmeStandIn(server, tmp_path / "kubeconfig", "tuneops", tmp_path / "pvcs",
                      nodes=NODES, **kwargs)


def test_placement_follows_the_selector_affinity_and_gpus_left(server, tmp_path):
    ome = _standin(server, tmp_path, gpus_per_node=4)
    with ome:
        for node in NODES:  # as the model agent labels a node that has the model
            ome.core.patch_node(node, {"metadata": {"labels": {
                model_label("tiny-llama"): "Ready"}}})
        assert ome._place(_isvc("a", 3))[0] == "gpu-a"  # the only H100
        ome.engines["a"] = type("E", (), {"node": "gpu-a", "gpus": 3})()
        node, _, why = ome._place(_isvc("b", 2))
        assert node is None
        assert why == ("0/2 nodes are available: 1 Insufficient nvidia.com/gpu, "
                       "1 node(s) didn't match Pod's node affinity/selector.")
        assert ome._place(_isvc("c", 1))[0] == "gpu-a"  # one GPU is left there
        assert ome._place(_isvc("d", 2, products=("NVIDIA-L40S",)))[0] == "gpu-b"
        ome.engines.clear()


def test_taints_keep_pods_off_and_preferred_affinity_chooses_among_the_rest(server, tmp_path):
    dedicated = {"key": "dedicated", "value": "infer", "effect": "NoSchedule"}
    ome = OmeStandIn(server, tmp_path / "kubeconfig", "tuneops", tmp_path / "pvcs",
                     nodes={"gpu-a": "NVIDIA-H100-80GB-HBM3", "gpu-b": "NVIDIA-H100-80GB-HBM3"},
                     taints={"gpu-a": [dedicated]})
    equal = {"key": "dedicated", "operator": "Equal", "value": "infer", "effect": "NoSchedule"}
    with ome:
        for node in ome.nodes:
            ome.core.patch_node(node, {"metadata": {"labels": {
                model_label("tiny-llama"): "Ready"}}})
        assert ome._place(_isvc("a", 1))[0] == "gpu-b"  # gpu-a's taint keeps it off
        assert ome._place(_isvc("b", 1, prefer="gpu-a"))[0] == "gpu-b"  # a preference is soft
        assert ome._place(_isvc("c", 1, tolerations=[equal], prefer="gpu-a"))[0] == "gpu-a"
        assert ome._place(_isvc("d", 1, tolerations=[equal]))[0] == "gpu-a"  # by name: a tie
        assert ome._place(_isvc("e", 1, tolerations=[equal], prefer="gpu-b"))[0] == "gpu-b"
        wrong = {**equal, "value": "train"}  # Equal compares the value too
        assert ome._place(_isvc("f", 1, tolerations=[wrong], prefer="gpu-a"))[0] == "gpu-b"
        anything = {"operator": "Exists"}  # an empty key with Exists tolerates every taint
        assert ome._place(_isvc("g", 1, tolerations=[anything], prefer="gpu-a"))[0] == "gpu-a"
        node, _, why = ome._place(_isvc("h", 1, products=("NVIDIA-L40S",)))
        assert node is None and why == ("0/2 nodes are available: 1 node(s) didn't match "
                                        "Pod's node affinity/selector, 1 node(s) had "
                                        "untolerated taint {dedicated: infer}.")


def test_without_the_model_on_any_node_the_trial_fails_unschedulable(server, tmp_path):
    exp = load_experiment(write_sim_experiment(tmp_path / "exp.yaml", "pvc://claim/x"))
    mode = deployment_mode("ome")
    backend = mode.backend(**mode.backend_options(exp), grace_s=2)
    trial = make_plan(exp).trials[0]
    launch = trial_launch(exp, trial, owner="sim-ome-e2e/run-1", gpus=(),
                          log_dir=tmp_path / "logs")
    with _standin(server, tmp_path, model_nodes=()) as ome:  # the agent has it nowhere
        deployment = backend.start(launch)
        with pytest.raises(InfraFailure) as failure:
            backend.wait_healthy(deployment, timeout_s=60)
        backend.stop(deployment)
        events = ome.core.list_namespaced_event("tuneops").items
        left = ome.wait_settled()
    assert ome.errors == [] and ome.served == [] and left == []
    assert "Unschedulable: 0/2 nodes are available: 2 node(s) didn't match Pod's node " \
           "affinity/selector." in failure.value.reason
    assert [e.reason for e in events if e.involved_object.kind == "Pod"] == ["FailedScheduling"]
