"""Trial identity as a property: a trial id names one measurement.

Resume and reuse hand back a finished trial's result when its id comes up again, so every
field that changes what is measured must change the id (or results measured under another
model, engine version or load would be reused), and fields that change nothing measured
(name, prose, labels, budgets, scoring) must leave it alone (or renaming an experiment would
measure everything again). The run's resume key, `journal.experiment_hash`, follows the same
split, except that it keeps the name (runs live under runs/<name>) and the search method.

Hypothesis draws the experiment (one of several bases, a point of its grid) and a new value
for one field at a time; each field gets its own test, so none is left undrawn.
"""

from __future__ import annotations

import copy
from typing import Any
from unittest import mock

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from tuneops.runner import journal

from tuneops import identity, registry
from tuneops import plan as plan_module
from tuneops.plan import ID_LENGTH, identity_facts, make_plan, make_trial, trial_args, trial_id
from tuneops.spec import canonical_json, from_document

BASES = [
    {
        "metadata": {"name": "ident-docker", "description": "d", "labels": {"team": "a"}},
        "model": {"id": "org/model-a", "tokenizer": "assets/tokenizer"},
        "engine": {"name": "sglang", "image": "lmsysorg/sglang:v0.5.2", "version": "0.5.2",
                   "args": {"tp-size": 1, "mem-fraction-static": 0.85}},
        "deployment": {"mode": "docker", "gpus": {"count": 1, "type": "H100"}},
        "parameters": {"max-running-requests": [8, 16, 32], "schedule-policy": ["lpm", "fcfs"]},
        "benchmark": {"trafficScenarios": ["D(100,100)", "N(480,240)/(300,150)"],
                      "concurrency": [1, 4, 16], "maxTimePerRun": 2, "maxRequestsPerRun": 50},
        "objective": {"metric": "output_throughput"},
        "slos": [{"metric": "ttft.p99", "max": 500}],
        "search": {"method": "grid", "maxTrials": 10, "seed": 1},
    },
    {
        "metadata": {"name": "ident-sim"},
        "model": {"id": "meta-llama/Llama-3.1-8B-Instruct"},
        "engine": {"name": "sim", "image": "tuneops/sim:latest", "version": "sim-1"},
        "deployment": {"mode": "docker", "gpus": {"count": 2, "type": "L40S"}},
        "parameters": {"chunked-prefill-size": [2048, 4096]},
        "benchmark": {"trafficScenarios": ["D(20,10)"], "concurrency": [2],
                      "repeats": 2, "dataset": "prompts.jsonl"},
        "objective": {"metric": "ttft.p50", "direction": "minimize"},
    },
]

names = st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True)
flag_values = st.one_of(st.integers(-1000, 10**6), st.booleans(), names,
                        st.floats(0.01, 0.99, allow_nan=False).map(lambda x: round(x, 3)))
scenarios = st.builds(lambda a, b: f"D({a},{b})", st.integers(1, 4096), st.integers(1, 4096))


def _set(doc: dict, path: str, value: Any) -> dict:
    doc = copy.deepcopy(doc)
    *parents, last = path.split(".")
    node = doc
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    return doc


# Fields that decide what a trial measures, each with values it can take.
MEASURED: dict[str, st.SearchStrategy] = {
    "engine.version": st.from_regex(r"\d{1,2}\.\d{1,2}\.\d{1,3}(rc\d)?", fullmatch=True),
    "engine.image": st.builds("{}/{}:v{}".format, names, names, st.integers(0, 99)),
    "engine.name": st.sampled_from(["sglang", "vllm", "sim"]),
    "model.id": st.builds("{}/{}".format, names, names),
    "model.tokenizer": st.builds("tokenizers/{}".format, names),
    "engine.env": st.dictionaries(st.from_regex(r"[A-Z][A-Z0-9_]{0,12}", fullmatch=True),
                                  names, min_size=1, max_size=3),
    "deployment.cpus": st.builds(lambda e, g: {"engine": e, "loadGenerator": g},
                                 st.lists(st.integers(0, 7), min_size=1, max_size=3,
                                          unique=True),
                                 st.lists(st.integers(8, 15), min_size=1, max_size=2,
                                          unique=True)),
    "deployment.gpus.count": st.integers(0, 16),
    "deployment.gpus.type": st.sampled_from(["H100", "H200", "A100", "L40S", "B200"]),
    "benchmark.task": st.sampled_from(["text-to-text", "text-to-embeddings", "text-to-rerank"]),
    "benchmark.trafficScenarios": st.lists(scenarios, min_size=1, max_size=4, unique=True),
    "benchmark.concurrency": st.lists(st.integers(1, 1024), min_size=1, max_size=5,
                                      unique=True),
    "benchmark.maxTimePerRun": st.integers(1, 600),
    "benchmark.maxRequestsPerRun": st.integers(1, 100_000),
    "benchmark.repeats": st.integers(1, 10),
    "benchmark.freshEnginePerRepeat": st.booleans(),
    "benchmark.dataset": st.one_of(st.none(), names.map(lambda n: n + ".jsonl")),
    "benchmark.additionalRequestParams": st.dictionaries(names, flag_values, max_size=3),
}

