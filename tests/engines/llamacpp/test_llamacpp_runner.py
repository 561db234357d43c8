"""The runner against a real llama.cpp: one experiment, two trials, through `run_experiment`.

Both trials turn flash attention off; one keeps an f16 V cache (llama.cpp serves it and a
short genai-bench run measures it), the other asks for a q8_0 V cache, which llama.cpp
refuses at start ("quantized V cache requires flash_attn"): a config failure, never retried,
with llama.cpp's own words in the reason. Nothing is replaced: the xllamacpp launcher,
the local backend, genai-bench and the scorer all run for real on the tiny generated model.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from tuneops.runner.results import COMPLETED, FAILED_CONFIG
from tuneops.runner.run import RunOptions, RunSummary, run_experiment

from tests import e2e_helpers as h
from tests.conftest import tiny_model
from tests.paths import ROOT
from tuneops.validate import load_experiment

REPO = ROOT
SCENARIO = "D(16,16)"
REQUESTS = 4


def _experiment(folder: Path, model: Path) -> Path:
    doc = {
        "apiVersion": "tuneops/v1",
        "kind": "Experiment",
        "metadata": {"name": "llamacpp-runner"},
        "model": {
            "id": str(model), "servedName": "tiny", "tokenizer": str(REPO / "assets/tokenizer"),
            "architecture": {"layers": 2, "attentionHeads": 4, "kvHeads": 4, "hiddenSize": 128,
                             "parameters": 7e6, "dtypeBytes": 1},
        },
        "engine": {"name": "llamacpp",
                   "args": {"ctx-size": 512, "threads": 1, "parallel": 1, "flash-attn": "off",
                            "no-warmup": True}},
        "deployment": {"mode": "local", "gpus": {"count": 0}, "startupTimeout": 60},
        "parameters": {"cache-type-v": ["f16", "q8_0"]},
        "benchmark": {"task": "text-to-text", "trafficScenarios": [SCENARIO], "concurrency": [1],
                      "maxTimePerRun": 1, "maxRequestsPerRun": REQUESTS, "warmupRequests": 1},
        "objective": {"metric": "output_throughput", "direction": "maximize"},
        "search": {"method": "grid", "seed": 0},
    }
    path = folder / "llamacpp-runner.yaml"
    path.write_text(json.dumps(doc, indent=2))
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[RunSummary, str]:
    tmp = tmp_path_factory.mktemp("llamacpp-runner")
    exp = load_experiment(_experiment(tmp, tiny_model()))
    marker = uuid.uuid4().hex
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(h.MARKER, marker)  # every engine and genai-bench inherits it
        mp.setenv("TUNEOPS_RUNTIME_DIR", str(tmp / "runtime"))
        summary = run_experiment(exp, RunOptions(
            runs_root=tmp / "runs", reports_root=tmp / "reports", quiet=True, fresh=True,
        ))
    return summary, marker


def _by_cache(summary: RunSummary) -> dict[str, object]:
    return {r.params["cache-type-v"]: r for r in summary.results}


def test_a_flag_combination_llamacpp_rejects_is_a_config_failure_tried_once(run):
    summary, _ = run
    failed = _by_cache(summary)["q8_0"]
    assert failed.status == FAILED_CONFIG
    assert failed.attempts == 1
    assert "quantized V cache requires flash_attn" in failed.reason  # llama.cpp's own words
    assert "exited with code 1" in failed.reason
    assert failed.metrics == {}
    assert failed.score is None or not failed.score.feasible
    log = Path(failed.log_dir) / "engine.log"
    assert "llama.cpp rejected the configuration" in log.read_text()


def test_genai_bench_measures_llamacpp_through_the_runner(run):
    summary, _ = run
    done = _by_cache(summary)["f16"]
    assert done.status == COMPLETED, done.reason
    level = done.metrics[SCENARIO][1]
    # genai-bench checks its request cap about once a second: a fast engine overshoots it
    assert level["num_completed_requests"] == level["num_requests"] >= REQUESTS
    assert level["error_rate"] == 0.0
    assert level["output_throughput"] > 0
    assert 0 < level["ttft.p50"] <= level["e2e_latency.p50"]
    assert done.score is not None and done.score.objective == level["output_throughput"]
    assert summary.best is done  # the failed trial ranks last
    assert not summary.simulated
    results = json.loads((summary.report_dir / "results.json").read_text())
    assert results["simulated"] is False
    assert [t["status"] for t in results["trials"]] == [COMPLETED, FAILED_CONFIG]


def test_nothing_is_left_running(run):
    _, marker = run
    assert h.marked(marker) == []
