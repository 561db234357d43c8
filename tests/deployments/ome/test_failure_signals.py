"""A trial that will never serve fails in seconds, with the cluster's own words: OME's
Warning Events, the kubelet's and scheduler's pod states, an admission webhook's denial.
The shapes are the ones OME's controller and Kubernetes write (deployments/ome/signals.py
cites each); a failure is found long before the 30 s startup timeout given here, which
only a regression reaches."""

from __future__ import annotations

import json

import pytest
from kubernetes.client.exceptions import ApiException
from tuneops.deployments.common.backend import ConfigFailure, InfraFailure
from tuneops.deployments.ome import signals

from tests.deployments.ome.test_backend import (  # noqa: F401
    NS,
    _backend,
    _launch,
    _play_controller,
    _stored,
    exp,
    kube,
)
from tuneops.plan import make_plan

NOT_READY = {"conditions": [{"type": "Ready", "status": "False", "reason": "ComponentNotReady",
                             "lastTransitionTime": "2026-01-01T00:00:00Z"}]}


def _start(exp, tmp_path):  # noqa: F811
    backend = _backend(exp)
    deployment = backend.start(_launch(exp, make_plan(exp).trials[0], tmp_path))
    return backend, deployment


def test_omes_runtime_validation_event_is_a_config_failure(server, kube, exp, tmp_path):  # noqa: F811
    backend, deployment = _start(exp, tmp_path)
    name = deployment.handle.name
    # as pkg/controller/v1beta1/inferenceservice/controller.go:236 records it
    message = ("Runtime tuneops-llama8b-ome-tp does not support model llama-3-1-8b-instruct: "
               "model format 'mt:safetensors:1.0.0' not in supported formats")
    kube[1].create_namespaced_event(NS, {
        "apiVersion": "v1", "kind": "Event", "metadata": {"name": f"{name}.1", "namespace": NS},
        "involvedObject": {"apiVersion": "ome.io/v1beta1", "kind": "InferenceService",
                           "name": name, "namespace": NS},
        "type": "Warning", "reason": "RuntimeValidationError", "message": message,
        "source": {"component": "inferenceservice-controller"}})
    _play_controller(server, kube, name, NOT_READY, delay_s=0).join()
    with pytest.raises(ConfigFailure) as failure:
        backend.wait_healthy(deployment, timeout_s=30)
    assert "RuntimeValidationError" in failure.value.reason and message in failure.value.reason
    backend.stop(deployment)


def test_an_earlier_services_event_is_not_this_ones(server, kube, exp, tmp_path):  # noqa: F811
    backend, deployment = _start(exp, tmp_path)
    name = deployment.handle.name
    # A real API server gives the created object a uid (kmock's emulator does not): the
    # one this trial's service would have.
    deployment.handle.uid = "uid-of-this-one"
    kube[1].create_namespaced_event(NS, {
        "apiVersion": "v1", "kind": "Event", "metadata": {"name": f"{name}.0", "namespace": NS},
        "involvedObject": {"kind": "InferenceService", "name": name, "namespace": NS,
                           "uid": "an-earlier-one"},
        "type": "Warning", "reason": "RuntimeValidationError", "message": "old"})
    _play_controller(server, kube, name, NOT_READY, delay_s=0).join()
    with pytest.raises(InfraFailure) as failure:  # only the timeout ends it
        backend.wait_healthy(deployment, timeout_s=1)
    assert "did not serve" in failure.value.reason
    backend.stop(deployment)