# Fields that change nothing measured.
UNMEASURED: dict[str, st.SearchStrategy] = {
    "metadata.name": names,
    "metadata.description": st.text(max_size=80),
    "metadata.labels": st.dictionaries(names, names, max_size=4),
    "search.maxTrials": st.integers(1, 1000),
    "search.maxFailedTrials": st.integers(1, 1000),
    "search.parallelTrials": st.integers(1, 8),
    "search.timeBudget": st.integers(60, 10**6),
    "search.seed": st.integers(0, 2**31),
    "search.method": st.sampled_from(["grid", "random", "bayesian"]),
    "objective": st.fixed_dictionaries({"metric": st.sampled_from(
        ["output_throughput", "ttft.p99", "requests_per_s"])}),
    "slos": st.lists(st.fixed_dictionaries({"metric": st.just("ttft.p99"),
                                            "max": st.integers(1, 10**4)}), max_size=2),
    "deployment.startupTimeout": st.integers(10, 7200),
    "benchmark.warmupRequests": st.integers(0, 50),
    "model.servedName": names,
}
# experiment_hash keeps the name and the search method and seed (another method proposes
# other trials, so it is another run), and every field that enters the trial id.
RESUME_NEUTRAL = ("metadata.description", "metadata.labels", "search.maxTrials",
                  "search.maxFailedTrials", "search.parallelTrials", "search.timeBudget")


def _point(data: st.DataObject, doc: dict) -> dict[str, Any]:
    """A point of the base's grid (drawn)."""
    return {name: data.draw(st.sampled_from(values), label=name)
            for name, values in doc["parameters"].items()}


def _id(doc: dict, point: dict[str, Any]) -> str:
    return make_trial(from_document(doc), point, 0).id


@pytest.mark.parametrize("path", sorted(MEASURED))
@given(data=st.data())
def test_a_measured_field_changes_the_trial_id(path: str, data: st.DataObject):
    base = data.draw(st.sampled_from(BASES), label="base")
    changed = _set(base, path, data.draw(MEASURED[path], label=path))
    assume(from_document(changed) != from_document(base))  # a new value, not a default
    point = _point(data, base)
    assert _id(changed, point) != _id(base, point)


@pytest.mark.parametrize("path", sorted(UNMEASURED))
@given(data=st.data())
def test_an_unmeasured_field_keeps_the_trial_id(path: str, data: st.DataObject):
    base = data.draw(st.sampled_from(BASES), label="base")
    point = _point(data, base)
    changed = _set(base, path, data.draw(UNMEASURED[path], label=path))
    assert _id(changed, point) == _id(base, point)


@given(data=st.data(), name=names, value=flag_values)
def test_engine_args_and_params_enter_the_id_in_any_order(data, name: str, value: Any):
    base = data.draw(st.sampled_from(BASES), label="base")
    exp = from_document(base)
    point = _point(data, base)
    ident = make_trial(exp, point, 0).id
    args = trial_args(exp, point)  # every flag the engine gets (a simulator's GPU too)
    assert trial_id(exp, dict(reversed(list(args.items())))) == ident  # order never matters
    cat = registry.catalog(exp.engine.name)
    # a new or changed flag does, unless it only respells one already set (tp / tp-size)
    assume(identity.canonical_args(cat, {**args, name: value})
           != identity.canonical_args(cat, args))
    assert trial_id(exp, {**args, name: value}) != ident
    for key in args:  # a flag dropped does too
        assert trial_id(exp, {k: v for k, v in args.items() if k != key}) != ident


