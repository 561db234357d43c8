"""deployment.ome.benchmarkPod puts the BenchmarkJob's genai-bench pod under control:
resources, env (literal or a Secret's key), envFrom, tolerations and nodeSelector become
OME's podOverride, which the stand-in merges into the Job's pod as OME's controller does
and resolves like the kubelet. Secret values are referenced, never written (genai-bench's
own log of its parameters included). benchmark.warmupRequests run in the cluster first, as
a BenchmarkJob of their own."""

from __future__ import annotations

import base64
from pathlib import Path

from kubernetes import client, config
from tuneops.deployments.ome import render
from tuneops.deployments.registry import deployment_mode
from tuneops.renderers.render import render_tree
from tuneops.runner import bench
from tuneops.runner.run import trial_launch

from tests.ome_standin import OmeStandIn, write_sim_experiment
from tuneops.plan import make_plan
from tuneops.validate import load_experiment, validate_file

SECRET_VALUE = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"
POD = """{resources: {requests: {cpu: 2, memory: 4Gi}, limits: {memory: 8Gi}},
      env: [{name: BENCH_NOTE, value: "a$(B)"},
            {name: AWS_SECRET_ACCESS_KEY, secretKeyRef: {name: s3-creds, key: secret}}],
      envFrom: [{secretRef: {name: s3-more}}],
      tolerations: [{key: bench, operator: Exists, effect: NoSchedule}],
      nodeSelector: {pool: bench}}"""


def _experiment(tmp_path: Path, namespace: str = "tuneops", pod: str = POD):
    path = write_sim_experiment(tmp_path / "exp.yaml", "pvc://bench-results/tuneops",
                                namespace=namespace, benchmarkPod=pod)
    path.write_text(path.read_text().replace("warmupRequests: 0", "warmupRequests: 3"))
    return path


def test_benchmark_pod_renders_omes_pod_override(tmp_path):
    exp = load_experiment(_experiment(tmp_path))
    job = render.benchmark_job(exp, make_plan(exp).trials[0])
    override = job["spec"]["podOverride"]
    assert override["resources"] == {"limits": {"memory": "8Gi"},
                                     "requests": {"cpu": "2", "memory": "4Gi"}}
    assert override["env"] == [
        {"name": "BENCH_NOTE", "value": "a$$(B)"},  # no Kubernetes expansion of a value
        {"name": "AWS_SECRET_ACCESS_KEY",
         "valueFrom": {"secretKeyRef": {"name": "s3-creds", "key": "secret"}}}]
    assert override["envFrom"] == [{"secretRef": {"name": "s3-more"}}]
    # OME's own GPU toleration stays: a list without merge key would replace it
    assert override["tolerations"] == [render.OME_BENCH_TOLERATION,
                                       {"key": "bench", "operator": "Exists",
                                        "effect": "NoSchedule"}]
    assert override["nodeSelector"] == {"pool": "bench"}
    files, _, _ = render_tree(exp, crd_dir=None)  # the vendored CRDs accept it
    assert not any(SECRET_VALUE in text for text in files.values())


def test_a_literal_credential_is_refused_with_how_to_reference_it(tmp_path):
    path = _experiment(tmp_path, pod="{env: [{name: AWS_SECRET_ACCESS_KEY, value: abc}]}")
    _, errors = validate_file(path)
    assert len(errors) == 1, errors
    text = str(errors[0])
    assert "deployment.ome.benchmarkPod.env[0].value" in text.replace(".0.", "[0].")
    assert "secretKeyRef" in text and errors[0].line > 0


