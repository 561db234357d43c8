"""Validation takes every spelling and value the engines take (no parser venv needed).

What the issue found refused although the engines accept it: vLLM's `-tp` and other short
aliases, inverse spellings (`disable-prefix-caching`, `no-dllm-fdfo`), sizes (`8k`), `auto`,
and values outside choices the static reader had guessed (vLLM `lora-dtype: float32`).
The wrong way round (accepted although refused) is in tests/bad/flag-*.yaml.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from ruamel.yaml import YAML
from tuneops.renderers.command import engine_command

from tuneops.plan import make_plan
from tuneops.validate import validate_file

BASE = {
    "apiVersion": "tuneops/v1", "kind": "Experiment", "metadata": {"name": "spellings"},
    "model": {"id": "m", "architecture": {"layers": 32, "attentionHeads": 32, "kvHeads": 8,
                                          "hiddenSize": 4096, "parameters": 8.03e9}},
    "deployment": {"mode": "docker", "gpus": {"count": 1, "type": "H100"}},
    "benchmark": {"trafficScenarios": ["D(128,128)"], "concurrency": [1], "maxTimePerRun": 1,
                  "maxRequestsPerRun": 10},
    "objective": {"metric": "output_throughput_per_gpu", "concurrency": 1},
    "search": {"method": "grid"},
}
ENGINES = {"sglang": ("lmsysorg/sglang:v0.5.5", "0.5.23"),
           "vllm": ("vllm/vllm-openai:v0.33.0", "0.33.0")}


def experiment(tmp_path: Path, engine: str, args: dict, parameters: dict):
    doc = copy.deepcopy(BASE)
    image, version = ENGINES[engine]
    doc["engine"] = {"name": engine, "image": image, "version": version, "args": args}
    doc["parameters"] = parameters
    path = tmp_path / "e.yaml"
    with path.open("w") as fh:
        YAML().dump(doc, fh)
    exp, diags = validate_file(path)
    assert diags == [], "\n".join(map(str, diags))
    return exp


@pytest.mark.parametrize("engine, args, parameters", [
    ("vllm", {"tp": 1, "q": "fp8", "ep": False, "lora-dtype": "float32"},
     {"max-model-len": ["auto", "8k", "8K", 4096], "disable-prefix-caching": {"type": "bool"},
      "moe-backend": ["AITER", "triton"]}),
    ("sglang", {"no-dllm-fdfo": True, "tensor-parallel-size": 1},
     {"context-length": ["8k", "1Mi", "2.5k", 8192], "enable-tf32-matmul": {"type": "bool"},
      "kv-canary-real-data": ["none", "all"]}),
])
def test_every_spelling_and_value_the_engine_takes_validates(tmp_path, engine, args,
                                                            parameters):
    exp = experiment(tmp_path, engine, args, parameters)
    words = [w for t in make_plan(exp).trials
             for w in engine_command(exp, t.args, host="h", port=1, local=False)]
    assert not {"--tp", "--q", "--ep"} & set(words)  # vLLM: refused or prefix-matched
    assert ("--no-dllm-fdfo" in words) == (engine == "sglang")


def test_inverse_spellings_are_written_as_the_engine_reads_them(tmp_path):
    exp = experiment(tmp_path, "vllm", {"disable-log-stats": True, "tp": 1},
                     {"disable-prefix-caching": {"type": "bool"}})
    commands = [engine_command(exp, t.args, host="h", port=1, local=False)[9:]
                for t in make_plan(exp).trials]
    assert sorted(commands) == sorted([
        ["--disable-log-stats", "--disable-prefix-caching", "--tensor-parallel-size", "1"],
        ["--disable-log-stats", "--enable-prefix-caching", "--tensor-parallel-size", "1"],
    ])