def test_every_grid_point_has_its_own_id_and_the_index_is_not_part_of_it():
    for base in BASES:
        plan = make_plan(from_document(base))
        ids = [t.id for t in plan.trials]
        assert len(set(ids)) == len(ids) == plan.grid_size
        assert all(len(i) == ID_LENGTH and int(i, 16) >= 0 for i in ids)
        first = plan.trials[0]
        assert make_trial(plan.experiment, first.params, 99).id == first.id


def test_the_image_of_a_local_run_is_not_part_of_its_id():
    """A local run never uses the image, so two local experiments differing only there
    measure the same thing; the same two under Docker do not."""
    local = _set(BASES[0], "deployment.mode", "local")
    point = {"max-running-requests": 8, "schedule-policy": "lpm"}
    other = _set(local, "engine.image", "lmsysorg/sglang:v0.4.0")
    assert _id(local, point) == _id(other, point)
    assert _id(_set(BASES[0], "engine.image", "lmsysorg/sglang:v0.4.0"), point) != _id(
        BASES[0], point)
    assert _id(local, point) != _id(BASES[0], point)  # docker's image is in the id


@pytest.mark.parametrize("path", sorted(MEASURED))
@given(data=st.data())
def test_a_measured_field_changes_the_resume_key(path: str, data: st.DataObject):
    base = data.draw(st.sampled_from(BASES), label="base")
    changed = from_document(_set(base, path, data.draw(MEASURED[path], label=path)))
    assume(changed != from_document(base))  # a new value, not a default
    assert journal.experiment_hash(changed) != journal.experiment_hash(from_document(base))


@pytest.mark.parametrize("path", RESUME_NEUTRAL)
@given(data=st.data())
def test_prose_and_budgets_keep_the_resume_key(path: str, data: st.DataObject):
    base = data.draw(st.sampled_from(BASES), label="base")
    changed = from_document(_set(base, path, data.draw(UNMEASURED[path], label=path)))
    assert journal.experiment_hash(changed) == journal.experiment_hash(from_document(base))


# ------------------------------------------------ canonical identity: spellings and procedure

VLLM = {**BASES[0], "metadata": {"name": "ident-vllm"},
        "engine": {"name": "vllm", "image": "vllm/vllm-openai:v0.11.0", "version": "0.11.0",
                   "args": {}},
        "parameters": {"max-num-seqs": [8, 16]}}


def _with_args(doc: dict, args: dict[str, Any]) -> dict:
    return _set(doc, "engine.args", {**doc["engine"]["args"], **args})


def test_tp_and_tensor_parallel_size_are_one_trial():
    """The issue's own example: vLLM's -tp and --tensor-parallel-size set one flag."""
    point = {"max-num-seqs": 8}
    short = _id(_with_args(VLLM, {"tp": 1}), point)
    assert short == _id(_with_args(VLLM, {"tensor-parallel-size": 1}), point)
    assert short == _id(_with_args(VLLM, {"--tensor-parallel-size": 1}), point)
    assert short != _id(_with_args(VLLM, {"tensor-parallel-size": 2}), point)


def _aliased(engine: str) -> list[tuple[str, tuple[str, ...]]]:
    cat = registry.catalog(engine)
    return sorted((n, f.aliases) for n, f in cat.flags.items() if f.aliases and not f.boolean)


@given(data=st.data(), value=st.integers(1, 64))
def test_every_spelling_of_a_flag_gives_one_id(data: st.DataObject, value: int):
    base = data.draw(st.sampled_from([BASES[0], VLLM]), label="base")
    name, aliases = data.draw(st.sampled_from(_aliased(base["engine"]["name"])), label="flag")
    spelling = data.draw(st.sampled_from(aliases), label="spelling")
    point = _point(data, base)
    assert _id(_with_args(base, {spelling: value}), point) == _id(
        _with_args(base, {name: value}), point)


