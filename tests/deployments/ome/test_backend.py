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
from tuneops.deployments.common.backend import OWNER_LABEL, TRIAL_LABEL, ConfigFailure, InfraFailure
from tuneops.deployments.ome import results as ome_results
from tuneops.deployments.ome.backend import (
    BJ,
    GROUP,
    ISVC,
    POD_LABEL,
    READER_LABEL,
    VERSION,
    OmeBackend,
    label_value,
)
from tuneops.deployments.ome.options import ome_options
from tuneops.deployments.registry import deployment_mode
from tuneops.runner import bench
from tuneops.runner.run import trial_launch

from tests.helpers.polling import wait_until
from tests.kube_helpers import write_kubeconfig
from tests.ome_standin import OmeStandIn, write_sim_experiment
from tuneops.plan import make_plan
from tuneops.validate import load_experiment

ROOT = Path(__file__).resolve().parents[3]
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
        wait_until(lambda: READY_TEXT in log.read_text(errors="replace")
                   or proc.poll() is not None, timeout=60, interval=0.1,
                   what="the simulator's start")
        assert proc.poll() is None, log.read_text()
        yield {"url": url, "log": log}
    finally:
        proc.terminate()
        proc.wait(10)


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
    assert loaded.deployment.mode == "ome" and ome_options(loaded).generate_runtime
    return loaded


NS = "tuneops"  # the example's namespace


def _launch(exp, trial, tmp: Path, owner: str = "llama8b-ome-tp/run-1"):
    return trial_launch(exp, trial, owner=owner, gpus=(), log_dir=tmp / "logs" / trial.id)


def _backend(exp, grace_s: int = 2, **options) -> OmeBackend:
    mode = deployment_mode("ome")
    backend = mode.backend(**{**mode.backend_options(exp), **options}, grace_s=grace_s)
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
    runtime = launch.spec["ClusterServingRuntime"]
    stored = kube[0].get_cluster_custom_object(
        GROUP, VERSION, "clusterservingruntimes", runtime["metadata"]["name"])
    assert stored["spec"] == runtime["spec"]

    # The next run's backend finds it there (409) and brings it to its own manifest.
    changed = json.loads(json.dumps(launch.spec))
    runner = changed["ClusterServingRuntime"]["spec"]["engineConfig"]["runner"]
    runner["command"] = [*runner["command"], "--log-level", "info"]
    backend2 = _backend(exp)
    backend2.start(replace(launch, spec=changed))
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
    if case == "ready-false":  # OME's InvalidSpec transition (inference_service_status.go:183)
        status = {"conditions": [not_ready], "modelStatus": {
            "transitionStatus": "InvalidSpec",
            "lastFailureInfo": {"reason": "NoSupportingRuntime",
                                "message": "no runtime supports the model"}}}
        expected = "InvalidSpec: NoSupportingRuntime no runtime supports the model"
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
    assert "did not serve (not ready) within 1s (no Ready condition yet)" in failure.value.reason
    backend.stop(deployment)


def test_ready_but_unreachable_from_here_is_an_infra_failure(server, kube, exp, tmp_path):
    """Measured from the runner (benchmarkIn: runner), status.url must answer here."""
    backend = _backend(exp, benchmark_in="runner")
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
    name = launch.spec["InferenceService"]["metadata"]["name"]
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


# -- in-cluster benchmarking against the OME stand-in --------------------------------------


def _measure(exp, tmp_path: Path, backend: OmeBackend):
    """One trial through the backend as the runner drives it: start, ready, measure, stop."""
    trial = make_plan(exp).trials[0]
    launch = _launch(exp, trial, tmp_path, owner="sim-ome-e2e/run-1")
    deployment = backend.start(launch)
    try:
        backend.wait_healthy(deployment, timeout_s=60)
        return deployment, backend.benchmark(deployment, exp, tmp_path / "bench",
                                             genai_bench=bench)
    finally:
        backend.stop(deployment)


def test_results_come_back_from_s3_through_boto3(server, s3, tmp_path):
    exp = load_experiment(write_sim_experiment(tmp_path / "exp.yaml",
                                               f"s3://{s3.name}/tuneops"))
    with OmeStandIn(server, tmp_path / "kubeconfig", NS, tmp_path / "pvcs") as ome:
        deployment, outcome = _measure(exp, tmp_path, _backend(exp))
        left = ome.wait_settled()
    assert ome.errors == [] and left == []
    assert outcome.ok, outcome.reason
    point = outcome.metrics["D(32,16)"][2]
    assert point["num_completed_requests"] >= 1 and point["ttft.p99"] > 0
    command = next(iter(ome.bench_commands.values()))
    assert command[command.index("--storage-provider") + 1] == "aws"
    trial = deployment.launch.trial_id
    keys = s3.keys()
    # under the trial's prefix, in a folder of this measurement's own (<key>/<file>)
    assert any(k.split("/")[:3] == ["tuneops", "sim-ome-e2e", trial] and len(k.split("/")) == 5
               and k.split("/")[4].startswith("D32_16") for k in keys), keys
    assert outcome.files and all(f.startswith("D32_16") for f in outcome.files)
    assert deployment.placement["gpu_product"] == "NVIDIA-H100-80GB-HBM3"


