"""Workloads end to end on the simulator, through genai-bench's own mechanisms: a ShareGPT
file (multi-turn) as the dataset scenario, and a shared prefix (--prefix-len)."""

from __future__ import annotations

import json
import re

import pytest

from tests import e2e_helpers as h
from tests.paths import ROOT
from tuneops.workloads import prompts, read_sharegpt

pytestmark = [pytest.mark.genai_bench, pytest.mark.slow]
SAMPLE = ROOT / "assets" / "datasets" / "sharegpt-sample.json"


def _run(tmp_path, marker, name, benchmark):
    exp_path = h.write_experiment(tmp_path, name, parameters={"max-running-requests": [8]},
                                  benchmark=benchmark)
    cli = h.Cli(exp_path, tmp_path, marker=marker)
    rc, _ = cli.wait()
    assert rc == 0, cli.stderr()
    [report_dir] = (tmp_path / "reports" / name).iterdir()
    doc = h.check_report(report_dir)
    [trial] = doc["trials"]
    assert trial["status"] == "completed"
    [run_dir] = h.run_dirs(tmp_path / "runs", name)
    logs = sorted(run_dir.rglob("genai-bench.log")) + sorted(run_dir.rglob("genai_bench.log"))
    assert logs, "no genai-bench log"
    return trial, "\n".join(p.read_text(errors="replace") for p in logs), run_dir


def test_sharegpt_multi_turn_is_the_dataset_genai_bench_sends(tmp_path, marker):
    trial, log, run_dir = _run(tmp_path, marker, "sharegpt", {
        "trafficScenarios": ["dataset"], "dataset": "assets/datasets/sharegpt-sample.json",
        "datasetFormat": "sharegpt", "multiTurn": True})
    want = prompts(read_sharegpt(SAMPLE)[0], multi_turn=True)
    [sent] = list(run_dir.rglob("sharegpt-prompts.json"))
    assert json.loads(sent.read_text()) == want
    # genai-bench's own loader took every prompt (genai_bench/data/sources.py)
    assert f"Loaded {len(want)} items from JSON file" in log
    [(_, m)] = trial["metrics"]["dataset"].items()
    assert m["num_completed_requests"] >= 1 and m["output_throughput"] > 0


def test_shared_prefix_is_genai_benchs_own(tmp_path, marker):
    trial, log, _ = _run(tmp_path, marker, "prefix", {
        "trafficScenarios": ["D(32,32)"], "sharedPrefix": {"tokens": 24}})
    # genai-bench generated one prefix and reused it (genai_bench/sampling/text.py)
    assert re.search(r"Generated shared prefix \(24 tokens\)", log), log[-2000:]
    [(_, m)] = trial["metrics"]["D(32,32)"].items()
    assert m["num_completed_requests"] >= 1
    assert not h.marked(marker), "the run left processes behind"