def test_the_job_pod_gets_the_override_and_the_secrets_only_in_the_cluster_after_a_warm_up(
        server, namespace, tmp_path):
    exp = load_experiment(_experiment(tmp_path, namespace))
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(tmp_path / "kubeconfig"),
                            client_configuration=configuration, persist_config=False)
    core = client.CoreV1Api(client.ApiClient(configuration))
    for name, data in (("s3-creds", {"secret": SECRET_VALUE}), ("s3-more", {"EXTRA": "x"})):
        core.create_namespaced_secret(namespace, {
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}})
    mode = deployment_mode("ome")
    backend = mode.backend(**mode.backend_options(exp), grace_s=2, poll_s=0.2)
    trial = make_plan(exp).trials[0]
    launch = trial_launch(exp, trial, owner="sim-ome-e2e/run-1", gpus=(),
                          log_dir=tmp_path / "logs")
    with OmeStandIn(server, tmp_path / "kubeconfig", namespace, tmp_path / "pvcs") as ome:
        deployment = backend.start(launch)
        try:
            backend.wait_healthy(deployment, timeout_s=60)
            outcome = backend.benchmark(deployment, exp, tmp_path / "bench", genai_bench=bench)
        finally:
            backend.stop(deployment)
        left = ome.wait_settled()
    assert ome.errors == [] and left == []
    assert outcome.ok, outcome.reason
    (pod,) = ome.bench_pods.values()
    container = pod["containers"][0]
    assert container["resources"]["requests"] == {"cpu": "2", "memory": "4Gi"}
    assert container["resources"]["limits"] == {"cpu": "2", "memory": "8Gi"}  # merged
    assert {t["key"] for t in pod["tolerations"]} == {"nvidia.com/gpu", "bench"}
    assert pod["nodeSelector"]["pool"] == "bench"
    assert pod["nodeSelector"]["models.ome.io/clusterbasemodel.tiny-llama"] == "Ready"
    warm_up, measured = ome.bench_history  # the warm-up job first, then the measurement
    assert warm_up[warm_up.index("--num-concurrency") + 1] == "1"
    assert warm_up[warm_up.index("--max-requests-per-run") + 1] == "3"
    assert measured[measured.index("--max-requests-per-run") + 1] == "6"
    assert len(ome.bench_envs) == 2
    env = ome.bench_envs[-1]
    assert env["AWS_SECRET_ACCESS_KEY"] == SECRET_VALUE and env["EXTRA"] == "x"
    assert env["ENABLE_UI"] == "false"
    written = "".join(p.read_text(errors="replace") for p in tmp_path.rglob("*")
                      if p.is_file() and p.suffix in (".yaml", ".json", ".jsonl", ".log")
                      and "pvcs" not in p.parts)
    assert SECRET_VALUE not in written


def _levels_experiment(tmp_path: Path, namespace: str, name: str, concurrency: str,
                       slo: str, objective_level: str):
    path = write_sim_experiment(tmp_path / f"{name}.yaml", "pvc://bench-results/tuneops",
                                namespace=namespace)
    text = path.read_text().replace("  concurrency: [2]\n", f"  concurrency: {concurrency}\n")
    text = text.replace("objective:", f"slos: [{slo}]\nobjective:")
    path.write_text(text.replace("concurrency: 2}", f"concurrency: {objective_level}}}"))
    exp, errors = validate_file(path)
    assert errors == [], errors  # validate no longer refuses a bisection in the cluster
    return exp


def _levels(command: list[str]) -> list[str]:
    return [command[i + 1] for i, w in enumerate(command) if w == "--num-concurrency"]


def test_the_runner_decides_levels_in_the_cluster_one_benchmark_job_per_level(
        server, namespace, tmp_path):
    """Early stop through the stand-in: each level is a BenchmarkJob of its own, at a
    location of its own, and runner/bench/levels.py's walk reads the job's result before
    the next: an SLO lost at 1 means no job for 2 (test_levels_in_cluster.py covers
    bisection's choices fast). Before, one job measured [1, 2] whatever level 1 showed,
    and a bisection was refused."""
    exp = _levels_experiment(tmp_path, namespace, "stop", "[1, 2]",
                             "{metric: ttft.p99, max: 0.001}", "1")  # lost at once
    mode = deployment_mode("ome")
    backend = mode.backend(**mode.backend_options(exp), grace_s=2, poll_s=0.2)
    launch = trial_launch(exp, make_plan(exp).trials[0], owner="sim-ome-e2e/run-1",
                          gpus=(), log_dir=tmp_path / "logs")
    with OmeStandIn(server, tmp_path / "kubeconfig", namespace, tmp_path / "pvcs") as ome:
        deployment = backend.start(launch)
        try:
            backend.wait_healthy(deployment, timeout_s=60)
            outcome = backend.benchmark(deployment, exp, tmp_path / "a" / "genai-bench",
                                        genai_bench=bench)
        finally:
            backend.stop(deployment)
        left = ome.wait_settled()
    assert ome.errors == [] and left == []
    assert outcome.ok, outcome.reason
    assert [_levels(c) for c in ome.bench_history] == [["1"]]
    assert outcome.not_run == ["D(32,16)@2: not run: SLO lost at 1 (ttft.p99)"]
    assert list(outcome.metrics["D(32,16)"]) == [1]
    (command,) = ome.bench_history
    assert "-s0-c1-" in command[command.index("--experiment-base-dir") + 1]