@pytest.mark.parametrize(("case", "failure", "expected"), [
    ("image", ConfigFailure, "ImagePullBackOff: Back-off pulling image"),
    ("oom", ConfigFailure, "OOMKilled (exit 137)"),
    ("unschedulable", InfraFailure, "Unschedulable: 0/2 nodes are available"),
])
def test_pod_states_fail_the_trial_at_once(server, kube, exp, tmp_path, case, failure, expected):  # noqa: F811, E501
    backend, deployment = _start(exp, tmp_path)
    name = deployment.handle.name
    pod_state = {
        "image": {"waiting": {"reason": "ImagePullBackOff",
                              "message": 'Back-off pulling image "lmsysorg/sglang:v0.5.5"'}},
        "oom": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 20s"}},
    }.get(case)
    _play_controller(server, kube, name, NOT_READY, pod_state=pod_state, delay_s=0).join()
    pod = f"{name}-engine-0"
    if case == "oom":  # the kubelet's record of the last run
        kube[1].patch_namespaced_pod_status(pod, NS, {"status": {"containerStatuses": [{
            "name": "ome-container", "ready": False, "restartCount": 2, "image": "sim",
            "imageID": "", "state": pod_state,
            "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]}})
    if case == "unschedulable":  # kube-scheduler's condition
        kube[1].patch_namespaced_pod_status(pod, NS, {"status": {"phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "False",
                            "reason": "Unschedulable",
                            "message": "0/2 nodes are available: "
                                       "2 Insufficient nvidia.com/gpu."}]}})
    with pytest.raises(failure) as raised:
        backend.wait_healthy(deployment, timeout_s=30)
    assert expected in raised.value.reason
    backend.stop(deployment)
    assert _stored(kube, name) is None


def _denial(status: int, message: str) -> ApiException:
    exc = ApiException(status=status, reason="Forbidden")
    exc.body = json.dumps({"kind": "Status", "status": "Failure", "message": message,
                           "code": status})
    return exc


def test_a_webhook_denial_is_a_config_failure_and_rbac_is_not():
    from tuneops.deployments.ome.backend import _failure

    denied = _denial(403, 'admission webhook "inferenceservice.ome-webhook-server.validator" '
                          'denied the request: invalid InferenceService name "8b-x"')
    assert isinstance(_failure(denied, "creating"), ConfigFailure)
    assert signals.webhook_denial(denied).endswith('name "8b-x"')
    rbac = _denial(403, 'inferenceservices.ome.io is forbidden: User "ci" cannot create')
    assert isinstance(_failure(rbac, "creating"), InfraFailure)


def test_the_stand_in_refuses_a_runtime_as_ome_does_and_the_trial_fails_at_once(
        server, tmp_path):  # noqa: F811
    """The weights' config.json says Mistral; the experiment's modelMetadata (and so the
    generated runtime) says Llama. validate cannot see the weights; OME's controller
    refuses the runtime with a RuntimeValidationError Event, which ends the trial."""
    import shutil

    from tests.ome_standin import ROOT, OmeStandIn, write_sim_experiment
    from tuneops.validate import load_experiment

    weights = tmp_path / "weights"
    shutil.copytree(ROOT / "assets" / "tokenizer", weights)
    (weights / "config.json").write_text(json.dumps(
        {"architectures": ["MistralForCausalLM"], "transformers_version": "4.43.0"}))
    exp_file = write_sim_experiment(tmp_path / "exp.yaml", "pvc://claim/x")
    exp_file.write_text(exp_file.read_text().replace(
        'path: "' + str(ROOT / "assets" / "tokenizer"), 'path: "' + str(weights)))
    sim_exp = load_experiment(exp_file)
    backend = _backend(sim_exp)
    with OmeStandIn(server, tmp_path / "kubeconfig", NS, tmp_path / "pvcs") as ome:
        deployment = backend.start(_launch(sim_exp, make_plan(sim_exp).trials[0], tmp_path))
        with pytest.raises(ConfigFailure) as failure:
            backend.wait_healthy(deployment, timeout_s=30)
        backend.stop(deployment)
        left = ome.wait_settled()
    assert ome.errors == [] and ome.served == []  # no engine was started
    assert "RuntimeValidationError" in failure.value.reason
    assert "architecture mismatch (model=MistralForCausalLM, runtime=LlamaForCausalLM)" in \
        failure.value.reason
    assert left == []


def test_an_engine_image_no_node_can_pull_fails_the_trial_at_once(server, tmp_path):  # noqa: F811
    """The stand-in's kubelet cannot pull the runner's image: the pod waits in
    ImagePullBackOff with the kubelet's message, and the backend ends the trial as a
    configuration failure from that state, long before startupTimeout."""
    from tests.ome_standin import OmeStandIn, write_sim_experiment
    from tuneops.validate import load_experiment

    sim_exp = load_experiment(write_sim_experiment(tmp_path / "exp.yaml", "pvc://claim/x"))
    backend = _backend(sim_exp)
    launch = _launch(sim_exp, make_plan(sim_exp).trials[0], tmp_path)
    image = launch.spec["InferenceService"]["spec"]["engine"]["runner"]["image"]
    with OmeStandIn(server, tmp_path / "kubeconfig", NS, tmp_path / "pvcs",
                    pullable=lambda name: name != image) as ome:
        deployment = backend.start(launch)
        with pytest.raises(ConfigFailure) as failure:
            backend.wait_healthy(deployment, timeout_s=30)
        backend.stop(deployment)
        left = ome.wait_settled()
    assert ome.errors == [] and ome.served == [] and left == []  # no engine ever started
    assert f'ImagePullBackOff: Back-off pulling image "{image}"' in failure.value.reason


def test_the_stand_ins_webhooks_deny_as_omes_and_the_trial_fails_without_a_retry(
        server, kube, exp, tmp_path):  # noqa: F811
    """The stand-in runs OME's admission rules on create (tests/ome_standin.py _admit): a
    service named against IsvcNameFmt is denied with 403 and OME's text, which the backend
    makes a configuration failure (never retried), naming the webhook's reason."""
    from tests.ome_standin import OmeStandIn

    launch = _launch(exp, make_plan(exp).trials[0], tmp_path)
    launch.spec["InferenceService"]["metadata"]["name"] = "8b-" + launch.trial_id
    with OmeStandIn(server, tmp_path / "kubeconfig", NS, tmp_path / "pvcs") as ome:
        with pytest.raises(ConfigFailure) as failure:
            _backend(exp).start(launch)
        job = {"apiVersion": "ome.io/v1beta1", "kind": "BenchmarkJob",
               "metadata": {"name": "embed", "namespace": NS},
               "spec": {"endpoint": {"inferenceService": {"name": "x", "namespace": NS}},
                        "task": "text-to-embeddings", "trafficScenarios": ["E(512)"]}}
        with pytest.raises(ApiException) as denied:
            kube[0].create_namespaced_custom_object("ome.io", "v1beta1", NS, "benchmarkjobs",
                                                    job)
        stored = [ome._list(plural) for plural in ("inferenceservices", "benchmarkjobs")]
    assert ome.errors == [] and stored == [[], []]  # denied: never stored
    assert f'invalid InferenceService name "8b-{launch.trial_id}", must match ' in \
        failure.value.reason
    assert 'admission webhook "inferenceservice.ome-webhook-server.validator" denied' in \
        failure.value.reason
    assert denied.value.status == 403
    assert signals.webhook_denial(denied.value).endswith(
        "failed to validate scenario 'E(512)': invalid scenario format for task "
        "'text-to-embeddings': E(512)")
