"""Push a report's per-trial results to a Prometheus Pushgateway (optional, for cluster
runs whose dashboards live in Grafana): `tuneops report DIR --pushgateway URL`.

One gauge family per value, labelled by experiment, run and trial: the objective (and its
95 % interval ends), feasibility, and each telemetry series' max over the trial's
measurements. Pushed with prometheus_client's `push_to_gateway` under job
``tuneops`` and grouping key ``{experiment, run}``, so a later run of the same
experiment does not replace an earlier one. The URL must be http(s): the report names
what it pushes to, never a credential.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry, Gauge, push_to_gateway

from tuneops.errors import UserError

LABELS = ("experiment", "run", "trial")


def registry_for(doc: dict[str, Any]) -> CollectorRegistry:
    reg = CollectorRegistry()
    exp, run = doc["experiment"]["name"], doc["run"]["id"]
    gauges = {
        "objective": Gauge("tuneops_trial_objective", f"{doc['objective']['metric']} at the "
                           "objective's point", LABELS, registry=reg),
        "objective_low": Gauge("tuneops_trial_objective_low", "95 % interval, low end",
                               LABELS, registry=reg),
        "objective_high": Gauge("tuneops_trial_objective_high", "95 % interval, high end",
                                LABELS, registry=reg),
        "feasible": Gauge("tuneops_trial_feasible", "1: every SLO met", LABELS, registry=reg),
        "rank": Gauge("tuneops_trial_rank", "position in the run's ranking", LABELS,
                      registry=reg),
    }
    telemetry = Gauge("tuneops_trial_telemetry_max", "a telemetry series' max over the "
                      "trial's measurements", (*LABELS, "series"), registry=reg)
    for t in doc["trials"]:
        key = (exp, run, t["trial_id"])
        s = t.get("score") or {}
        for name in ("objective", "objective_low", "objective_high"):
            if s.get(name) is not None:
                gauges[name].labels(*key).set(s[name])
        gauges["feasible"].labels(*key).set(1.0 if t.get("feasible") else 0.0)
        gauges["rank"].labels(*key).set(t["rank"])
        peaks: dict[str, float] = {}
        for m in t.get("telemetry") or []:
            for series, stat in (m.get("series") or {}).items():
                peaks[series] = max(peaks.get(series, stat["max"]), stat["max"])
        for series, v in peaks.items():
            telemetry.labels(*key, series).set(v)
    return reg


def push(doc: dict[str, Any], url: str, timeout: float = 10.0) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username:
        # never echoed: a URL with user:password in it would print the password
        raise UserError(summary="--pushgateway: an http(s)://host[:port] URL without "
                                "credentials is allowed")
    push_to_gateway(url, job="tuneops", registry=registry_for(doc), timeout=timeout,
                    grouping_key={"experiment": doc["experiment"]["name"],
                                  "run": doc["run"]["id"]})
