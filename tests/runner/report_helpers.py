"""A small experiment and its trial results, the inputs every report test writes from: one
home for them, imported by the report, cost, regeneration, dashboard and hostile-input
tests."""

from __future__ import annotations

from tuneops.runner import bench, score
from tuneops.runner.report.load import from_document as report_from_document
from tuneops.runner.results import COMPLETED, FAILED_CONFIG, FAILED_INFRA, TrialResult

from tests.paths import TESTS
from tuneops.metrics import GOOD_FRACTION, GOODPUT_OUTPUT_TOKENS, GOODPUT_REQUESTS
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


def telemetry_for(kv_max: float) -> list[dict]:
    """A trial's telemetry record (the shape tuneops.runner.telemetry writes), KV cache
    peaking at `kv_max`."""
    lvl = {"kv_cache_usage": {"mean": kv_max / 2, "max": kv_max, "p95": kv_max, "n": 4},
           "running": {"mean": 2.0, "max": 2.0, "p95": 2.0, "n": 4},
           "preemptions": {"mean": 1.0, "max": 3.0, "p95": 3.0, "n": 3, "total": 12.0}}
    return [{"source": "http://127.0.0.1:1/metrics", "interval_s": 0.25, "scrapes": 4,
             "errors": 0, "series": lvl, "levels": {"D(20,10)": {"1": lvl, "2": lvl}},
             "not_exposed": {}, "windows": {},
             "timeline": {"kv_cache_usage": [[0.0, 0.1], [0.25, kv_max]],
                          "running": [[0.0, 1.0], [0.25, 2.0]]},
             "gpu": {"not_measured": "no GPU assigned to the trial"}}]


# trial ids of report_doc's trials "a" and "b"
IDS = {"a": "aaaaaaaaaaaa", "b": "bbbbbbbbbbbb"}


def report_doc(run: str, trials: list[tuple[str, float, dict]], best: str):
    """A schema-valid report, read through the one loader as every caller reads it."""
    entries = [{
        "rank": i + 1, "trial_id": IDS[tid], "index": i, "params": {"p": tid}, "args": {},
        "status": "completed", "reason": "", "attempts": 1, "feasible": True,
        "durations": {"startup_s": 1.0, "benchmark_s": 1.0, "total_s": 2.0},
        "metrics": {}, "simulated": True,
        "score": {"feasible": True, "violation": 0.0, "concurrency": 1,
                  "max_feasible_concurrency": 1, **score,
                  "slo_checks": [{"metric": "ttft.p99", "limit": 500, "bound": "max",
                                  "value": 100.0, "violation": 0.0, "low": 90.0,
                                  "high": 110.0}]},
    } for i, (tid, _, score) in enumerate(trials)]
    best_id = IDS.get(best)
    return report_from_document({
        "schema_version": 1, "run": {"id": run, "started_at": None, "finished_at": None,
                                     "interrupted": False},
        "experiment": {"name": "x", "file": None, "sha256": None},
        "git": {"commit": None, "dirty": None},
        "engine": {"name": "sim", "image": None, "version": None, "simulated": True},
        "hardware": {"gpu_type": None, "gpu_count": 0,
                     "host": {"cpu_model": None, "cpu_cores": None, "memory_bytes": None}},
        "tools": {"tuneops": None, "genai_bench": None, "python": "3"},
        "simulated": True,
        "benchmark": {"task": "text-to-text", "traffic_scenarios": ["D(1,1)"],
                      "concurrency": [1], "max_time_per_run_min": 1,
                      "max_requests_per_run": 1},
        "objective": {"metric": "output_throughput", "direction": "maximize",
                      "concurrency": 1},
        "slos": [{"metric": "ttft.p99", "max": 500}],
        "summary": {"trials": len(entries), "completed": len(entries),
                    "feasible": len(entries), "failed": 0},
        "best_trial_id": best_id,
        "pareto": {"x": "output_throughput", "y": "ttft.p99", "trial_ids": []},
        "trials": entries,
    }, f"report {run}")


