"""deployment.ome.monitoring: true renders a PodMonitor per trial that prometheus-operator's
own CRD (vendored, schemas/crds/prometheus-operator) accepts, and the OME backend applies
it with the trial's InferenceService and deletes it with the trial."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import pytest
import yaml
from kubernetes.client.exceptions import ApiException
from tuneops.deployments.common.backend import OWNER_LABEL
from tuneops.deployments.ome import crds
from tuneops.deployments.ome.backend import MONITOR_GROUP, MONITOR_VERSION, MONITORS
from tuneops.deployments.registry import deployment_mode
from tuneops.renderers.render import render_tree
from tuneops.runner.run import trial_launch

from tuneops import spec, yamlio
from tuneops.plan import make_plan

EXAMPLE = Path(__file__).resolve().parents[3] / "experiments" / "examples" / "sglang-ome.yaml"


def _experiment(monitoring: bool = True) -> spec.Experiment:
    doc = yamlio.to_plain(yamlio.load(EXAMPLE))
    if monitoring:
        doc["deployment"]["ome"]["monitoring"] = True
    return spec.from_document(doc)


def test_each_trial_renders_a_podmonitor_for_its_own_engine_pods():
    exp = _experiment()
    files, checked, _ = render_tree(exp, crd_dir=crds.DEFAULT_CRD_DIR)
    trials = make_plan(exp).trials
    assert checked == 3 * len(trials) + 1  # + the shared runtime
    for trial in trials:
        monitor = yaml.safe_load(files[f"{trial.id}/podmonitor.yaml"])
        isvc = yaml.safe_load(files[f"{trial.id}/inferenceservice.yaml"])
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
        assert monitor["metadata"]["namespace"] == isvc["metadata"]["namespace"]
        assert monitor["spec"]["selector"]["matchLabels"] == {
            "component": "engine", "ome.io/inferenceservice": isvc["metadata"]["name"]}
        assert crds.monitoring_schemas().errors(monitor) == []
    assert not any(name.endswith("podmonitor.yaml")
                   for name in render_tree(_experiment(False), crd_dir=crds.DEFAULT_CRD_DIR)[0])


@pytest.mark.parametrize("break_it, where", [
    (lambda m: m["spec"]["podMetricsEndpoints"][0].update(interval="5 seconds"), "interval"),
    (lambda m: m["spec"]["podMetricsEndpoints"][0].update(scrapeEvery="5s"), "scrapeEvery"),
    (lambda m: m["spec"]["podMetricsEndpoints"][0]["relabelings"][0].update(action="Copy"),
     "action"),
    (lambda m: m["spec"].update(selector="engine"), "selector"),
])
def test_the_vendored_crd_refuses_a_broken_podmonitor(break_it, where):
    exp = _experiment()
    monitor = copy.deepcopy(
        deployment_mode("ome").trial_objects(exp, make_plan(exp).trials[0])["podmonitor.yaml"])
    break_it(monitor)
    found = crds.monitoring_schemas().errors(monitor)
    assert found and where in " ".join(found), found


def test_the_vendored_podmonitor_crd_matches_its_recorded_source():
    folder = crds.MONITORING_CRD_DIR
    source = json.loads((folder / "SOURCE.json").read_text())
    assert source["repository"].endswith("prometheus-operator/prometheus-operator")
    assert source["tag"].startswith("v") and len(source["commit"]) == 40
    for name, entry in source["files"].items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == entry["sha256"]
        assert entry["url"].startswith("https://raw.githubusercontent.com/")


def _monitors(kube_objects, namespace: str) -> list[dict]:
    try:
        return kube_objects.list_namespaced_custom_object(
            MONITOR_GROUP, MONITOR_VERSION, namespace, MONITORS)["items"]
    except ApiException as e:
        assert e.status == 404  # the emulator: a kind nobody has created yet
        return []


def test_the_backend_applies_the_podmonitor_with_the_trial_and_deletes_it_with_it(
        server, tmp_path):

    exp = _experiment()
    mode = deployment_mode("ome")
    backend = mode.backend(**mode.backend_options(exp), grace_s=1)
    trial = make_plan(exp).trials[0]
    launch = trial_launch(exp, trial, owner="llama8b-ome-tp/run-1", gpus=(),
                          log_dir=tmp_path / "logs")
    assert launch.spec["PodMonitor"]["kind"] == "PodMonitor"
    deployment = backend.start(launch)
    from kubernetes import client, config

    configuration = client.Configuration()
    config.load_kube_config(config_file=str(tmp_path / "kubeconfig"),
                            client_configuration=configuration, persist_config=False)
    objects = client.CustomObjectsApi(client.ApiClient(configuration))
    (stored,) = _monitors(objects, "tuneops")
    assert stored["metadata"]["name"] == deployment.handle.name
    assert stored["metadata"]["annotations"][OWNER_LABEL] == "llama8b-ome-tp/run-1"
    backend.stop(deployment)
    assert _monitors(objects, "tuneops") == []

    killed = mode.backend(**mode.backend_options(exp), grace_s=1)  # a run that died
    killed.start(trial_launch(exp, trial, owner="llama8b-ome-tp/run-2", gpus=(),
                              log_dir=tmp_path / "logs2"))
    assert len(_monitors(objects, "tuneops")) == 1
    assert mode.backend(**mode.backend_options(exp)).reap("llama8b-ome-tp/run-2") == [trial.id]
    assert _monitors(objects, "tuneops") == []
