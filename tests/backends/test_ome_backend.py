"""The OME backend with the real `kubernetes` client against kmock's KubernetesEmulator.

The emulator stores and serves objects but runs no OME controller, so each test plays the
controller where one is needed: it patches the InferenceService's status through the
status subresource (Ready + url of a real simulator it started on 127.0.0.1), creates the
engine Pod with OME's labels, and answers that pod's log requests with the simulator's
real output. Launches come from the runner's own launch builder on the sglang-ome example.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from tuneops.runner.backends import BACKENDS
from tuneops.runner.backends.base import OWNER_LABEL, TRIAL_LABEL, ConfigFailure, InfraFailure
from tuneops.runner.backends.ome import GROUP, ISVC, POD_LABEL, VERSION, OmeBackend, label_value
from tuneops.runner.run import _backend_options, _launch_builder

from tests.kube_helpers import running_api_server, write_kubeconfig
from tuneops.plan import make_plan
from tuneops.validate import load_experiment

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "experiments" / "examples" / "sglang-ome.yaml"
READY_TEXT = "fired up and ready to roll"
_direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def sim(tmp_path_factory) -> dict:
    """A real simulator serving on 127.0.0.1: what the 'pod' runs; its output is the pod log."""
    port = _free_port()
    log = tmp_path_factory.mktemp("sim") / "sim.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tuneops.engines.sim", "--model-path", "meta-llama/Llama-3.2-1B",
             "--time-scale", "0.01", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while READY_TEXT not in log.read_text(errors="replace"):
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "simulator did not start"
            time.sleep(0.1)
        yield {"url": url, "log": log}
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def server(tmp_path, monkeypatch):
    with running_api_server() as api_server:
        path = write_kubeconfig(tmp_path / "kubeconfig", api_server.url)
        monkeypatch.setenv("KUBECONFIG", str(path))  # the backend loads it itself
        yield api_server


@pytest.fixture
def kube(server, tmp_path):
    """The test's own client (the 'controller' and the assertions use it)."""
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(tmp_path / "kubeconfig"),
                            client_configuration=configuration, persist_config=False)
    api = client.ApiClient(configuration)
    return client.CustomObjectsApi(api), client.CoreV1Api(api)


@pytest.fixture
def exp():
    loaded = load_experiment(EXAMPLE)
    assert loaded.deployment.mode == "ome" and loaded.deployment.ome.generate_runtime
    return loaded


NS = "tuneops"  # the example's namespace


def _launch(exp, trial, tmp: Path, owner: str = "llama8b-ome-tp/run-1"):
    return _launch_builder(exp, "ome", owner)(trial, (), tmp / "logs" / trial.id)


def _backend(exp, grace_s: int = 2) -> OmeBackend:
    backend = BACKENDS["ome"](**_backend_options(exp), grace_s=grace_s)
    assert backend._namespaces == (NS,)
    return backend


def _stored(kube, name: str, namespace: str = NS) -> dict | None:
    try:
        return kube[0].get_namespaced_custom_object(GROUP, VERSION, namespace, ISVC, name)
    except ApiException as e:
        assert e.status == 404
        return None


def _requests(server, method: str, fragment: str) -> int:
    return sum(1 for r in list(server.emulator)
               if r.method == method and fragment in r.url.path)


def _play_controller(server, kube, name: str, status: dict, sim: dict | None = None,
                     pod_state: dict | None = None, delay_s: float = 0.3) -> threading.Thread:
    """After ``delay_s``, do what OME's controller would: an engine pod, then the status."""

    def act() -> None:
        time.sleep(delay_s)
        pod_name = f"{name}-engine-0"
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": pod_name, "namespace": NS,
                            "labels": {POD_LABEL: name, "component": "engine"}},
               "spec": {"containers": [{"name": "ome-container", "image": "sim"}]}}
        if pod_state:
            pod["status"] = {"containerStatuses": [
                {"name": "ome-container", "ready": False, "restartCount": 3, "image": "sim",
                 "imageID": "", "state": pod_state}]}
        kube[1].create_namespaced_pod(NS, pod)
        if sim is not None:
            log = sim["log"]
            server.emulator[f"get /api/v1/namespaces/{NS}/pods/{pod_name}/log"] << (
                lambda: log.read_bytes()
            )
        kube[0].patch_namespaced_custom_object_status(
            GROUP, VERSION, NS, ISVC, name, {"status": status})

    thread = threading.Thread(target=act, daemon=True)
    thread.start()
    return thread