# An open-loop (benchmark.load) experiment and fabricated, schema-valid results of it: the
# input of the load charts' and the PR bot's rate tests. No AIPerf run: each trial's
# numbers follow a queue that saturates near its capacity, so curves cross the SLO there.
RATE_SCENARIO = "D(50,50)"
RATES = (1, 2, 4, 8)
CAPACITIES = (6.0, 3.5, 1.5)  # max_slo_rate per trial, best first


def make_rate_exp():
    return from_document({
        "metadata": {"name": "rate-report"},
        "model": {"id": "org/m", "servedName": "m", "tokenizer": "assets/tokenizer"},
        "engine": {"name": "sim", "image": "img:1", "version": "0.5.23"},
        "deployment": {"mode": "local", "gpus": {"count": 1, "type": "H100"}},
        "parameters": {"max-running-requests": [2, 4, 8]},
        "benchmark": {"trafficScenarios": [RATE_SCENARIO],
                      "load": {"type": "rate", "arrival": "poisson", "requests": 60,
                               "rates": {"search": "capacity", "low": 1, "high": 8}},
                      "repeats": 2},
        "objective": {"metric": "max_slo_rate"},
        "slos": [{"metric": "ttft.p99", "max": 500}, {"metric": "tpot.p99", "max": 60},
                 {"metric": "ttft", "max": 400, "perRequest": True}],
    })


def _rate_point(rate: float, cap: float) -> dict[str, float]:
    load = min(rate / (cap * 1.43), 0.97)  # p99 TTFT reaches the 500 ms SLO at `cap`
    achieved = rate * 0.98
    good = 1.0 if rate <= cap else max(0.1, cap / rate)
    return {"offered_rate": float(rate), "achieved_rate": achieved,
            "ttft.p50": 60.0 / (1 - load), "ttft.p99": 150.0 / (1 - load),
            "tpot.p50": 20.0 + 10.0 * rate / cap, "tpot.p99": 30.0 + 20.0 * rate / cap,
            "output_throughput": achieved * 50, "output_throughput_per_gpu": achieved * 50,
            "requests_per_s": achieved, "error_rate": 0.0, "max_slo_rate": cap,
            GOODPUT_REQUESTS: achieved * good, GOODPUT_OUTPUT_TOKENS: achieved * good * 50,
            GOOD_FRACTION: good}


def _spread(m: dict[str, float], rel: float = 0.05) -> dict[str, dict]:
    return {k: {"mean": v, "low": v * (1 - rel), "high": v * (1 + rel), "n": 2,
                "method": "repeats", "half_width": v * rel} for k, v in m.items()}


def make_rate_results(exp, capacities=CAPACITIES):
    """One trial per capacity (measured at RATES, 95 % intervals of ±5 %), then a failure."""
    out = []
    for i, cap in enumerate(capacities):
        metrics = {RATE_SCENARIO: {r: _rate_point(r, cap) for r in RATES}}
        mrr = 2 ** (len(capacities) - i)
        r = TrialResult(trial_id=f"{0xfeed00 + i:012x}", index=i,
                        params={"max-running-requests": mrr},
                        args={"max-running-requests": mrr}, status=COMPLETED, metrics=metrics,
                        spread={RATE_SCENARIO: {lv: _spread(m) for lv, m in
                                                metrics[RATE_SCENARIO].items()}},
                        simulated=True, started_at="2026-01-01T00:00:00Z",
                        finished_at="2026-01-01T00:00:30Z", startup_s=1.0, benchmark_s=20.0,
                        total_s=21.0)
        r.score = score.score_trial(exp, r.metrics, r.spread)
        out.append(r)
    out.append(TrialResult(trial_id="feedfa11feed", index=len(capacities),
                           params={"max-running-requests": 16}, args={},
                           status=FAILED_CONFIG, attempts=1, reason="out of memory"))
    return out