def _sized(engine: str) -> list[tuple[str, dict[str, int], tuple[str, ...]]]:
    cat = registry.catalog(engine)
    return sorted((n, dict(f.sizes), f.size_decimals) for n, f in cat.flags.items() if f.sizes)


def test_8k_is_8000_where_the_engine_says_so():
    point = {"max-running-requests": 8, "schedule-policy": "lpm"}
    k = _id(_with_args(BASES[0], {"context-length": "8k"}), point)
    assert k == _id(_with_args(BASES[0], {"context-length": 8000}), point)
    assert k == _id(_with_args(BASES[0], {"context-length": "8000"}), point)
    # SGLang reads Ki as 1024: 8Ki is another context length
    assert k != _id(_with_args(BASES[0], {"context-length": "8Ki"}), point)
    assert _id(_with_args(BASES[0], {"context-length": "8Ki"}), point) == _id(
        _with_args(BASES[0], {"context-length": 8192}), point)


@given(data=st.data(), number=st.integers(1, 4096))
def test_a_size_hashes_as_the_number_the_engine_reads(data: st.DataObject, number: int):
    base = data.draw(st.sampled_from([BASES[0], VLLM]), label="base")
    name, sizes, _ = data.draw(st.sampled_from(_sized(base["engine"]["name"])), label="flag")
    suffix = data.draw(st.sampled_from(sorted(sizes)), label="suffix")
    point = _point(data, base)
    assert _id(_with_args(base, {name: f"{number}{suffix}"}), point) == _id(
        _with_args(base, {name: number * sizes[suffix]}), point)


def test_values_hash_as_parsed_and_inverse_spellings_as_the_flag():
    point = {"max-num-seqs": 8}
    assert _id(_with_args(VLLM, {"gpu-memory-utilization": 1}), point) == _id(
        _with_args(VLLM, {"gpu-memory-utilization": 1.0}), point)  # float("1") == 1.0
    assert _id(_with_args(VLLM, {"disable-prefix-caching": True}), point) == _id(
        _with_args(VLLM, {"enable-prefix-caching": False}), point)
    assert _id(_with_args(VLLM, {"enable-prefix-caching": True}), point) != _id(
        _with_args(VLLM, {"enable-prefix-caching": False}), point)
    # a bare flag set false where leaving it out means false: the same command line
    sg = {"max-running-requests": 8, "schedule-policy": "lpm"}
    assert _id(_with_args(BASES[0], {"disable-radix-cache": False}), sg) == _id(BASES[0], sg)
    assert _id(_with_args(BASES[0], {"disable-radix-cache": True}), sg) != _id(BASES[0], sg)


@given(data=st.data(), version=st.integers(2, 10**6))
def test_a_new_measurement_procedure_changes_every_id(data: st.DataObject, version: int):
    base = data.draw(st.sampled_from([*BASES, VLLM]), label="base")
    before = [t.id for t in make_plan(from_document(base)).trials]
    with mock.patch.object(identity, "MEASUREMENT_PROCEDURE", version):
        after = [t.id for t in make_plan(from_document(base)).trials]
    assert before and not set(before) & set(after)


def test_a_pinned_image_is_its_digest():
    point = {"max-running-requests": 8, "schedule-policy": "lpm"}
    digest = "sha256:" + "a" * 64
    tagged = _id(_set(BASES[0], "engine.image", f"lmsysorg/sglang:v0.5.2@{digest}"), point)
    assert tagged == _id(_set(BASES[0], "engine.image", f"lmsysorg/sglang@{digest}"), point)
    assert tagged != _id(_set(BASES[0], "engine.image",
                              f"lmsysorg/sglang@sha256:{'b' * 64}"), point)
    assert identity.image_digest(f"lmsysorg/sglang:v0.5.2@{digest}") == digest
    assert identity.image_identity("localhost:5000/sglang:v1") == "localhost:5000/sglang:v1"


