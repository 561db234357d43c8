"""Memory-aware search (issue 23, item 4): points the memory plan says cannot start are
left out and listed; a start failure speaks for its memory group; the model search bisects
the memory fraction to the highest that starts. Measured in virtual time."""

from __future__ import annotations

import json
import math

from tuneops.runner.results import FAILED_CONFIG
from tuneops.runner.search import make_searcher
from tuneops.runner.search.memory import StartLog, cannot_start, prefilter
from tuneops.runner.search.model import ModelSearcher
from tuneops.runner.search.predict import perf_model, predict
from tuneops.runner.search.virtual import run_search

from tests.helpers.search_spaces import world
from tests.paths import ROOT
from tuneops import cli
from tuneops.plan import make_plan
from tuneops.spec import from_document

SGLANG_OOM = ("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 1.87 GiB. GPU 0 "
              "has a total capacity of 79.60 GiB of which 0.80 GiB is free.")
SGLANG_EMPTY = ("RuntimeError: Not enough memory. Please try to increase "
                "--mem-fraction-static.")
VLLM_EMPTY = ("ValueError: No available memory for the cache blocks. Try increasing "
              "`gpu_memory_utilization` when initializing the engine.")
FRACTIONS = [round(0.5 + 0.02 * k, 2) for k in range(25)]  # 0.50 .. 0.98


def _exp(engine="sim", fractions=(0.5, 0.8, 0.99), method="model", gpu_type=None,
         scenario="D(1000,200)", levels=(16, 64), caps=(32, 64)):
    name = "gpu-memory-utilization" if engine == "vllm" else "mem-fraction-static"
    doc = {"metadata": {"name": "mem"}, "model": {"id": "meta-llama/Llama-3.1-8B"},
           "engine": {"name": engine, "args": {}},
           "deployment": {"mode": "local", "gpus": {"count": 1, **(
               {"type": gpu_type} if gpu_type else {})}},
           "benchmark": {"trafficScenarios": [scenario], "concurrency": list(levels)},
           "objective": {"metric": "output_throughput_per_gpu", "direction": "maximize",
                         "concurrency": "best_feasible"},
           "parameters": {name: list(fractions), "chunked-prefill-size": [2048, 8192],
                          "max-running-requests": list(caps)},
           "search": {"method": method, "seed": 0, "maxTrials": 40}}
    return from_document(doc)


def test_the_memory_plan_refuses_a_fraction_that_leaves_no_room_and_says_why():
    exp = _exp()
    refused = prefilter(exp, make_plan(exp))
    plan = make_plan(exp)
    high = {t.id for t in plan.trials if t.params["mem-fraction-static"] == 0.99}
    assert set(refused) == high and len(high) == 4
    assert all("memory plan (H100)" in why and "out of memory" in why
               for why in refused.values())


def test_no_known_gpu_type_no_refusal_for_a_real_engine():
    """SGLang without a GPU type: the plan cannot know the card, so it refuses nothing."""
    assert cannot_start(_exp("sglang"), {"mem-fraction-static": 0.99}) is None
    assert cannot_start(_exp("sglang", gpu_type="H100"),
                        {"mem-fraction-static": 0.99, "chunked-prefill-size": 8192,
                         "max-running-requests": 32}) is not None


def test_the_model_search_never_starts_a_refused_point_and_notes_them():
    exp = _exp()
    searcher = make_searcher(exp, make_plan(exp))
    assert isinstance(searcher, ModelSearcher)
    refused = prefilter(exp, make_plan(exp))
    with world():
        out = run_search(exp, lambda args, sc, c: predict(
            perf_model("H100", "Llama-3.1-8B", args), c, 1000, 200).values, searcher=searcher)
    asked = {m.result.trial_id for m in out}
    assert len(asked) == len(make_plan(exp).trials) - 4 and not asked & set(refused)
    assert searcher.memory_notes()[0].startswith(
        "search.method model: 4 point(s) left out before running")


