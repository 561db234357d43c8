"""`deployment.gpus.type` as a parameter: one experiment compares GPU types.

Each trial has its own type: in its identity, in the simulator's --gpu-type, in its price,
in its OME node affinity. Where it may run is validate's to say: OME places any known type,
docker/local only the type this machine has (nvidia-smi, faked here), the simulator any type
it models.
"""

from __future__ import annotations

import copy

import pytest
from ruamel.yaml import YAML
from tuneops.deployments.common import gpus as host_gpus
from tuneops.deployments.common.gpus import Gpu, gpu_type_of
from tuneops.deployments.ome import render as ome
from tuneops.runner import cost

from tests.paths import ROOT
from tuneops import registry
from tuneops.checks_feasibility import GPU_MEMORY_GIB
from tuneops.cli import main
from tuneops.plan import make_plan
from tuneops.spec import GPU_TYPE_PARAM
from tuneops.validate import validate_file

EXAMPLES = ROOT / "experiments" / "examples"
AT = f"parameters[{GPU_TYPE_PARAM!r}]"  # how a diagnostic names the parameter (dotted key)


def load(name: str) -> dict:
    return YAML(typ="safe").load((EXAMPLES / name).read_text())


def write(tmp_path, doc: dict, name="e.yaml"):
    path = tmp_path / name
    with path.open("w") as f:
        YAML().dump(doc, f)
    return path


def comparing(name: str, types, **gpus) -> dict:
    doc = copy.deepcopy(load(name))
    doc["deployment"]["gpus"].pop("type", None)
    doc["deployment"]["gpus"].update(gpus)
    rest = {k: v for k, v in (doc.get("parameters") or {}).items()
            if k not in (GPU_TYPE_PARAM, "gpu-type")}
    doc["parameters"] = {GPU_TYPE_PARAM: list(types), **rest}
    return doc


def errors_at(tmp_path, doc) -> dict[str, str]:
    exp, diags = validate_file(write(tmp_path, doc))
    return {d.path: f"{d.message} | {d.hint}" for d in diags if d.severity == "error"}


@pytest.fixture
def host(monkeypatch):
    """Fake nvidia-smi: the boards this 'machine' has."""
    boards: list[Gpu] = []
    monkeypatch.setattr(host_gpus, "detect", lambda: list(boards))
    return boards


# --------------------------------------------------------------------------- plan


def test_each_trial_has_its_type_in_its_flags_identity_and_price(tmp_path):
    doc = load("sim-gpu-cost.yaml")
    exp, diags = validate_file(write(tmp_path, doc))
    assert exp is not None, diags
    trials = make_plan(exp).trials
    assert [t.params[GPU_TYPE_PARAM] for t in trials] == ["H100", "H100", "L40S", "L40S"]
    for t in trials:
        assert GPU_TYPE_PARAM not in t.args  # no engine flag
        assert t.args["gpu-type"] == t.params[GPU_TYPE_PARAM]  # the simulator models it
        assert exp.for_trial(t.params).deployment.gpus.type == t.params[GPU_TYPE_PARAM]
    prices = [cost.hourly_price(exp, t.args, 1, t.params) for t in trials]
    assert prices == [2.5, 2.5, 0.9, 0.9]  # the experiment's own per-type prices
    assert len({t.id for t in trials}) == 4


def test_the_type_alone_changes_a_trials_identity_for_a_real_engine(tmp_path):
    """On OME the engine's flags are the same on both types: the type must still tell the
    trials apart (else a finished H100 trial would be reused for the H200 one)."""
    doc = comparing("sglang-ome.yaml", ["H100", "H200"])
    doc["parameters"] = {GPU_TYPE_PARAM: ["H100", "H200"]}
    doc["constraints"] = []
    exp, diags = validate_file(write(tmp_path, doc))
    assert exp is not None, diags
    h100, h200 = make_plan(exp).trials
    assert h100.args == h200.args and GPU_TYPE_PARAM not in h100.args
    assert h100.id != h200.id


def test_plan_json_shows_each_trials_type_and_price(tmp_path, capsys):
    path = write(tmp_path, load("sim-gpu-cost.yaml"))
    assert main(["plan", str(path), "--format", "json"]) == 0
    import json

    out = json.loads(capsys.readouterr().out)
    assert [(t["gpu_type"], t["usd_per_hour"]) for t in out["trials"]] == [
        ("H100", 2.5), ("H100", 2.5), ("L40S", 0.9), ("L40S", 0.9)]


# --------------------------------------------------------------------------- OME