def test_tuneops_own_engines_hash_their_code(tmp_path):
    """The simulator and the llama.cpp launcher are tuneops code: an edit there changes
    the numbers they produce, so it changes their ids (an external engine's is None)."""
    assert identity.engine_code_digest("sglang") is None
    assert identity.engine_code_digest("vllm") is None
    sim, llama = identity.engine_code_digest("sim"), identity.engine_code_digest("llamacpp")
    assert sim and llama and sim != llama
    (tmp_path / "pkg" / "data").mkdir(parents=True)
    (tmp_path / "pkg" / "a.py").write_text("x = 1\n")
    (tmp_path / "pkg" / "data" / "gpus.json").write_text("{}")
    first = identity.folder_digest(tmp_path / "pkg")
    (tmp_path / "pkg" / "__pycache__").mkdir()
    (tmp_path / "pkg" / "__pycache__" / "a.cpython-312.pyc").write_bytes(b"\0")
    assert identity.folder_digest(tmp_path / "pkg") == first  # caches are not code
    (tmp_path / "pkg" / "data" / "gpus.json").write_text('{"H100": 1}')
    assert identity.folder_digest(tmp_path / "pkg") != first
    point = {"chunked-prefill-size": 2048}
    before = _id(BASES[1], point)
    with mock.patch.object(identity, "engine_code_digest", lambda name: "sha256:other"):
        assert _id(BASES[1], point) != before


# ------------------------------------------------ the plan's other facts (mutation survivors)

def test_ids_are_twelve_hex_digits_and_trials_are_immutable():
    import dataclasses

    plan = make_plan(from_document(BASES[0]))
    assert ID_LENGTH == 12 and all(len(t.id) == 12 for t in plan.trials)
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.trials[0].id = "x"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.grid_size = 0  # type: ignore[misc]


def test_a_local_mode_read_from_a_file_drops_the_image_too():
    """The mode compares by value: a "local" built at run time (as a parser builds it) is
    local too, and OME keeps its image like Docker does."""
    point = {"max-running-requests": 8, "schedule-policy": "lpm"}
    built = "".join(["lo", "cal"])  # not the interned literal
    local = _set(BASES[0], "deployment.mode", built)
    other = _set(local, "engine.image", "lmsysorg/sglang:v0.4.0")
    assert _id(local, point) == _id(other, point)
    ome = _set(BASES[0], "deployment.mode", "ome")
    assert _id(ome, point) != _id(_set(ome, "engine.image", "lmsysorg/sglang:v0.4.0"), point)


@pytest.mark.parametrize("method,cap,expected", [
    ("grid", None, 6), ("grid", 4, 4), ("grid", 10, 6), ("random", None, 0), ("random", 4, 4),
    ("bayesian", 50, 50),
])
def test_max_trials(method, cap, expected):
    search = {"method": method, **({"maxTrials": cap} if cap else {})}
    plan = make_plan(from_document({**BASES[0], "search": search}))
    assert plan.max_trials == expected and plan.grid_size == 6


def test_the_search_method_compares_by_value():
    method = "".join(["gr", "id"])  # as a YAML parser builds it: not the interned literal
    plan = make_plan(from_document({**BASES[0], "search": {"method": method}}))
    assert plan.max_trials == 6


def test_max_gpu_hours_formula():
    doc = {**BASES[1], "search": {"method": "grid"},
           "deployment": {**BASES[1]["deployment"], "startupTimeout": 100},
           "benchmark": {"trafficScenarios": ["D(1,1)", "D(2,2)"], "concurrency": [1, 2, 4],
                         "repeats": 2, "maxTimePerRun": 5}}
    plan = make_plan(from_document(doc))
    bench_s = 2 * 3 * 2 * 5 * 60  # scenarios x levels x repeats x minutes
    per_trial_s = 100 + bench_s  # + start-up
    # the confirmation phase (default top 3, 2 rounds): both trials, each round one repeat
    confirm_s = 2 * 2 * (100 + bench_s / 2)
    assert plan.max_trials == 2
    assert plan.max_gpu_hours() == pytest.approx((2 * per_trial_s + confirm_s) * 2 / 3600)
    fresh = make_plan(from_document({**doc, "benchmark": {**doc["benchmark"],
                                                          "freshEnginePerRepeat": True}}))
    # a start-up per repeat: two per trial
    assert fresh.max_gpu_hours() == pytest.approx((2 * (per_trial_s + 100) + confirm_s) * 2
                                                  / 3600)
    capped = make_plan(from_document({**doc, "search": {"timeBudget": 1000,
                                                        "parallelTrials": 3}}))
    assert capped.max_gpu_hours() == pytest.approx(1000 * 3 * 2 / 3600)
    cpu = make_plan(from_document({**doc, "deployment": {"mode": "local", "gpus": {"count": 0},
                                                         "startupTimeout": 100}}))
    assert cpu.max_gpu_hours() == pytest.approx((2 * per_trial_s + confirm_s) * 1 / 3600)


