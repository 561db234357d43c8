"""`tuneops report REPORT_DIR`: report.md, report.html and the plots again, from
results.json alone, so old reports get the new views without measuring again.

results.json is input like any other (a pull request can commit one): it is read as a
regular file with a size bound, checked against schemas/report.schema.json, and refused
with the report's path and the failing field (exit 2) before anything is written. The
experiment is rebuilt from what the report records (name, engine, hardware, benchmark,
objective, SLOs, and the parameter values its trials tried); scores are the stored ones,
so the ranking is the run's. Reports written before the model was recorded show a
placeholder where a deploy command would name it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tuneops.runner import rankings, store
from tuneops.runner.report import load as report_load
from tuneops.runner.report import write_report
from tuneops.runner.results import Score, SloCheck, TrialResult

from tuneops import spec

UNRECORDED_MODEL = "model-not-recorded-in-this-report"


def load(report_dir: Path) -> dict[str, Any]:
    """results.json of `report_dir` through the one loader (runner/report/load.py): a
    regular file, bounded, schema-checked, or refused with its path and field (exit 2)."""
    return report_load.load(report_load.results_path(report_dir)).doc


def experiment(doc: dict[str, Any]) -> spec.Experiment:
    """The experiment as far as the report records it."""
    e, b, hw = doc["experiment"], doc["benchmark"], doc["hardware"]
    values: dict[str, list] = {p: [] for p in doc.get("parameters") or []}
    for t in doc["trials"]:
        for k, v in (t.get("params") or {}).items():
            if k in values and v not in values[k]:
                values[k].append(v)
    model = e.get("model") or {}
    return spec.from_document({
        "metadata": {"name": e["name"], "description": e.get("description") or ""},
        "model": {"id": model.get("id") or UNRECORDED_MODEL,
                  **({"servedName": model["servedName"]} if model.get("servedName") else {})},
        "engine": {k: v for k, v in (("name", doc["engine"]["name"]),
                                     ("image", doc["engine"].get("image")),
                                     ("version", doc["engine"].get("version"))) if v},
        "deployment": {"mode": hw.get("deployment") or "local",
                       "gpus": {"count": int(hw.get("gpu_count") or 0),
                                **({"type": hw["gpu_type"]} if hw.get("gpu_type") else {})}},
        "parameters": {k: v for k, v in values.items() if v},
        "benchmark": {"task": b["task"], "trafficScenarios": list(b["traffic_scenarios"]),
                      "concurrency": list(b["concurrency"]),
                      "maxTimePerRun": b["max_time_per_run_min"],
                      "maxRequestsPerRun": b["max_requests_per_run"],
                      **({"repeats": b["repeats"]} if b.get("repeats") is not None else {}),
                      **({"load": spec.load_document(b["load"])} if b.get("load") else {})},
        "objective": {k: v for k, v in doc["objective"].items() if v is not None},
        "slos": [{k: v for k, v in s.items() if v is not None}
                 for s in [*(doc.get("slos") or []), *(doc.get("request_slos") or [])]],
    }, source_file=e.get("file") or "")


def _score(d: dict[str, Any] | None) -> Score | None:
    if not d:
        return None
    d = dict(d)
    checks = [SloCheck(**{**c, "violation": c["violation"] if c.get("violation") is not None
                          else float("inf")}) for c in d.pop("slo_checks", [])]
    return Score(**d, slo_checks=checks)


def results(doc: dict[str, Any]) -> list[TrialResult]:
    out = []
    for t in doc["trials"]:
        r = store.result_from_entry(t, trial_id=t["trial_id"], index=t["index"],
                                    params=dict(t.get("params") or {}),
                                    args=dict(t.get("args") or {}),
                                    reused_from=t.get("reused_from") or "")
        r.score = _score(t.get("score"))
        out.append(r)
    return out


def regenerate(report_dir: Path, manifests_root: Path | None = Path("manifests")) -> Path:
    """Rewrite every view of the report in `report_dir` from its results.json."""
    doc = load(report_dir)
    exp = experiment(doc)
    trials = results(doc)
    provenance = {k: doc[k] for k in ("experiment", "run", "git", "engine", "hardware",
                                      "tools", "simulated") if k in doc}
    return write_report(report_dir, exp, trials, provenance, run_id=doc["run"]["id"],
                        manifests_root=manifests_root, ranking=rankings.ranking(trials, exp),
                        confirmation=doc.get("confirmation"), search=doc.get("search"))
