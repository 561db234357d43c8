"""Feasibility rules read the engine table: which flags size tensor/data/pipeline
parallelism, which flag runs data parallelism inside tensor parallelism, and whether the
weights must fit in GPU memory are entry fields, not engine names in the code."""

from __future__ import annotations

import dataclasses
import json

import pytest

from tuneops import registry
from tuneops.validate import validate_document

LLAMA_70B = {"layers": 80, "attentionHeads": 64, "kvHeads": 8, "hiddenSize": 8192,
             "parameters": 70.6e9}


def _doc(engine: dict, parameters: dict, gpus: int = 2, architecture: dict | None = None):
    return {
        "apiVersion": "tuneops/v1", "kind": "Experiment", "metadata": {"name": "feasible"},
        "model": {"id": "meta-llama/Llama-3.1-8B-Instruct",
                  "architecture": architecture or {"layers": 32, "attentionHeads": 32,
                                                   "kvHeads": 8, "hiddenSize": 4096,
                                                   "parameters": 8.03e9}},
        "engine": engine,
        "deployment": {"mode": "docker", "gpus": {"count": gpus, "type": "H100"}},
        "parameters": parameters,
        "benchmark": {"trafficScenarios": ["D(100,100)"], "concurrency": [1]},
        "objective": {"metric": "output_throughput_per_gpu"},
        "search": {"method": "grid"},
    }


def _errors(doc) -> list[str]:
    _, problems = validate_document(json.loads(json.dumps(doc)))
    return [f"{p.path}: {p.message}" for p in problems if p.severity == "error"]


SGLANG = {"name": "sglang", "image": "lmsysorg/sglang:v0.5.5", "version": "0.5.23"}
VLLM = {"name": "vllm", "image": "vllm/vllm-openai:v0.33.0", "version": "0.33.0"}


def test_the_table_names_each_engines_parallelism_flags_under_any_spelling():
    # vLLM's table entry says tensor-parallel-size; its catalog's alias -tp counts too
    [err] = _errors(_doc(VLLM, {"tp": [1, 4]}))
    assert err == "parameters.tp[1]: tp 4 needs 4 GPUs, but each trial gets 2"
    [err] = _errors(_doc(SGLANG, {"tensor-parallel-size": [4]}))
    assert "tensor-parallel-size 4 needs 4 GPUs" in err


def test_data_parallelism_inside_tensor_parallelism_is_the_entrys_flag():
    params = {"tp-size": [2], "dp-size": [2]}
    [err] = _errors(_doc(SGLANG, params))
    assert "needs 4 GPUs" in err
    inside = {**SGLANG, "args": {"enable-dp-attention": True}}
    assert _errors(_doc(inside, params)) == []


@pytest.fixture
def table(monkeypatch):
    """The shipped table with one entry's fields replaced."""
    shipped = registry.engines()

    def replace(name: str, **fields) -> None:
        changed = {**shipped, name: dataclasses.replace(shipped[name], **fields)}
        monkeypatch.setattr(registry, "engines", lambda: changed)

    return replace


def test_weights_on_gpus_decides_the_memory_check(table):
    doc = _doc(SGLANG, {"tp-size": [1]}, gpus=1, architecture=LLAMA_70B)
    [err] = _errors(doc)
    assert "the weights need about" in err
    table("sglang", weights_on_gpus=False)
    assert _errors(doc) == []


def test_an_engine_without_parallelism_flags_has_no_parallel_roles(table):
    table("sglang", parallel_flags=())
    assert _errors(_doc(SGLANG, {"tp-size": [4]})) == []