def test_a_failed_benchmarkjob_is_a_failed_measurement_with_its_log(server, tmp_path):
    """genai-bench cannot load the tokenizer OME hands it: the Job fails, OME says Failed."""
    exp_file = write_sim_experiment(tmp_path / "exp.yaml", "pvc://bench-results/tuneops")
    exp_file.write_text(exp_file.read_text().replace(
        'path: "' + str(ROOT / "assets" / "tokenizer"), 'path: "' + str(tmp_path / "none")))
    exp = load_experiment(exp_file)
    with OmeStandIn(server, tmp_path / "kubeconfig", NS, tmp_path / "pvcs") as ome:
        deployment, outcome = _measure(exp, tmp_path, _backend(exp))
        left = ome.wait_settled()
    assert ome.errors == [] and left == []
    assert not outcome.ok
    assert "BenchmarkJob tuneops/" in outcome.reason
    assert "failed: Job has reached the specified backoff limit" in outcome.reason
    assert str(tmp_path / "none") in (tmp_path / "bench" / "genai-bench.log").read_text()


def test_reap_finds_benchmarkjobs_and_reader_pods_too(server, kube, tmp_path):
    exp = load_experiment(write_sim_experiment(tmp_path / "exp.yaml", "pvc://claim/x"))
    trial = make_plan(exp).trials[0]
    launch = _launch(exp, trial, tmp_path, owner="sim-ome-e2e/run-killed")
    killed = _backend(exp)
    deployment = killed.start(launch)
    killed._create_benchmark(deployment.handle.benchmark)
    meta = deployment.handle.benchmark["metadata"]
    loc = ome_results.location("pvc://claim/x", trial.id)
    pod = ome_results.reader_pod("reader-1", NS, loc, "busybox:1.36",
                                 {**meta["labels"], READER_LABEL: "true"}, meta["annotations"])
    kube[1].create_namespaced_pod(NS, pod)
    assert _backend(exp).reap("someone-else/") == []
    assert _backend(exp).reap("sim-ome-e2e/") == [trial.id]
    assert kube[0].list_namespaced_custom_object(GROUP, VERSION, NS, BJ)["items"] == []
    assert kube[0].list_namespaced_custom_object(GROUP, VERSION, NS, ISVC)["items"] == []
    assert kube[1].list_namespaced_pod(NS).items == []


def test_cancelling_a_measurement_deletes_its_benchmarkjob(server, tmp_path):
    exp = load_experiment(write_sim_experiment(tmp_path / "exp.yaml", "pvc://claim/x"))
    cancel = threading.Event()
    with OmeStandIn(server, tmp_path / "kubeconfig", NS, tmp_path / "pvcs") as ome:
        backend = _backend(exp, poll_s=0.2)
        deployment = backend.start(_launch(exp, make_plan(exp).trials[0], tmp_path))
        backend.wait_healthy(deployment, timeout_s=60)

        def cancel_once_running() -> None:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not any(
                    b.state == "Running" for b in list(ome.benches.values())):
                time.sleep(0.1)
            cancel.set()

        threading.Thread(target=cancel_once_running, daemon=True).start()
        outcome = backend.benchmark(deployment, exp, tmp_path / "bench", genai_bench=bench,
                                    cancel=cancel)
        backend.stop(deployment)
        left = ome.wait_settled()
    assert ome.errors == [] and left == []
    assert not outcome.ok and outcome.cancelled and outcome.reason == "benchmark cancelled"
    assert len(ome.bench_procs) == 1 and ome.bench_procs[0].poll() is not None  # stopped


def test_benchmark_in_runner_measures_from_here_against_status_url(server, tmp_path):
    exp_file = write_sim_experiment(tmp_path / "exp.yaml", "pvc://claim/x", benchmarkIn="runner")
    exp = load_experiment(exp_file)
    assert ome_options(exp).benchmark_in == "runner"
    with OmeStandIn(server, tmp_path / "kubeconfig", NS, tmp_path / "pvcs") as ome:
        deployment, outcome = _measure(exp, tmp_path, _backend(exp))
        left = ome.wait_settled()
    assert ome.errors == [] and left == [] and ome.benches == {}  # no BenchmarkJob
    assert outcome.ok, outcome.reason
    log = (tmp_path / "bench" / "genai-bench.log").read_text()
    assert f"--api-base {deployment.base_url} " in log
    assert "--api-model-name llama-1b " in log  # the served name, not OME's vllm-model