def test_plan_lists_each_point_that_cannot_start_with_its_reason(tmp_path, capsys):
    src = (ROOT / "experiments" / "examples" / "sim-small.yaml").read_text()
    path = tmp_path / "oom.yaml"
    path.write_text(src.replace("[0.5, 0.8]", "[0.5, 0.8, 0.99]"))
    assert cli.main(["plan", str(path), "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["trials"]) == 6 and len(out["cannot_start"]) == 2
    assert {c["params"]["mem-fraction-static"] for c in out["cannot_start"]} == {0.99}
    assert out["cannot_start"][0]["skipped"] is False  # grid search runs them anyway
    assert cli.main(["plan", str(path)]) == 0
    text = capsys.readouterr().out
    assert "2 trial(s) the memory plan says cannot start (grid search runs them" in text
    assert text.count("CUDA out of memory") == 2
    path.write_text(path.read_text().replace("method: grid", "method: model\n  maxTrials: 4"))
    assert cli.main(["plan", str(path), "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [c["skipped"] for c in out["cannot_start"]] == [True, True]


def test_an_oom_speaks_for_higher_fractions_of_its_group_only():
    log = StartLog(_exp())
    point = {"mem-fraction-static": 0.8, "chunked-prefill-size": 8192,
             "max-running-requests": 32}
    log.learn("t1", point, SGLANG_OOM)
    higher = {**point, "mem-fraction-static": 0.9, "max-running-requests": 64}
    got = log.verdict(higher)
    assert got is not None and got.source == "t1" and "0.9 >= 0.8" in got.reason
    assert log.verdict({**point, "mem-fraction-static": 0.7}) is None
    assert log.verdict({**higher, "chunked-prefill-size": 2048}) is None  # another group


def test_an_empty_kv_pool_speaks_for_lower_fractions():
    for engine, text in (("sim", SGLANG_EMPTY), ("vllm", VLLM_EMPTY)):
        log = StartLog(_exp(engine))
        name = log.fraction
        point = {name: 0.6, "chunked-prefill-size": 2048, "max-running-requests": 32}
        log.learn("t1", point, text)
        assert log.verdict({**point, name: 0.5}) is not None, engine
        assert log.verdict({**point, name: 0.7}) is None, engine


def test_a_failure_that_is_not_about_memory_tells_nothing():
    """An attacker's or a bad day's text: a rejected flag, an empty reason, a fraction that
    is not a number — none of them marks any other point."""
    log = StartLog(_exp())
    point = {"mem-fraction-static": 0.8, "chunked-prefill-size": 2048}
    for reason in ("error: unrecognized arguments: --foo", "", "Killed"):
        log.learn("t", point, reason)
    log.learn("t", {**point, "mem-fraction-static": "0.5; rm -rf /"}, SGLANG_OOM)
    log.learn("t", {**point, "mem-fraction-static": True}, SGLANG_OOM)
    assert log.too_high == {} and log.too_low == {}
    assert log.verdict({**point, "mem-fraction-static": 0.95}) is None


def _bisect(highest_ok: float) -> tuple[float | None, int]:
    """Start fractions the way the model search does after an OOM at the top value. A
    bisection never needs more starts than a walk over every value: the loop is bounded by
    that, so a probe that goes round in circles fails here instead of running forever."""
    log = StartLog(_exp())
    point = {"chunked-prefill-size": 8192}
    f = FRACTIONS[-1]
    for starts in range(1, len(FRACTIONS) + 1):
        log.learn(f"t{starts}", {**point, "mem-fraction-static": f},
                  None if f <= highest_ok else SGLANG_OOM)
        left = [v for v in FRACTIONS if log.verdict({**point, "mem-fraction-static": v}) is None
                and v > log.started.get(log.group(point), -1)]
        f = log.probe({**point, "mem-fraction-static": left[-1]}, left) if left else None
        if f is None:
            return log.started.get(log.group(point)), starts
    raise AssertionError(f"no end after {len(FRACTIONS)} starts (highest_ok {highest_ok})")


def test_bisection_finds_auto_tunes_fraction_in_log_starts():
    """vLLM's auto_tune walks down from the top until a start succeeds: the highest value
    that starts, one start per step. Bisection ends at the same value in log2(n) + 1."""
    bisected, walked = [], []
    for k, highest_ok in enumerate(FRACTIONS[:-1]):
        walk = next(v for v in reversed(FRACTIONS) if v <= highest_ok)
        found, starts = _bisect(highest_ok)
        assert found == walk, highest_ok
        assert starts <= math.ceil(math.log2(len(FRACTIONS))) + 2, (highest_ok, starts)
        bisected.append(starts)
        walked.append(len(FRACTIONS) - k)  # the top value down to highest_ok, each started
    assert sorted(bisected)[len(bisected) // 2] * 2 < sorted(walked)[len(walked) // 2]


def test_the_model_search_bisects_after_an_oom_the_model_did_not_foresee():
    """The truth runs out of memory above 0.62 where the model thinks 0.98 fits: the search
    finds the highest fraction that starts without walking down every value, and never
    starts a fraction above one that ran out of memory in its group. The load fills any
    KV pool, so every higher fraction that starts is better."""
    exp = _exp(fractions=FRACTIONS, scenario="D(4000,1000)", levels=(256,), caps=(256, 512))
    searcher = make_searcher(exp, make_plan(exp))

    def measure(args, scenario, c):
        if args["mem-fraction-static"] > 0.62:
            return SGLANG_OOM
        return predict(perf_model("H100", "Llama-3.1-8B", args), c, 4000, 1000).values

    with world():
        out = run_search(exp, measure, searcher=searcher, stop=lambda done: len(done) >= 16)
    best = max((m.result for m in out if m.result.score), key=lambda r: r.score.objective)
    assert best.params["mem-fraction-static"] == 0.62  # a walk down from 0.98: 19 starts
    first_oom: dict[tuple, float] = {}
    for m in out:
        p = m.result.params
        group = (p["chunked-prefill-size"],)  # the cap only schedules: same group
        if group in first_oom:  # never above a fraction that already ran out of memory
            assert p["mem-fraction-static"] < first_oom[group], (group, p)
        if m.result.status == FAILED_CONFIG:
            first_oom[group] = min(first_oom.get(group, 1.0), p["mem-fraction-static"])
    for group in first_oom:
        ooms = [m for m in out if m.result.status == FAILED_CONFIG
                and m.result.params["chunked-prefill-size"] == group[0]]
        assert len(ooms) <= math.ceil(math.log2(len(FRACTIONS))) + 1, group
    notes = searcher.memory_notes()
    assert any("ran out of memory at start in trial" in n for n in notes)
