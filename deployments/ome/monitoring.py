"""A Prometheus Operator PodMonitor for a trial's engine pods (OME mode with
``deployment.ome.monitoring: true``), so a cluster's Prometheus keeps the same series
tuneops scrapes per measurement and Grafana (dashboards/tuneops-trials.json) shows every
trial side by side. Each trial renders ``podmonitor.yaml`` (validated against
prometheus-operator's CRD, schemas/crds/prometheus-operator); the OME backend applies it
with the trial's InferenceService and deletes it with the trial. Without a trial it
selects every engine pod of the namespace (one monitor for the experiment).

OME labels an InferenceService's engine pods ``ome.io/inferenceservice=<name>`` and
``component=engine`` (runner/backends/ome.py watches them the same way); the service's
name ends with the trial id (renderers/ome.trial_name), which the relabelling copies into
``tuneops_trial``; ``tuneops_experiment`` is the experiment's name. The path is the
engine's metrics path from schemas/engines.yaml. PodMonitor fields:
prometheus-operator Documentation/api-reference (monitoring.coreos.com/v1 PodMonitorSpec,
PodMetricsEndpoint, RelabelConfig).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tuneops.deployments.ome.options import ome_options
from tuneops.deployments.ome.render import EXPERIMENT_LABEL, PORT, TRIAL_LABEL, _name, trial_name

from tuneops.registry import engines
from tuneops.spec import Experiment

if TYPE_CHECKING:
    from tuneops.plan import Trial

TRIAL_ID_PATTERN = "^.*-([0-9a-f]{12})$"  # plan.ID_LENGTH hex digits at the end


def enabled(exp: Experiment) -> bool:
    return ome_options(exp).monitoring


def pod_monitor(exp: Experiment, trial: Trial | None = None) -> dict[str, Any]:
    path = (engines()[exp.engine.name].metrics or {}).get("path", "/metrics")
    labels = {EXPERIMENT_LABEL: exp.name}
    if trial is None:
        name = _name(exp.name, "metrics")
        selector: dict[str, Any] = {
            "matchLabels": {"component": "engine"},
            "matchExpressions": [{"key": "ome.io/inferenceservice", "operator": "Exists"}]}
    else:  # OME's labels on the trial's engine pods (backend.POD_LABEL, COMPONENT_LABEL)
        name = trial_name(exp, trial)
        labels[TRIAL_LABEL] = trial.id
        selector = {"matchLabels": {"component": "engine", "ome.io/inferenceservice": name}}
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": {"name": name, "namespace": ome_options(exp).namespace,
                     "labels": labels},
        "spec": {
            "selector": selector,
            "podMetricsEndpoints": [{
                "targetPort": PORT, "path": path, "interval": "5s",
                "relabelings": [
                    {"sourceLabels": ["__meta_kubernetes_pod_label_ome_io_inferenceservice"],
                     "regex": TRIAL_ID_PATTERN, "targetLabel": "tuneops_trial",
                     "replacement": "$1", "action": "replace"},
                    {"targetLabel": "tuneops_experiment", "replacement": exp.name,
                     "action": "replace"},
                ],
            }],
        },
    }
