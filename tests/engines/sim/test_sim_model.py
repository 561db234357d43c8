"""The simulator's performance model moves the way a real SGLang server does.

Driven in virtual time through ``closed_loop`` (the same scheduler the HTTP server runs in
real time), so each property is checked in milliseconds of CPU, not minutes of wall clock.
"""

from __future__ import annotations

import pytest
from tuneops.engines.sim import profiles
from tuneops.engines.sim.perfmodel import PerfModel, Settings
from tuneops.engines.sim.scheduler import Request, Scheduler, closed_loop


def perf(gpu: str = "H100", model: str = "Llama-3.1-8B", **settings) -> PerfModel:
    return PerfModel(profiles.gpu(gpu), profiles.model(model), Settings(**settings))


def test_profiles_cover_required_hardware_and_models():
    assert {"H100", "H200", "H20", "A100-80G", "L40S"} <= set(profiles.gpu_names())
    assert {"Llama-3.2-1B", "Llama-3.1-8B", "Qwen2.5-7B", "Llama-3.1-70B"} <= set(
        profiles.model_names())
    assert profiles.guess_model("/models/meta-llama/Llama-3.1-70B-Instruct") == "Llama-3.1-70B"
    assert profiles.guess_model("Qwen/Qwen2.5-7B-Instruct") == "Qwen2.5-7B"
    assert profiles.guess_model("something/else") is None


@pytest.mark.parametrize("gpu", ["H100", "H200", "H20", "A100-80G", "L40S"])
@pytest.mark.parametrize("model", ["Llama-3.2-1B", "Llama-3.1-8B", "Qwen2.5-7B"])
def test_default_memory_fraction_fits_small_models_on_one_gpu(gpu, model):
    plan = perf(gpu, model).plan
    assert plan.error is None
    assert plan.max_total_tokens > 50_000


def test_kv_pool_is_static_fraction_minus_weights():
    low, high = perf(mem_fraction_static=0.6).plan, perf(mem_fraction_static=0.85).plan
    assert high.kv_pool_gib - low.kv_pool_gib == pytest.approx(0.25 * high.total_gib, rel=1e-3)
    assert high.weights_gib == pytest.approx(8.03e9 * 2 / 1024**3, rel=1e-3)
    assert perf(max_total_tokens=12345).plan.max_total_tokens == 12345
    halved = perf(tp=2).plan
    assert halved.weights_gib == pytest.approx(high.weights_gib / 2, rel=1e-3)


def test_too_high_mem_fraction_is_a_cuda_oom():
    assert "CUDA out of memory" in perf(mem_fraction_static=0.99).plan.error
    assert "Not enough memory" in perf(mem_fraction_static=0.15).plan.error
    assert "CUDA out of memory" in perf(model="Llama-3.1-70B").plan.error  # 141 GB of weights
    assert perf(model="Llama-3.1-70B", tp=4).plan.error is None


def test_more_kv_memory_raises_saturated_throughput():
    small = closed_loop(perf(mem_fraction_static=0.35), 256, 2000, 300, 512)
    large = closed_loop(perf(mem_fraction_static=0.88), 256, 2000, 300, 512)
    assert large.output_throughput > 1.2 * small.output_throughput


def test_latency_grows_with_concurrency():
    runs = [closed_loop(perf(), c, 512, 128, max(8, 2 * c)) for c in (1, 8, 64, 256)]
    ttft = [r.mean_ttft for r in runs]
    e2e = [r.mean_e2e for r in runs]
    assert ttft == sorted(ttft) and ttft[-1] > 5 * ttft[0]
    assert e2e == sorted(e2e) and e2e[-1] > 2 * e2e[0]
    tput = [r.output_throughput for r in runs]
    assert tput == sorted(tput)


def test_tensor_parallel_on_a_model_that_fits_lowers_per_gpu_throughput():
    one = closed_loop(perf(tp=1), 64, 500, 200, 128)
    two = closed_loop(perf(tp=2), 64, 500, 200, 128)
    assert two.per_gpu_throughput < 0.9 * one.per_gpu_throughput
    assert two.output_throughput > one.output_throughput  # but the replica itself is faster


def test_small_chunked_prefill_raises_ttft_for_long_prompts():
    big = closed_loop(perf(chunked_prefill_size=8192), 1, 8000, 8, 3)
    small = closed_loop(perf(chunked_prefill_size=64), 1, 8000, 8, 3)
    assert small.mean_ttft > 2 * big.mean_ttft
    short_big = closed_loop(perf(chunked_prefill_size=8192), 1, 50, 8, 3)
    short_small = closed_loop(perf(chunked_prefill_size=64), 1, 50, 8, 3)
    assert short_small.mean_ttft == pytest.approx(short_big.mean_ttft, rel=0.05)


def test_max_running_requests_caps_throughput_and_batch():
    model = perf(max_running_requests=16)
    capped = closed_loop(model, 128, 200, 200, 256)
    free = closed_loop(perf(), 128, 200, 200, 256)
    assert capped.output_throughput < 0.5 * free.output_throughput
    sched = Scheduler(model)
    for _ in range(64):
        sched.submit(Request(200, 50, 50, 0.0))
    peak, t = 0, 0.0
    while (step := sched.plan()) is not None:
        t += step.duration
        sched.complete(step, t)
        peak = max(peak, len(sched.running) + (sched.chunked is not None))
    assert peak == 16


def test_full_kv_pool_queues_requests_and_never_overflows():
    model = perf(max_total_tokens=5000)
    sched = Scheduler(model)
    reqs = [Request(900, 400, 400, 0.0) for _ in range(20)]
    for r in reqs:
        sched.submit(r)
    t, queued_seen = 0.0, 0
    while (step := sched.plan()) is not None:
        queued_seen = max(queued_seen, len(sched.waiting))
        t += step.duration
        sched.complete(step, t)
        assert 0 <= sched.kv_used <= 5000
    assert queued_seen >= 10
    assert all(r.state == "done" and r.generated == 400 for r in reqs)
    assert sched.kv_used == 0


def test_prefill_interrupts_decoding():
    """Without mixed chunks, a new prompt stalls running decodes (TPOT rises)."""
    model = perf()
    alone = closed_loop(model, 1, 100, 200, 2)
    busy = closed_loop(model, 16, 4000, 200, 64)
    assert busy.mean_tpot > 1.2 * alone.mean_tpot


def test_startup_time_tracks_weights_graphs_and_compile():
    base = perf().startup_seconds()
    assert perf(disable_cuda_graph=True).startup_seconds() < base
    assert perf(enable_torch_compile=True).startup_seconds() > base + 30
    assert perf(model="Llama-3.1-70B", tp=4).startup_seconds() > base
    assert perf(model="Llama-3.2-1B").startup_seconds() < base


def test_closed_loop_is_deterministic():
    a = closed_loop(perf(schedule_policy="random"), 32, 300, 100, 64, seed=3)
    b = closed_loop(perf(schedule_policy="random"), 32, 300, 100, 64, seed=3)
    assert a == b
