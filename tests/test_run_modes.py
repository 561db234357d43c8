"""`tuneops run` on an OME experiment drives the cluster through the OME backend.

The cluster is kmock's KubernetesEmulator (tests/kube_helpers.py) reached through a
kubeconfig, as a user's would be. It runs no OME controller, so the test plays one: when
the trial's InferenceService appears it reports it failed (Ready=False, EngineFailed),
which must end the trial as failed_config after one attempt, with OME's message, and leave
nothing behind in the experiment's namespace.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from tuneops.runner.backends.base import OWNER_LABEL

from tests.kube_helpers import running_api_server, write_kubeconfig
from tuneops import cli

OME_EXAMPLE = Path(__file__).resolve().parent.parent / "experiments/examples/sglang-ome.yaml"
GROUP, VERSION, ISVC, NAMESPACE = "ome.io", "v1beta1", "inferenceservices", "tuneops"
FAILED = {"conditions": [{"type": "Ready", "status": "False", "reason": "EngineFailed",
                          "message": "engine container exited: CUDA out of memory",
                          "lastTransitionTime": "2026-01-01T00:00:00Z"}]}


def _fail_each_new_service(objects: client.CustomObjectsApi, seen: list, stop: threading.Event):
    while not stop.wait(0.05):
        try:
            items = objects.list_namespaced_custom_object(GROUP, VERSION, NAMESPACE, ISVC)["items"]
        except ApiException:
            continue  # 404 until the first InferenceService exists
        for item in items:
            name = item["metadata"]["name"]
            if name not in [s["metadata"]["name"] for s in seen]:
                seen.append(item)
                objects.patch_namespaced_custom_object_status(
                    GROUP, VERSION, NAMESPACE, ISVC, name, {"status": FAILED})


def test_ome_run_applies_the_trial_and_records_omes_failure(tmp_path, monkeypatch, capsys):
    with running_api_server() as server:
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", server.url)
        monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
        configuration = client.Configuration()
        config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration,
                                persist_config=False)
        objects = client.CustomObjectsApi(client.ApiClient(configuration))
        seen: list = []
        stop = threading.Event()
        controller = threading.Thread(target=_fail_each_new_service, args=(objects, seen, stop))
        controller.start()
        try:
            code = cli.main(["run", str(OME_EXAMPLE), "--runs-dir", str(tmp_path / "runs"),
                             "--reports-dir", str(tmp_path / "reports"), "--quiet",
                             "--max-trials", "1"])
        finally:
            stop.set()
            controller.join(5)
        left = objects.list_namespaced_custom_object(GROUP, VERSION, NAMESPACE, ISVC)["items"]
        runtimes = [r for r in list(server.emulator)
                    if r.method == "POST" and r.url.path.endswith("/clusterservingruntimes")]
    assert code == 1, capsys.readouterr().err  # no feasible trial
    assert len(seen) == 1 and left == []  # one attempt, deleted when the trial ended
    assert seen[0]["metadata"]["annotations"][OWNER_LABEL].startswith("llama8b-ome-tp/")
    assert len(runtimes) == 1
    records = [json.loads(line) for p in (tmp_path / "runs").rglob("*.jsonl")
               for line in p.read_text().splitlines() if line.strip()]
    finished = [r for r in records if "failed_config" in json.dumps(r)]
    assert finished, records
    assert "EngineFailed" in json.dumps(finished) and "CUDA out of memory" in json.dumps(finished)
