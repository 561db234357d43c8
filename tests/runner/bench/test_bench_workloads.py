"""Workloads through genai-bench's own mechanisms: the shared prefix (--prefix-len,
--prefix-ratio) reaches genai-bench as its CLI would take it, and tuneops refuses exactly
what genai-bench's validate_prefix_options would refuse once the engine had loaded."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from tuneops.runner import bench

from tests.runner.bench.test_bench import make_exp
from tuneops.validate import validate_document

# In a child process: importing genai-bench's CLI monkey-patches the interpreter (gevent).
_CHECK = """
import json, sys
import click
from genai_bench.cli.cli import benchmark
from genai_bench.cli.validation import validate_prefix_options
for argv in json.loads(sys.stdin.read()):
    p = benchmark.make_context("benchmark", argv).params
    try:
        validate_prefix_options(p["prefix_len"], p["prefix_ratio"], p["task"],
                                p["dataset_path"], p["dataset_config"],
                                list(p["traffic_scenario"]))
        why = ""
    except click.UsageError as e:
        why = str(e)
    print(json.dumps([p["prefix_len"], p["prefix_ratio"], why]))
"""

CASES = [  # (sharedPrefix, scenarios): genai-bench and tuneops must agree on each
    ({"tokens": 64}, ["D(100,100)", "U(64,200)/(10,20)"]),
    ({"tokens": 64}, ["N(100,20)/(50,10)"]),  # 100 - 3*20 = 40 < 64
    ({"tokens": 40}, ["N(100,20)/(50,10)"]),
    ({"tokens": 101}, ["D(100,100)"]),
    ({"ratio": 0.5}, ["D(100,100)", "D(200,10)"]),
    ({"ratio": 0.5}, ["D(100,100)", "N(100,20)/(50,10)"]),
]


def _doc(prefix, scenarios):
    return {
        "apiVersion": "tuneops/v1", "kind": "Experiment", "metadata": {"name": "prefix"},
        "model": {"id": "org/model", "architecture": {
            "layers": 16, "attentionHeads": 32, "kvHeads": 8, "hiddenSize": 2048,
            "parameters": 1.24e9}},
        "engine": {"name": "sglang", "version": "0.5.23"},
        "deployment": {"mode": "local", "gpus": {"count": 1, "type": "H100"}},
        "benchmark": {"trafficScenarios": scenarios, "concurrency": [1],
                      "sharedPrefix": prefix},
        "objective": {"metric": "output_throughput_per_gpu"},
    }


@pytest.mark.genai_bench
def test_shared_prefix_is_genai_benchs_own_and_refused_alike(tmp_path):
    argvs, ours = [], []
    for prefix, scenarios in CASES:
        exp = make_exp(scenarios=scenarios, levels=[1], sharedPrefix=prefix)
        argvs.append(bench.build_command(exp, "http://127.0.0.1:9", tmp_path, gpu_count=1)[2:])
        _, diags = validate_document(_doc(prefix, scenarios))
        ours.append([d.message for d in diags])
    done = subprocess.run([sys.executable, "-c", _CHECK], input=json.dumps(argvs), text=True,
                          capture_output=True, env=bench.bench_env(), timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    theirs = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("[")]
    assert len(theirs) == len(CASES)
    for (prefix, scenarios), (length, ratio, why), mine in zip(CASES, theirs, ours, strict=True):
        assert (length, ratio) == (prefix.get("tokens"), prefix.get("ratio"))
        assert bool(why) == bool(mine), f"{prefix} {scenarios}: genai-bench {why!r}, " \
                                        f"tuneops {mine}"
    assert sum(bool(m) for m in ours) == 3  # the N below 64, the 101 > 100, the ratio on N


def test_no_shared_prefix_no_prefix_flags(tmp_path):
    cmd = bench.build_command(make_exp(), "http://127.0.0.1:9", tmp_path, gpu_count=1)
    assert "--prefix-len" not in cmd and "--prefix-ratio" not in cmd


def test_shared_prefix_changes_the_trial_id():
    from tuneops.plan import trial_id

    plain = make_exp(scenarios=["D(100,100)"], levels=[1])
    shared = make_exp(scenarios=["D(100,100)"], levels=[1], sharedPrefix={"tokens": 50})
    assert trial_id(plain, {}) != trial_id(shared, {})


def test_sharegpt_reaches_genai_bench_as_its_prompt_list(tmp_path):
    from tests.paths import ROOT
    from tuneops.workloads import prompts, read_sharegpt

    sample = ROOT / "assets" / "datasets" / "sharegpt-sample.json"
    for multi in (False, True):
        exp = make_exp(scenarios=["dataset"], levels=[1], dataset=str(sample),
                       datasetFormat="sharegpt", multiTurn=multi)
        out = tmp_path / f"multi-{multi}"
        cmd = bench.build_command(exp, "http://127.0.0.1:9", out, gpu_count=1)
        [path] = [cmd[i + 1] for i, a in enumerate(cmd) if a == "--dataset-path"]
        assert json.loads(open(path).read()) == prompts(read_sharegpt(sample)[0], multi)


def test_sharegpt_changed_after_validate_is_refused_at_its_line(tmp_path):
    from tuneops.errors import UserError

    bad = tmp_path / "d.json"
    bad.write_text('[\n {"conversations": [{"from": "gpt", "value": "x"}]}\n]')
    exp = make_exp(scenarios=["dataset"], levels=[1], dataset=str(bad),
                   datasetFormat="sharegpt")
    with pytest.raises(UserError) as e:
        bench.build_command(exp, "http://127.0.0.1:9", tmp_path, gpu_count=1)
    [d] = e.value.diagnostics
    assert (d.file, d.line) == (str(bad), 2) and "no human turn" in d.message


def test_a_sharegpt_dataset_changes_the_trial_id():
    from tuneops.plan import trial_id

    plain = make_exp(scenarios=["dataset"], levels=[1], dataset="d.json")
    shared = make_exp(scenarios=["dataset"], levels=[1], dataset="d.json",
                      datasetFormat="sharegpt")
    assert trial_id(plain, {}) != trial_id(shared, {})


def test_per_request_bounds_change_the_trial_id():
    """Goodput is counted as a trial is measured: a trial from a run without these bounds
    has none, so it is not reused."""
    import dataclasses

    from tuneops.metrics import RequestSlo
    from tuneops.plan import trial_id

    plain = make_exp()
    good = dataclasses.replace(plain, request_slos=(RequestSlo("ttft", 500),))
    assert trial_id(plain, {}) != trial_id(good, {})
