"""Reports of an open-loop experiment: offered and achieved rate per point, the capacity
found (max_slo_rate) as the objective, and rates that are not whole surviving results.json."""

from __future__ import annotations

import json

from tuneops.runner import score
from tuneops.runner.loadgen import aiperf
from tuneops.runner.report import write_report
from tuneops.runner.results import COMPLETED, TrialResult

from tests.paths import TESTS
from tuneops.metrics import MAX_SLO_RATE
from tuneops.spec import from_document

FIXTURE = TESTS / "fixtures" / "aiperf" / "poisson-2rps"
SCENARIO = "D(100,200)"


def make_exp():
    return from_document({
        "metadata": {"name": "rates-report"},
        "model": {"id": "org/m", "servedName": "m", "tokenizer": "assets/tokenizer"},
        "engine": {"name": "sim", "image": "img:1", "version": "0.5.23"},
        "deployment": {"mode": "local", "gpus": {"count": 1, "type": "H100"}},
        "parameters": {"max-running-requests": [2, 4]},
        "benchmark": {"trafficScenarios": [SCENARIO],
                      "load": {"type": "rate", "rates": {"search": "capacity", "low": 1,
                                                         "high": 4}, "requests": 60}},
        "objective": {"metric": MAX_SLO_RATE},
        "slos": [{"metric": "ttft.p99", "max": 3000}],
    })


def result(exp, i: int, capacity: float) -> TrialResult:
    """A trial measured at 2 and 2.5 req/s, both from AIPerf's real files."""
    point = aiperf.read_point(FIXTURE, exp.benchmark.load, 2.0)
    metrics = {SCENARIO: {2.0: {**point.metrics, MAX_SLO_RATE: capacity},
                          2.5: {**point.metrics, "offered_rate": 2.5, MAX_SLO_RATE: capacity}}}
    r = TrialResult(trial_id=f"trial{i:06d}", index=i, params={"max-running-requests": 2 + i},
                    args={"max-running-requests": 2 + i}, status=COMPLETED, metrics=metrics,
                    simulated=True, started_at="2026-01-01T00:00:00Z",
                    finished_at="2026-01-01T00:00:30Z", startup_s=1.0, benchmark_s=20.0,
                    total_s=21.0)
    r.score = score.score_trial(exp, r.metrics)
    return r


def test_report_shows_offered_and_achieved_rate_and_names_the_best_by_capacity(tmp_path):
    exp = make_exp()
    results = [result(exp, 0, 2.0), result(exp, 1, 2.5)]
    out = write_report(tmp_path / "reports" / "run1", exp, results, run_id="run1",
                       manifests_root=None)
    md = (out / "report.md").read_text()
    assert "## Per-rate detail" in md
    assert "offered req/s" in md and "achieved req/s" in md and "max SLO req/s" in md
    assert "| D(100,200) | 2.50 | 1 | 2.50 |" in md  # a rate that is not whole: its own row
    doc = json.loads((out / "results.json").read_text())
    ranked = doc["trials"]
    assert ranked[0]["trial_id"] == "trial000001"  # the higher capacity wins
    assert set(ranked[0]["metrics"][SCENARIO]) == {"2", "2.5"}
    assert doc["benchmark"]["load"]["rates"] == {"search": "capacity", "low": 1.0, "high": 4.0}
    back = TrialResult.from_dict(json.loads(json.dumps(results[1].as_dict())))
    assert set(back.metrics[SCENARIO]) == {2, 2.5}
