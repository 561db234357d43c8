"""results.json: the machine-readable report, validated against schemas/report.schema.json.

It formats the run's one `rankings.Ranking`: trials appear in its order with their rank, the
best, its tie set (`decision`) and the Pareto front on the ranking's axes. Non-finite
numbers (an unmeasured SLO's infinite violation, a NaN) are written as null so the file is
strict JSON.

Additive over the first layout (schema_version stays 1; every earlier key keeps its
meaning, `metrics` values are now means over repeats): `decision`, `confirmation`, and per
trial `spread`, `measurements`, `confirmations`, `verdict`, `host_load`, `contended`,
`cpus`, `command`, `telemetry` (engine series per measurement); `score` and its
`slo_checks` gain their intervals and verdicts;
`identity` (the measurement procedure, pinned image digest and tuneops' engine code digest
the trial ids hash). `command` holds no machine paths: `<python>`, `<port>`, paths relative
to the repository (runner/report/portable.py).
Per-request records stay in the run's journal.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from typing import Any

import jsonschema
from tuneops.runner import rankings
from tuneops.runner.report import portable
from tuneops.runner.results import COMPLETED, TrialResult

from tuneops import schemas
from tuneops.plan import identity_facts
from tuneops.spec import Experiment

SCHEMA_VERSION = 1
SCHEMA_FILE = "report.schema.json"


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def trial_entry(result: TrialResult, rank: int) -> dict[str, Any]:
    d = result.as_dict()
    s = result.score
    return _clean({
        "rank": rank,
        "trial_id": d["trial_id"],
        "index": d["index"],
        "params": d["params"],
        "args": d["args"],
        "status": d["status"],
        "reason": d["reason"],
        "attempts": d["attempts"],
        "gpus": d["gpus"],
        "started_at": d["started_at"],
        "finished_at": d["finished_at"],
        "durations": {"startup_s": d["startup_s"], "warmup_s": d["warmup_s"],
                      "benchmark_s": d["benchmark_s"], "total_s": d["total_s"]},
        "log_dir": portable.path(d["log_dir"], portable.repo_root()),
        "simulated": d["simulated"],
        # null: measured in this run; else the report it was taken from (runner/store.py)
        "reused_from": d["reused_from"] or None,
        **({"placement": d["placement"]} if d.get("placement") else {}),
        "feasible": rankings.is_feasible(result),
        "metrics": d["metrics"],
        "not_run": d["not_run"],
        "score": d["score"],
        "verdict": (s.verdict or None) if s is not None and result.status == COMPLETED else None,
        "spread": d["spread"],
        "samples": d["samples"],
        "measurements": d["measurements"],
        "confirmations": d["confirmations"],
        "host_load": d["host_load"],
        "contended": d["contended"],
        "cpus": d["cpus"],
        "command": d["command"],
        "telemetry": d["telemetry"],
    })


def build(
    exp: Experiment, ranking: rankings.Ranking, provenance: dict[str, Any],
    confirmation: dict[str, Any] | None = None, search: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The whole document, formatting `ranking` (rankings.ranking) as it is; `search`: what
    the search method records of itself (ModelSearcher / BayesianSearcher.report_block)."""
    ranked, best = ranking.trials, ranking.best
    x, y = ranking.pareto_axes
    front = ranking.pareto
    b = exp.benchmark
    doc = {
        "schema_version": SCHEMA_VERSION,
        **provenance,
        # what the trial ids hash besides the flags (tuneops/identity.py)
        "identity": identity_facts(exp),
        # a simulated trial makes the whole report simulated, whatever the provenance says
        "simulated": bool(provenance.get("simulated")) or any(r.simulated for r in ranked),
        "benchmark": {"task": b.task, "traffic_scenarios": list(b.traffic_scenarios),
                      "concurrency": list(b.concurrency),
                      "max_time_per_run_min": b.max_time_per_run_min,
                      "max_requests_per_run": b.max_requests_per_run,
                      "repeats": b.repeats_identity,
                      **({"load": b.load.as_dict} if b.load is not None else {})},
        "objective": {"metric": exp.objective.metric, "direction": exp.objective.direction,
                      "concurrency": exp.objective.concurrency,
                      "scenario": exp.objective.scenario,
                      "tieBreak": exp.objective.tie_break},  # as the experiment spells it
        "slos": [s.as_dict() for s in exp.slos],
        # slos[] with perRequest: what made a request good for the goodput metrics
        "request_slos": [s.as_dict() for s in exp.request_slos],
        "parameters": [p.name for p in exp.parameters],
        "summary": {
            "trials": len(ranked),
            "completed": sum(r.status == COMPLETED for r in ranked),
            "feasible": sum(rankings.is_feasible(r) for r in ranked),
            "failed": sum(r.status != COMPLETED for r in ranked),
            "reused": sum(bool(r.reused_from) for r in ranked),
        },
        "best_trial_id": best.trial_id if best else None,
        "decision": {
            "best_trial_id": best.trial_id if best else None,
            "tie_set": ranking.tie_ids,
            "tie_break": ranking.tie_break,
            "separated": ranking.separated,
            "spread_known": ranking.spread_known,
            "confidence": 0.95,
            "contended_trials": [r.trial_id for r in ranked if r.contended],
        },
        "confirmation": confirmation,
        **({"search": search} if search else {}),
        "pareto": {"x": x, "y": y, "trial_ids": [r.trial_id for r in front]},
        "trials": [trial_entry(r, i + 1) for i, r in enumerate(ranked)],
    }
    return _clean(doc)


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    return json.loads((schemas.ROOT / SCHEMA_FILE).read_text())


def validate(doc: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError when the document does not match the schema."""
    jsonschema.validate(doc, schema(), cls=jsonschema.Draft202012Validator)


def dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=False, allow_nan=False) + "\n"
