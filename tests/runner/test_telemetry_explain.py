"""The report explains a result from the telemetry summaries: the saturating resource,
named for the best trial in report.md, and series an engine lacks named as such."""

from __future__ import annotations

from tuneops.runner.report import telemetry_md
from tuneops.runner.results import COMPLETED, TrialResult
from tuneops.runner.telemetry.explain import pct, pooled_levels, saturation


def _m(levels, not_exposed=None, gpu=None):
    out = {"series": {}, "levels": {"D(100,100)": {str(c): s for c, s in levels.items()}},
           "not_exposed": not_exposed or {}}
    if gpu is not None:
        out["gpu"] = gpu
    return out


def _s(mean, mx, total=None):
    d = {"mean": mean, "max": mx, "p95": mx, "n": 5}
    if total is not None:
        d["total"] = total
    return d


KV_FULL = [_m({16: {"kv_cache_usage": _s(0.4, 0.6), "preemptions": _s(0, 0, 0)},
               64: {"kv_cache_usage": _s(0.9, 0.98), "preemptions": _s(3, 9, 200)}}),
           _m({16: {"kv_cache_usage": _s(0.4, 0.5), "preemptions": _s(0, 0, 0)},
               64: {"kv_cache_usage": _s(0.9, 0.97), "preemptions": _s(2, 8, 112)}})]


def test_kv_saturation_is_named_with_its_level_and_preemptions():
    v = saturation(KV_FULL)
    assert v.resource == "KV cache"
    assert v.sentence == "KV cache saturated at 98 % from concurrency 64; 312 preemptions"
    pooled = pooled_levels(KV_FULL)
    assert pooled[64]["preemptions"]["total"] == 312 and pooled[16]["kv_cache_usage"]["max"] == 0.6


def test_a_full_batch_with_a_queue_names_the_slots_not_the_cache():
    v = saturation([_m({4: {"kv_cache_usage": _s(0.1, 0.2), "running": _s(4, 4),
                            "queued": _s(0, 0)},
                        16: {"kv_cache_usage": _s(0.2, 0.3), "running": _s(8, 8),
                             "queued": _s(6.5, 8)}})])
    assert v.resource == "running-request slots" and "at most 8 requests ran" in v.sentence


def test_gpu_then_nothing():
    calm = {16: {"kv_cache_usage": _s(0.01, 0.0025), "running": _s(16, 16),
                 "queued": _s(0, 0)}}
    busy = saturation([_m(calm, gpu={"gpu_utilization": _s(0.95, 0.99)})])
    assert busy.resource == "GPU compute"
    idle = saturation([_m(calm)])
    assert idle.resource == "none" and "peaked at 0.25 %" in idle.sentence
    assert saturation([{"not_scraped": "measured in place by the platform"}]) is None
    assert (pct(0.98), pct(0.042), pct(0.0)) == ("98 %", "4.2 %", "0 %")


def test_llamacpp_telemetry_says_what_it_does_not_expose():
    missing = {"kv_cache_usage": "not exposed by llama.cpp",
               "preemptions": "not exposed by llama.cpp"}
    tel = [_m({2: {"running": _s(2, 2), "queued": _s(0, 0),
                   "generation_throughput": _s(300, 350)}}, missing,
              gpu={"not_measured": "no GPU assigned to the trial"})]
    v = saturation(tel)
    assert v.resource == "none" and "KV-cache usage not exposed by llama.cpp" in v.sentence
    r = TrialResult(trial_id="abc", index=0, params={}, args={}, status=COMPLETED,
                    telemetry=tel)
    text = "\n".join(telemetry_md.trial_table(r, None))
    assert "| 2 | n/e | 2 | 0.0 | n/e |" in text
    assert "`kv_cache_usage` not exposed by llama.cpp" in text
    assert "energy per token: not measured" in text