def test_a_new_measurement_procedure_starts_a_new_run():
    """Resuming across a procedure change would mix trials of old and new ids in one run."""
    exp = from_document(BASES[0])
    before = journal.experiment_hash(exp)
    with mock.patch.object(identity, "MEASUREMENT_PROCEDURE", identity.MEASUREMENT_PROCEDURE + 1):
        assert journal.experiment_hash(exp) != before


# ------------------------------------------------ plan rules (session 30 mutation survivors)

SGL_POINT = {"max-running-requests": 8, "schedule-policy": "lpm"}


def _ident(doc: dict, point: dict[str, Any]) -> dict[str, Any]:
    """What trial_id hashes for `point` of `doc` (captured on its way to the hash)."""
    seen: list[dict] = []

    def capture(value: Any) -> str:
        seen.append(value)
        return canonical_json(value)

    with mock.patch.object(plan_module, "canonical_json", capture):
        make_trial(from_document(doc), point, 0)
    (ident,) = seen
    return ident


def test_optional_benchmark_facts_are_absent_when_unset():
    """Older ids stay valid: a shared prefix, a dataset format other than genai-bench's,
    per-request SLOs, an open-loop load and a trace enter the id only when the experiment
    sets them, so an experiment that sets none hashes the keys it always hashed."""
    assert set(_ident(BASES[0], SGL_POINT)["benchmark"]) == {
        "task", "scenarios", "concurrency", "max_time", "max_requests", "repeats",
        "dataset", "params"}
    # genai-bench's format written out (a string built at run time, as YAML gives it) is
    # the default: the same keys, the same id
    spelled = _set(BASES[0], "benchmark.datasetFormat", "".join(["genai-", "bench"]))
    assert "dataset_format" not in _ident(spelled, SGL_POINT)["benchmark"]
    assert _id(spelled, SGL_POINT) == _id(BASES[0], SGL_POINT)


@pytest.mark.parametrize("prefix", [{"tokens": 64}, {"ratio": 0.5}])
def test_a_shared_prefix_of_either_kind_is_another_trial(prefix):
    """sharedPrefix changes every request genai-bench sends (--prefix-len or
    --prefix-ratio): tokens alone, or a ratio alone, each give the trial another id, and
    another amount another id again."""
    plain = _id(BASES[0], SGL_POINT)
    shared = _set(BASES[0], "benchmark.sharedPrefix", prefix)
    assert _id(shared, SGL_POINT) != plain
    ((kind, value),) = prefix.items()
    more = _set(BASES[0], "benchmark.sharedPrefix", {kind: value / 2})
    assert _id(more, SGL_POINT) not in (plain, _id(shared, SGL_POINT))


def test_a_sharegpt_dataset_and_its_turns_are_other_trials():
    """The same file read as ShareGPT conversations is another request mix than genai-bench
    reading it, and sending every turn (multiTurn) another again."""
    base = _set(BASES[0], "benchmark.dataset", "assets/datasets/sharegpt-sample.json")
    sharegpt = _set(base, "benchmark.datasetFormat", "sharegpt")
    turns = _set(sharegpt, "benchmark.multiTurn", True)
    ids = {_id(doc, SGL_POINT) for doc in (base, sharegpt, turns)}
    assert len(ids) == 3


