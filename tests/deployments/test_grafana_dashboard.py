"""Prometheus/Grafana for cluster runs: the shipped dashboard matches its schema and asks
only for series the engines really serve; the PodMonitor labels each pod with its trial."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import jsonschema
import pytest
from tuneops.deployments.ome import monitoring as ome_monitoring
from tuneops.deployments.ome.render import trial_name

from tests.runner.report_helpers import doc_with
from tuneops.plan import make_trial
from tuneops.registry import engines
from tuneops.spec import from_document

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "dashboards" / "tuneops-trials.json"
SCHEMA = json.loads((ROOT / "schemas" / "grafana-dashboard.schema.json").read_text())


def _validate(doc):
    jsonschema.validate(doc, SCHEMA, cls=jsonschema.Draft202012Validator)


def test_dashboard_matches_its_schema_and_shows_trials_side_by_side():
    doc = json.loads(DASHBOARD.read_text())
    _validate(doc)
    assert len({p["id"] for p in doc["panels"]}) == len(doc["panels"])
    for p in doc["panels"]:
        for t in p["targets"]:
            assert "by (tuneops_trial)" in t["expr"] and t["legendFormat"] == "{{tuneops_trial}}"


def test_dashboard_queries_name_only_mapped_engine_samples():
    served = {spec["sample"] for e in engines().values()
              for spec in (e.metrics.get("series") or {}).values()}
    served |= {s for e in engines().values() for spec in (e.metrics.get("series") or {}).values()
               for s in spec.get("per", [])}
    text = DASHBOARD.read_text()
    used = set(re.findall(r"\b(?:sglang|vllm|llamacpp):[a-z_]+", text))
    assert used and used <= served, used - served


@pytest.mark.parametrize("break_it", [
    lambda d: d["panels"][0].pop("targets"),
    lambda d: d["panels"][0]["gridPos"].update(w=30),
    lambda d: d.update(uid="../../etc/passwd"),
    lambda d: d["templating"]["list"].append({"name": "x y", "type": "query"}),
])
def test_a_broken_dashboard_fails_the_schema(break_it):
    doc = copy.deepcopy(json.loads(DASHBOARD.read_text()))
    break_it(doc)
    with pytest.raises(jsonschema.ValidationError):
        _validate(doc)


def test_pod_monitor_selects_engine_pods_and_labels_their_trial():
    doc = doc_with(deployment={"mode": "ome", "gpus": {"count": 1, "type": "H100"},
                                "ome": {"namespace": "tune", "monitoring": True}},
                    engine={"name": "sglang", "image": "lmsysorg/sglang:v0.5.2",
                            "version": "0.5.2"})
    exp = from_document(doc)
    assert ome_monitoring.enabled(exp)
    pm = ome_monitoring.pod_monitor(exp)
    assert pm["kind"] == "PodMonitor" and pm["metadata"]["namespace"] == "tune"
    ep = pm["spec"]["podMetricsEndpoints"][0]
    assert ep["path"] == engines()["sglang"].metrics["path"]
    trial = make_trial(exp, {}, 0)
    relabel = ep["relabelings"][0]
    m = re.match(relabel["regex"], trial_name(exp, trial))
    assert m and m.group(1) == trial.id