def _affinity(obj) -> list[str]:
    terms = obj["spec"]["engine"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    return terms[0]["matchExpressions"][0]["values"]


def test_on_ome_each_trial_is_placed_on_its_own_gpu_product(tmp_path):
    doc = comparing("sglang-ome.yaml", ["H100", "L40S"])
    exp, diags = validate_file(write(tmp_path, doc))
    assert exp is not None, diags
    placed = {}
    for t in make_plan(exp).trials:
        objs = ome.trial_manifests(exp, t)
        placed.setdefault(t.params[GPU_TYPE_PARAM], set()).add(
            tuple(_affinity(objs["inferenceservice.yaml"])))
    assert placed == {"H100": {ome.GPU_PRODUCTS["H100"]}, "L40S": {("NVIDIA-L40S",)}}


def test_on_ome_one_gpu_products_list_for_every_trial_is_refused(tmp_path):
    doc = comparing("sglang-ome.yaml", ["H100", "L40S"])
    doc["deployment"]["ome"]["gpuProducts"] = ["NVIDIA-H100-80GB-HBM3"]
    assert "one set of GPU products" in errors_at(tmp_path, doc)["deployment.ome.gpuProducts"]


# --------------------------------------------------------------------------- where it runs


def test_docker_allows_only_the_type_this_machine_has(tmp_path, host):
    host.append(Gpu("0", "GPU-1", "NVIDIA H100 80GB HBM3", 81559, 0))
    doc = comparing("sglang-docker.yaml", ["H100", "L40S"])
    errs = errors_at(tmp_path, doc)
    key = f"{AT}[1]"
    assert list(errs) == [key], errs
    assert "cannot run here" in errs[key] and "this machine has H100" in errs[key]
    assert main(["validate", str(write(tmp_path, doc))]) == 2


def test_local_without_a_gpu_refuses_every_type_and_says_why(tmp_path, host):
    doc = comparing("sglang-docker.yaml", ["H100"])
    doc["deployment"]["mode"] = "local"
    doc["deployment"].pop("docker", None)
    errs = errors_at(tmp_path, doc)
    assert "this machine has no GPU" in errs[f"{AT}[0]"], errs


def test_the_simulator_models_any_type_it_knows_without_a_gpu(tmp_path, host):
    assert errors_at(tmp_path, load("sim-gpu-cost.yaml")) == {}
    doc = comparing("sim-gpu-cost.yaml", ["H100", "B200"])
    doc["deployment"]["gpus"]["pricePerHour"] = 3.0
    errs = errors_at(tmp_path, doc)
    assert "models H100, H200, H20, A100-80G, L40S" in errs[f"{AT}[1]"]


# --------------------------------------------------------------------------- bad days


@pytest.mark.parametrize(("change", "path", "words"), [
    (lambda d: d["parameters"].update({GPU_TYPE_PARAM: ["H100", "H10"]}),
     f"{AT}[1]", "unknown GPU type 'H10' | did you mean 'H100'?"),
    (lambda d: d["parameters"].update({GPU_TYPE_PARAM: ["H100", 100]}),
     f"{AT}[1]", "unknown GPU type 100"),
    (lambda d: d["parameters"].update({GPU_TYPE_PARAM: {"type": "int", "low": 1, "high": 2}}),
     AT, "GPU types are names"),
    (lambda d: d["deployment"]["gpus"].update({"type": "H100"}),
     "deployment.gpus.type", "also a parameter"),
    (lambda d: d["engine"]["args"].update({"gpu-type": "H100"}),
     "engine.args.gpu-type", "follows deployment.gpus.type"),
])
def test_a_bad_gpu_type_parameter_is_refused_where_it_is_written(tmp_path, host, change, path,
                                                                  words):
    doc = copy.deepcopy(load("sim-gpu-cost.yaml"))
    change(doc)
    errs = errors_at(tmp_path, doc)
    assert path in errs and words in errs[path], errs
    assert main(["validate", str(write(tmp_path, doc))]) == 2


@pytest.mark.parametrize("price", [-1, "2.5", "cheap", True, 0])
def test_a_price_that_is_not_a_positive_number_is_refused_by_the_schema(tmp_path, price):
    doc = copy.deepcopy(load("sim-gpu-cost.yaml"))
    doc["deployment"]["gpus"]["pricePerHour"] = {"H100": price, "L40S": 0.9}
    errs = errors_at(tmp_path, doc)
    assert any(p.startswith("deployment.gpus.pricePerHour") for p in errs), errs


def test_a_type_too_small_for_the_weights_is_refused_by_name(tmp_path, host):
    """A 70B model on one GPU: fits no compared type's memory; the message names the type
    that fails first, with a hint to drop the smaller types."""
    doc = comparing("sglang-ome.yaml", ["H200", "L40S"], count=1)
    doc["parameters"] = {GPU_TYPE_PARAM: ["H200", "L40S"]}
    doc["constraints"] = []
    doc["model"]["architecture"]["parameters"] = 7.0e10
    errs = errors_at(tmp_path, doc)
    msg = errs[AT]
    assert "more than the 44 GiB of one L40S" in msg and "drop the smaller GPU types" in msg
    doc["model"]["architecture"]["parameters"] = 3.0e10  # 56 GiB: fits H200, not L40S
    assert "one L40S" in errors_at(tmp_path, doc)[AT]


@pytest.mark.parametrize("price", ["{H100: .nan, L40S: 0.9}", ".nan", "{H100: .inf, L40S: 1}"])
def test_a_price_of_nan_or_infinity_is_refused_at_its_line(tmp_path, price):
    """The schema's bounds let NaN through (every comparison with it is false): the
    reader refuses it first, naming the value and its line."""
    text = (EXAMPLES / "sim-gpu-cost.yaml").read_text()
    src = tmp_path / "e.yaml"
    src.write_text(text.replace("{H100: 2.50, L40S: 0.90}", price))
    line = next(i for i, t in enumerate(src.read_text().splitlines(), 1) if "pricePerHour" in t)
    exp, diags = validate_file(src)
    assert exp is None and any(d.line == line for d in diags), diags
    assert main(["validate", str(src)]) == 2


def test_a_compared_type_without_a_price_is_an_error_when_cost_ranks(tmp_path):
    doc = comparing("sglang-ome.yaml", ["H100", "B200"])  # B200: no price in gpus.yaml
    doc["objective"]["tieBreak"] = "cost"
    errs = errors_at(tmp_path, doc)
    assert "B200 has no price, so its trials have no cost to rank by" in errs[f"{AT}[1]"]
    doc["deployment"]["gpus"]["pricePerHour"] = {"B200": 6.0}
    assert errors_at(tmp_path, doc) == {}  # its own price; H100 from the table


def test_a_type_without_a_price_only_warns_when_cost_ranks_nothing(tmp_path):
    doc = comparing("sglang-ome.yaml", ["H100", "B200"])
    doc["objective"]["tieBreak"] = "none"
    warned: list = []
    exp, diags = validate_file(write(tmp_path, doc), warnings=warned)
    assert exp is not None, diags
    assert [d.path for d in warned if "B200 has no price" in d.message] == [f"{AT}[1]"]


# --------------------------------------------------------------------------- host type


@pytest.mark.parametrize(("name", "want"), [
    ("NVIDIA H100 80GB HBM3", "H100"),
    ("NVIDIA H100 PCIe", "H100"),
    ("NVIDIA H200", "H200"),
    ("NVIDIA H200 NVL", "H200"),
    ("NVIDIA H20", "H20"),  # not H200
    ("NVIDIA A100-SXM4-80GB", "A100-80G"),
    ("NVIDIA A100-SXM4-40GB", "A100-40G"),
    ("NVIDIA A100 80GB PCIe", "A100-80G"),
    ("NVIDIA L40S", "L40S"),
    ("NVIDIA L40", None),  # a different board than L40S
    ("NVIDIA A10", "A10"),
    ("NVIDIA GeForce RTX 4090", None),
    ("", None),
])
def test_the_type_of_a_board_as_nvidia_smi_names_it(name, want):
    assert gpu_type_of(name, GPU_MEMORY_GIB) == want


def test_every_priced_type_is_a_known_type():
    assert set(registry.gpu_prices()) <= set(GPU_MEMORY_GIB)


# ------------------------------------------------------------------ one fixed type, simulated


def fixed(name: str, kind: str, **engine_args) -> dict:
    """Example `name` with deployment.gpus.type fixed to `kind` and the simulator's own flag
    left to follow it (or set to `engine_args`)."""
    doc = copy.deepcopy(load(name))
    doc["deployment"]["gpus"]["type"] = kind
    doc["engine"]["args"].pop("gpu-type", None)
    doc["engine"]["args"].update(engine_args)
    return doc


def test_a_fixed_type_is_the_type_the_simulator_models(tmp_path):
    """Rule: the report, the price, the memory plan and the model's predictions read a fixed
    deployment.gpus.type, so the simulator must model it too (without its flag it models
    its default, H100, whatever the report says)."""
    doc = fixed("sim-small.yaml", "H200")
    exp, diags = validate_file(write(tmp_path, doc))
    assert not [d for d in diags if d.severity == "error"], diags
    for t in make_plan(exp).trials:
        assert t.args["gpu-type"] == "H200"
    # the same type named twice is one type
    again, diags = validate_file(write(tmp_path, fixed("sim-small.yaml", "H200",
                                                       **{"gpu-type": "H200"})))
    assert not [d for d in diags if d.severity == "error"], diags
    assert [t.id for t in make_plan(again).trials] == [t.id for t in make_plan(exp).trials]


@pytest.mark.parametrize(("doc", "path", "words"), [
    (fixed("sim-small.yaml", "H200", **{"gpu-type": "H100"}), "engine.args.gpu-type",
     "--gpu-type H100 disagrees with deployment.gpus.type H200 | remove it"),
    (fixed("sim-small.yaml", "B200"), "deployment.gpus.type",
     "B200 cannot be simulated: the sim engine models H100, H200"),
    ({**fixed("sim-small.yaml", "H100"),
      "parameters": {**load("sim-small.yaml")["parameters"], "gpu-type": ["H100", "H200"]}},
     "parameters.gpu-type", "--gpu-type follows deployment.gpus.type H100 | to compare GPU"),
])
def test_a_fixed_type_the_simulator_cannot_model_or_named_twice_differently_is_refused(
        tmp_path, doc, path, words):
    errs = errors_at(tmp_path, doc)
    assert path in errs and words in errs[path], errs
    assert main(["validate", str(write(tmp_path, doc))]) == 2