def test_per_request_slos_and_a_trace_are_part_of_the_id():
    """Goodput is counted while measuring, so a trial measured under other per-request
    bounds is another trial; a replayed trace is the request mix, named by its path."""
    slo = [{"metric": "ttft.p99", "max": 500}]
    bounded = _set(BASES[0], "slos", [*slo, {"metric": "ttft", "max": 2000, "perRequest": True}])
    tighter = _set(BASES[0], "slos", [*slo, {"metric": "ttft", "max": 1000, "perRequest": True}])
    ids = {_id(doc, SGL_POINT) for doc in (BASES[0], bounded, tighter)}
    assert len(ids) == 3
    trace = _set(BASES[0], "benchmark.trace", "assets/datasets/trace-sample.jsonl")
    other = _set(BASES[0], "benchmark.trace", "assets/datasets/other.jsonl")
    ids = {_id(doc, SGL_POINT) for doc in (BASES[0], trace, other)}
    assert len(ids) == 3


GPU_TYPES = {**BASES[0], "parameters": {**BASES[0]["parameters"],
                                        "deployment.gpus.type": ["H100", "H200"]}}


def test_the_gpu_type_parameter_is_no_engine_flag():
    """deployment.gpus.type is compared by value (YAML builds the key at run time): never
    passed to an engine as a flag, and an engine without a GPU-type flag of its own (SGLang)
    gets nothing in its place."""
    exp = from_document(GPU_TYPES)
    key = "".join(["deployment.", "gpus.type"])  # not the interned constant
    args = trial_args(exp, {**SGL_POINT, key: "H200"})
    assert args == {**exp.engine.args, **SGL_POINT}
    sim = from_document({**BASES[1], "parameters": {"deployment.gpus.type": ["H100"]}})
    assert trial_args(sim, {key: "H100"}) == {"gpu-type": "H100"}  # the simulator's own flag


def test_the_trial_own_gpu_type_is_part_of_its_id():
    """Two trials that differ only in their GPU type measure different hardware: with an
    engine that gets no GPU-type flag, the type alone must part their ids."""
    plan = make_plan(from_document(GPU_TYPES))
    by_type = {t.params["deployment.gpus.type"]: t for t in plan.trials if
               {k: t.params[k] for k in SGL_POINT} == SGL_POINT}
    assert by_type["H100"].args == by_type["H200"].args
    assert by_type["H100"].id != by_type["H200"].id


def test_image_digests_are_recorded_only_where_the_mode_runs_the_image():
    """results.json's identity names a pinned image's digest where the image runs (Docker,
    OME), and none for a local run, which never pulls it."""
    pinned = _set(BASES[0], "engine.image", "lmsysorg/sglang@sha256:" + "a" * 64)
    assert identity_facts(from_document(pinned))["image_digest"] == "sha256:" + "a" * 64
    local = from_document(_set(pinned, "deployment.mode", "local"))
    assert identity_facts(local)["image_digest"] is None


def _confirm_hours(trials: int, top_k: int) -> tuple[float, float]:
    """(max_gpu_hours, the same without any confirmation phase) for a grid of `trials`."""
    doc = {**BASES[1], "parameters": {"chunked-prefill-size": [1024, 2048, 4096][:trials]},
           "deployment": {**BASES[1]["deployment"], "startupTimeout": 100},
           "benchmark": {"trafficScenarios": ["D(1,1)"], "concurrency": [1], "repeats": 2,
                         "maxTimePerRun": 5},
           "search": {"method": "grid", "confirm": {"topK": top_k, "rounds": 1}}}
    plan = make_plan(from_document(doc))
    assert plan.max_trials == trials
    per_trial_s = 100 + 1 * 1 * 2 * 5 * 60
    return plan.max_gpu_hours(), trials * per_trial_s * 2 / 3600


def test_the_confirmation_budget_needs_two_candidates():
    """runner/confirm.py re-measures only when at least two candidates race: one trial
    (or topK 1) has no confirmation phase to budget for, three candidates each get one
    repeat on a fresh engine per round."""
    hours, without = _confirm_hours(trials=1, top_k=3)
    assert hours == pytest.approx(without)
    hours, without = _confirm_hours(trials=3, top_k=1)
    assert hours == pytest.approx(without)
    hours, without = _confirm_hours(trials=3, top_k=3)
    assert hours == pytest.approx(without + 3 * 1 * (100 + 2 * 5 * 60 / 2) * 2 / 3600)
