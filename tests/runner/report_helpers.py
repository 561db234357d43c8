"""A small experiment and its trial results, the inputs every report test writes from: one
home for them, imported by the report, cost, regeneration, dashboard and hostile-input
tests."""

from __future__ import annotations

from tuneops.runner import bench, score
from tuneops.runner.results import COMPLETED, FAILED_CONFIG, FAILED_INFRA, TrialResult

from tests.paths import TESTS
from tuneops.spec import from_document

FIXTURES = TESTS / "fixtures" / "genai_bench"


def make_exp(engine="sim", slo_ms=500.0, source_file=""):
    exp = from_document({
        "metadata": {"name": "report-test", "description": "report tests"},
        "model": {"id": "org/m", "servedName": "m", "tokenizer": "assets/tokenizer"},
        "engine": {"name": engine, "image": "img:1", "version": "0.5.23"},
        "deployment": {"mode": "local", "gpus": {"count": 1, "type": "H100"}},
        "parameters": {"max-running-requests": [8, 64], "schedule-policy": ["lpm", "fcfs"]},
        "benchmark": {"trafficScenarios": ["D(20,10)", "N(30,5)/(8,2)", "U(10,30)/(4,12)"],
                      "concurrency": [1, 2], "maxTimePerRun": 1, "maxRequestsPerRun": 4},
        "objective": {"metric": "output_throughput_per_gpu"},
        "slos": [{"metric": "ttft.p99", "max": slo_ms}, {"metric": "error_rate", "max": 0.01}],
    }, source_file=source_file, text="doc" if source_file else "")
    return exp


def real_metrics(scale: float = 1.0):
    """Metrics from real genai-bench output, throughputs scaled to make trials differ."""
    metrics = bench.parse_results(FIXTURES / "ok").metrics
    for by_c in metrics.values():
        for m in by_c.values():
            for k in list(m):
                if "throughput" in k:
                    m[k] *= scale
    return metrics


def make_results(exp):
    out = []
    specs = [(0, 8, "lpm", 1.0), (1, 64, "lpm", 2.0), (2, 8, "fcfs", 0.5)]
    for i, mrr, pol, scale in specs:
        r = TrialResult(trial_id=f"trial{i:06d}", index=i,
                        params={"max-running-requests": mrr, "schedule-policy": pol},
                        args={"max-running-requests": mrr, "schedule-policy": pol},
                        status=COMPLETED, metrics=real_metrics(scale), simulated=True,
                        started_at=f"2026-01-01T00:0{i}:00Z", finished_at=f"2026-01-01T00:0{i}:30Z",
                        startup_s=1.0, benchmark_s=20.0, total_s=21.0)
        r.score = score.score_trial(exp, r.metrics)
        out.append(r)
    out[2].metrics = {sc: {c: {**m, "ttft.p99": 1e6} for c, m in by_c.items()}
                      for sc, by_c in out[2].metrics.items()}  # blows the TTFT SLO
    out[2].score = score.score_trial(exp, out[2].metrics)
    out.append(TrialResult(trial_id="trialfail1", index=3,
                           params={"max-running-requests": 64, "schedule-policy": "fcfs"},
                           args={}, status=FAILED_CONFIG, attempts=1,
                           reason="engine exited with 1: CUDA out of memory | oops\nsecond line"))
    out.append(TrialResult(trial_id="trialfail2", index=4, params={}, args={},
                           status=FAILED_INFRA, attempts=3, reason="port in use"))
    return out


def doc_with(**over):
    base = {
        "metadata": {"name": "plot-test"},
        "model": {"id": "org/m", "tokenizer": "assets/tokenizer"},
        "engine": {"name": "sim", "version": "0.5.23"},
        "deployment": {"mode": "local", "gpus": {"count": 1, "type": "H100"}},
        "benchmark": {"trafficScenarios": ["D(20,10)"], "concurrency": [1]},
        "objective": {"metric": "output_throughput_per_gpu"},
    }
    return {**base, **over}