def _ready(url: str) -> dict:
    return {"url": url, "conditions": [
        {"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}


def test_ready_service_serves_then_stop_saves_logs_and_deletes(server, kube, exp, sim, tmp_path):
    trial = make_plan(exp).trials[0]
    launch = _launch(exp, trial, tmp_path)
    backend = _backend(exp)
    deployment = backend.start(launch)
    name = deployment.handle.name
    stored = _stored(kube, name)
    assert stored["metadata"]["annotations"][OWNER_LABEL] == "llama8b-ome-tp/run-1"
    assert stored["metadata"]["labels"][OWNER_LABEL] == "llama8b-ome-tp.run-1"
    assert stored["metadata"]["labels"][TRIAL_LABEL] == trial.id
    controller = _play_controller(server, kube, name, _ready(sim["url"] + "/"), sim=sim)
    backend.wait_healthy(deployment, timeout_s=20)
    controller.join()
    assert deployment.base_url == sim["url"]
    with _direct.open(deployment.base_url + "/v1/models", timeout=10) as response:
        assert json.loads(response.read())["data"]
    assert READY_TEXT in backend.logs(deployment)

    backend.stop(deployment)
    assert _stored(kube, name) is None
    assert _requests(server, "DELETE", f"/inferenceservices/{name}") == 1
    saved = (launch.log_dir / "engine.log").read_text()
    assert READY_TEXT in saved
    assert backend.logs(deployment) == saved
    backend.stop(deployment)  # idempotent: nothing more is deleted
    assert _requests(server, "DELETE", f"/inferenceservices/{name}") == 1


def test_every_tuned_flag_reaches_the_stored_container_command(server, kube, exp, tmp_path):
    backend = _backend(exp)
    trials = make_plan(exp).trials
    assert len(trials) > 1
    for trial in trials:
        deployment = backend.start(_launch(exp, trial, tmp_path))
        stored = _stored(kube, deployment.handle.name)
        command = stored["spec"]["engine"]["runner"]["command"]
        assert "args" not in stored["spec"]["engine"]["runner"]
        for flag, value in trial.args.items():
            at = command.index(f"--{flag}")
            assert command[at + 1] == str(value), (flag, command)
        assert command[command.index("--model-path") + 1] == "$(MODEL_PATH)"
    assert len(kube[0].list_namespaced_custom_object(GROUP, VERSION, NS, ISVC)["items"]) == len(
        trials)


def test_shared_runtime_is_applied_once_per_run_and_updated_by_the_next(
    server, kube, exp, tmp_path
):
    trials = make_plan(exp).trials
    backend = _backend(exp)
    for trial in trials:
        backend.start(_launch(exp, trial, tmp_path))
    assert _requests(server, "POST", "/clusterservingruntimes") == 1
    launch = _launch(exp, trials[0], tmp_path)
    runtime = launch.ome["ClusterServingRuntime"]
    stored = kube[0].get_cluster_custom_object(
        GROUP, VERSION, "clusterservingruntimes", runtime["metadata"]["name"])
    assert stored["spec"] == runtime["spec"]

    # The next run's backend finds it there (409) and brings it to its own manifest.
    changed = json.loads(json.dumps(launch.ome))
    runner = changed["ClusterServingRuntime"]["spec"]["engineConfig"]["runner"]
    runner["command"] = [*runner["command"], "--log-level", "info"]
    backend2 = _backend(exp)
    backend2.start(replace(launch, ome=changed))
    assert _requests(server, "POST", "/clusterservingruntimes") == 2
    assert _requests(server, "PATCH", "/clusterservingruntimes/") == 1
    stored = kube[0].get_cluster_custom_object(
        GROUP, VERSION, "clusterservingruntimes", runtime["metadata"]["name"])
    assert stored["spec"]["engineConfig"]["runner"]["command"][-2:] == ["--log-level", "info"]


@pytest.mark.parametrize("case", ["ready-false", "model-status", "crash-loop"])
def test_a_failed_service_is_a_config_failure(server, kube, exp, tmp_path, case):
    trial = make_plan(exp).trials[0]
    backend = _backend(exp)
    deployment = backend.start(_launch(exp, trial, tmp_path))
    name = deployment.handle.name
    not_ready = {"type": "Ready", "status": "False", "reason": "ComponentNotReady",
                 "lastTransitionTime": "2026-01-01T00:00:00Z"}
    pod_state = None
    if case == "ready-false":
        status = {"conditions": [{**not_ready, "reason": "EngineFailed",
                                  "message": "engine exited: out of memory"}]}
        expected = "out of memory"
    elif case == "model-status":
        status = {"conditions": [not_ready], "modelStatus": {
            "transitionStatus": "BlockedByFailedLoad",
            "lastFailureInfo": {"reason": "ModelLoadFailed", "message": "weights missing"}}}
        expected = "ModelLoadFailed weights missing"
    else:
        status = {"conditions": [not_ready]}
        pod_state = {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}}
        expected = "CrashLoopBackOff"
    _play_controller(server, kube, name, status, pod_state=pod_state, delay_s=0).join()
    with pytest.raises(ConfigFailure) as failure:  # a timeout would be an InfraFailure
        backend.wait_healthy(deployment, timeout_s=600)
    assert expected in failure.value.reason
    backend.stop(deployment)
    assert _stored(kube, name) is None


def test_no_status_before_the_timeout_is_an_infra_failure(server, kube, exp, tmp_path):
    backend = _backend(exp)
    deployment = backend.start(_launch(exp, make_plan(exp).trials[0], tmp_path))
    with pytest.raises(InfraFailure) as failure:
        backend.wait_healthy(deployment, timeout_s=1)
    assert "not ready within 1s (no Ready condition yet)" in failure.value.reason
    backend.stop(deployment)


def test_ready_but_unreachable_from_here_is_an_infra_failure(server, kube, exp, tmp_path):
    backend = _backend(exp)
    deployment = backend.start(_launch(exp, make_plan(exp).trials[0], tmp_path))
    closed = f"http://127.0.0.1:{_free_port()}"
    _play_controller(server, kube, deployment.handle.name, _ready(closed), delay_s=0).join()
    with pytest.raises(InfraFailure) as failure:
        backend.wait_healthy(deployment, timeout_s=1)
    assert f"did not serve {closed}/health" in failure.value.reason
    backend.stop(deployment)


def test_reap_deletes_a_killed_runs_services_by_owner_prefix_only(server, kube, exp, tmp_path):
    trials = make_plan(exp).trials
    killed = _backend(exp)  # a runner that died without stopping anything
    for trial in trials[:2]:
        killed.start(_launch(exp, trial, tmp_path, owner="llama8b-ome-tp/run-killed"))
    other = _backend(exp)
    other_deployment = other.start(_launch(exp, trials[2], tmp_path, owner="other-exp/run-1"))

    fresh = _backend(exp)
    assert fresh.reap("someone-else/") == []
    assert sorted(fresh.reap("llama8b-ome-tp/")) == sorted(t.id for t in trials[:2])
    left = kube[0].list_namespaced_custom_object(GROUP, VERSION, NS, ISVC)["items"]
    assert [o["metadata"]["name"] for o in left] == [other_deployment.handle.name]
    assert fresh.reap("llama8b-ome-tp/") == []


def test_reap_without_namespaces_looks_in_the_kubeconfig_contexts_namespace(
    server, kube, exp, tmp_path, monkeypatch
):
    """`tuneops reap --backends ome` builds the backend without the experiment."""
    _backend(exp).start(_launch(exp, make_plan(exp).trials[0], tmp_path))
    assert OmeBackend().reap("llama8b-ome-tp/") == []  # the context names no namespace
    path = write_kubeconfig(tmp_path / "kubeconfig-ns", server.url, namespace=NS)
    monkeypatch.setenv("KUBECONFIG", str(path))
    assert OmeBackend().reap("llama8b-ome-tp/") == [make_plan(exp).trials[0].id]


def test_a_leftover_of_the_same_trial_is_replaced(server, kube, exp, tmp_path):
    trial = make_plan(exp).trials[0]
    _backend(exp).start(_launch(exp, trial, tmp_path, owner="llama8b-ome-tp/run-killed"))
    deployment = _backend(exp).start(_launch(exp, trial, tmp_path, owner="llama8b-ome-tp/run-2"))
    stored = _stored(kube, deployment.handle.name)
    assert stored["metadata"]["annotations"][OWNER_LABEL] == "llama8b-ome-tp/run-2"
    assert _requests(server, "DELETE", f"/inferenceservices/{deployment.handle.name}") == 1


def test_a_foreign_service_of_the_same_name_is_left_alone(server, kube, exp, tmp_path):
    trial = make_plan(exp).trials[0]
    launch = _launch(exp, trial, tmp_path)
    name = launch.ome["InferenceService"]["metadata"]["name"]
    kube[0].create_namespaced_custom_object(GROUP, VERSION, NS, ISVC, {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "InferenceService",
        "metadata": {"name": name, "namespace": NS}, "spec": {}})
    with pytest.raises(ConfigFailure, match="not started by tuneops"):
        _backend(exp).start(launch)
    assert _stored(kube, name)["spec"] == {}


@pytest.mark.parametrize("status, failure", [(422, ConfigFailure), (500, InfraFailure)])
def test_api_errors_are_classified(server, kube, exp, tmp_path, status, failure):
    message = f"InferenceService.ome.io is invalid: spec.engine.minReplicas ({status})"
    server.emulator[f"post /apis/{GROUP}/{VERSION}/namespaces/{NS}/{ISVC}"] << status << {
        "kind": "Status", "apiVersion": "v1", "status": "Failure", "code": status,
        "reason": "Invalid", "message": message}
    with pytest.raises(failure) as raised:
        _backend(exp).start(_launch(exp, make_plan(exp).trials[0], tmp_path))
    assert message in raised.value.reason


def test_an_unreachable_api_server_is_an_infra_failure(exp, tmp_path, monkeypatch):
    path = write_kubeconfig(tmp_path / "kubeconfig", f"http://127.0.0.1:{_free_port()}")
    monkeypatch.setenv("KUBECONFIG", str(path))
    with pytest.raises(InfraFailure, match="Kubernetes API"):
        _backend(exp).start(_launch(exp, make_plan(exp).trials[0], tmp_path))


def test_owner_label_values_are_label_safe():
    assert label_value("exp/2026-01-01T00:00:00Z") == "exp.2026-01-01T00.00.00Z"
    assert len(label_value("x/" + "y" * 100)) == 63
    assert label_value("/a/") == "a"
