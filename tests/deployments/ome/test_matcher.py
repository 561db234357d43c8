"""The generated runtime is one OME would pick for the model, by OME's own rules
(pkg/runtimeselector/matcher.go at 17b77eda, ported in deployments/ome/matcher.py)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from tuneops.deployments.ome import matcher
from tuneops.deployments.ome import render as ome

from tuneops import spec, yamlio
from tuneops.validate import validate_document

EXAMPLE = Path(__file__).resolve().parents[3] / "experiments" / "examples" / "sglang-ome.yaml"

# What OME's model agent writes into the ClusterBaseModel after downloading
# meta-llama/Llama-3.1-8B-Instruct, written out by hand from its config.json
# (architectures: [LlamaForCausalLM], transformers_version: 4.43.0.dev0, no
# quantization_config) and its safetensors (8,030,261,248 parameters), following
# pkg/modelagent/config_parser.go:285-323 and pkg/hfutil/modelconfig/interface.go:170-209.
LLAMA_8B_AS_FILLED = {
    "modelArchitecture": "LlamaForCausalLM",
    "modelFormat": {"name": "safetensors", "version": "1.0.0"},
    "modelFramework": {"name": "transformers", "version": "4.43.0.dev0"},
    "modelParameterSize": "8.03B",
    "storage": {"storageUri": "hf://meta-llama/Llama-3.1-8B-Instruct"},
}


def document() -> dict:
    return yamlio.to_plain(yamlio.load(EXAMPLE))


def test_the_examples_runtime_serves_llama_8b_as_omes_agent_fills_it():
    runtime = ome.serving_runtime(spec.from_document(document()))["spec"]
    assert matcher.runtime_mismatches(runtime, LLAMA_8B_AS_FILLED) == []


def test_the_agent_formats_parameter_counts_as_ome_does():
    # interface.go:168-169's own examples, and Llama-3.1-8B's count
    assert matcher.format_param_count(1000) == "1K"
    assert matcher.format_param_count(1_500_000) == "1.5M"
    assert matcher.format_param_count(685_000_000_000) == "685B"
    assert matcher.format_param_count(8_030_261_248) == "8.03B"


@pytest.mark.parametrize(("field", "value", "reason"), [
    ("modelArchitecture", "MistralForCausalLM",
     "architecture mismatch (model=MistralForCausalLM, runtime=LlamaForCausalLM)"),
    ("modelArchitecture", None, "model has no architecture but runtime requires"),
    ("quantization", "fp8", "model has quantization fp8 but runtime has no quantization"),
    ("modelFramework", {"name": "transformers", "version": "4.44.0"},
     "framework version mismatch (model=4.44.0, runtime=4.43.0.dev0)"),
    ("modelFramework", {"name": "transformers"},
     "model has no framework version but runtime requires 4.43.0.dev0"),
    ("modelFormat", {"name": "pytorch", "version": "1.0.0"},
     "format name mismatch (model=pytorch, runtime=safetensors)"),
    ("modelParameterSize", "70B", "model size 70B is outside supported range [7.63B, 8.43B]"),
])
def test_each_field_one_side_lacks_or_differs_is_refused(field, value, reason):
    runtime = ome.serving_runtime(spec.from_document(document()))["spec"]
    model = copy.deepcopy(LLAMA_8B_AS_FILLED)
    if value is None:
        del model[field]
    else:
        model[field] = value
    found = matcher.runtime_mismatches(runtime, model)
    assert any(reason in r for r in found), found


def test_the_runtime_before_this_change_never_matched():
    # What tuneops generated before: format and framework names only.
    old = {"supportedModelFormats": [{"modelFormat": {"name": "safetensors"},
                                      "modelFramework": {"name": "transformers"}}]}
    found = matcher.runtime_mismatches(old, LLAMA_8B_AS_FILLED)
    assert found and "runtime has no architecture requirement" in found[0]


@pytest.mark.parametrize(("supported", "operator", "model", "ok"), [
    ("4.43.0", "GreaterThanOrEqual", "4.43.0", True),
    ("4.44.0", "GreaterThanOrEqual", "4.43.0", True),   # matcher.go:575: supported >= model
    ("4.42.0", "GreaterThanOrEqual", "4.43.0", False),
    ("4.43", "GreaterThanOrEqual", "4.43.0", False),    # precision differs (:566)
    ("v4.43.0", "GreaterThanOrEqual", "4.43.0", False),  # major prefix differs (:567)
    ("4.44.0", "GreaterThanOrEqual", "4.43.0.dev0", False),  # unofficial: Equal (:561)
    ("4.43.0.dev0", None, "4.43.0.dev0", True),
    ("4.43.0", "GreaterThan", "4.43.0", False),
    ("04.1.0", None, "4.1.0", False),                   # leading zero: unparsable (util.go:226)
])
def test_version_rules(supported, operator, model, ok):
    entry = {"version": supported, **({"operator": operator} if operator else {})}
    assert matcher.versions_compatible(entry, {"version": model}) is ok


def test_validate_refuses_a_base_model_the_generated_runtime_cannot_serve():
    doc = document()
    doc["deployment"]["ome"]["generateBaseModel"] = {
        "storageUri": "hf://meta-llama/Llama-3.1-70B-Instruct", "path": "/models/llama-70b",
        "modelParameterSize": "70B",
    }
    exp, diags = validate_document(doc, str(EXAMPLE))
    assert exp is None
    found = [d for d in diags if "outside supported range" in d.message]
    assert found, [str(d) for d in diags]
    assert found[0].path == "deployment.ome.modelMetadata"


def test_validate_refuses_a_generated_runtime_without_the_architecture():
    doc = document()
    del doc["deployment"]["ome"]["modelMetadata"]
    exp, diags = validate_document(doc, str(EXAMPLE))
    assert exp is None
    assert any("architecture" in d.message and d.path == "deployment.ome" for d in diags)
