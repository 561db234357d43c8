"""The hardware performance model: memory plan, per-step time, start-up time.

Everything derives from the GPU and model profiles plus the server settings, so a flag
that matters on a real SGLang server moves the numbers here in the same direction:
memory decides how many tokens the KV pool holds (and whether start-up fails), a roofline
(max of compute and memory time, with efficiency factors) decides how long each
scheduler step takes, and tensor parallelism adds an all-reduce per layer.

The efficiency constants (``Efficiency``) are fitted by least squares against published real
measurements of SGLang and vLLM (engines/sim/data/published_measurements.yaml, fitted by
scripts/fit_sim_constants.py into engines/sim/data/calibration.json); the fidelity of the
result is a test (tests/engines/sim/test_sim_fidelity.py) and a table in ``make bench``.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields, replace
from functools import lru_cache
from pathlib import Path

from tuneops.engines.sim.profiles import GpuProfile, ModelProfile

GiB = 1024**3

# Efficiency factors before calibration: what fraction of the datasheet a well-tuned kernel
# reaches. ``Efficiency`` holds the values a model runs with (fitted: data/calibration.json).
MFU = 0.6  # large GEMMs (prefill, big decode batches)
ATTN_EFF = 0.45  # attention FLOPs
HBM_EFF = 0.8  # weight and KV streaming
LINK_EFF = 0.7  # all-reduce bus bandwidth
OVERLAP = 0.1  # share of the smaller of compute/memory time that does not overlap
SCHED_OVERHEAD_S = 0.0004  # scheduler + sampling per step
PER_REQ_OVERHEAD_S = 3e-6  # batch bookkeeping per request in a step
CALIBRATION = Path(__file__).resolve().parent / "data" / "calibration.json"
KERNEL_LAUNCH_S = 4e-6  # one kernel launch when not replayed from a CUDA graph
KERNELS_PER_LAYER = 12
CUDA_CONTEXT_GIB = 1.0  # CUDA context + torch allocator slack outside the static pool
NCCL_GIB = 0.25  # communicator buffers when tp > 1
QUANT_WEIGHT_BYTES = {"fp8": 1.0, "w8a8_fp8": 1.0, "modelopt_fp8": 1.0, "awq": 0.5,
                      "gptq": 0.5, "awq_marlin": 0.5, "gptq_marlin": 0.5, "w8a8_int8": 1.0}


@dataclass(frozen=True)
class Settings:
    """The server settings that change performance, with SGLang's defaults resolved."""

    tp: int = 1
    dp: int = 1
    mem_fraction_static: float | None = None
    max_total_tokens: int | None = None
    max_running_requests: int | None = None
    chunked_prefill_size: int | None = None  # None: GPU-dependent default; <=0: disabled
    max_prefill_tokens: int = 16384
    schedule_policy: str = "fcfs"
    schedule_conservativeness: float = 1.0
    disable_cuda_graph: bool = False
    cuda_graph_max_bs: int | None = None
    enable_torch_compile: bool = False
    torch_compile_max_bs: int = 32
    enable_mixed_chunk: bool = False
    kv_cache_dtype: str = "auto"
    quantization: str | None = None
    context_length: int | None = None
    stream_interval: int = 1


@dataclass(frozen=True)
class Efficiency:
    """The model's tunable constants: what a fit against measurements may move.

    ``hbm_eff`` is per GPU (HBM3e on H200 reaches a smaller share of its datasheet than
    HBM3 on H100); the rest are the same for every card. ``step_overhead_s`` is the fixed
    cost of every forward step (scheduling, sampling, graph launch) that no roofline sees;
    ``request_overhead_s`` the fixed cost each request pays before it reaches the scheduler
    (HTTP, tokenization): part of TTFT, never of throughput. An all-reduce costs
    ``allreduce_scale`` x the GPU's small-message latency per ring hop, 2 (tp - 1) hops,
    plus its bytes over the link, so it grows with the tensor-parallel size.
    """

    mfu: float = MFU
    attn_eff: float = ATTN_EFF
    hbm_eff: float = HBM_EFF
    link_eff: float = LINK_EFF
    step_overhead_s: float = SCHED_OVERHEAD_S
    per_seq_overhead_s: float = PER_REQ_OVERHEAD_S
    request_overhead_s: float = 0.0
    allreduce_scale: float = 0.5  # 2 (tp-1) hops x 0.5: the old single latency at tp 2

    @classmethod
    def for_gpu(cls, gpu: str) -> Efficiency:
        """The calibrated constants for ``gpu`` (defaults where the fit had no data)."""
        table = _calibration()
        return cls(**{**table.get("global", {}), **table.get("gpus", {}).get(gpu, {})})

    def scaled(self, **factors: float) -> Efficiency:
        """A copy with named constants multiplied (a perturbed or a re-fitted model)."""
        return replace(self, **{k: getattr(self, k) * v for k, v in factors.items()})

    @staticmethod
    def names() -> tuple[str, ...]:
        return tuple(f.name for f in fields(Efficiency))


@lru_cache(maxsize=1)
def _calibration() -> dict:
    if not CALIBRATION.exists():
        return {}
    raw = json.loads(CALIBRATION.read_text(encoding="utf-8"))
    allowed = set(Efficiency.names())
    for block in [raw.get("global", {}), *raw.get("gpus", {}).values()]:
        unknown = set(block) - allowed
        if unknown:
            raise ValueError(f"{CALIBRATION}: unknown constants {sorted(unknown)}; "
                             f"allowed: {sorted(allowed)}")
    return raw


@dataclass(frozen=True)
class MemoryPlan:
    """Per-GPU memory split; ``error`` is the start-up failure a real server would hit."""

    total_gib: float
    mem_fraction_static: float
    weights_gib: float
    cuda_graph_gib: float
    kv_pool_gib: float
    dynamic_need_gib: float
    dynamic_free_gib: float
    kv_bytes_per_token: int
    max_total_tokens: int
    error: str | None

    def as_dict(self) -> dict:
        return asdict(self)


class PerfModel:
    """Step and start-up times of one SGLang replica (``tp`` GPUs) for one model."""

    def __init__(self, gpu: GpuProfile, model: ModelProfile, settings: Settings,
                 constants: Efficiency | None = None) -> None:
        self.gpu, self.model, self.s = gpu, model, settings
        self.c = constants or Efficiency.for_gpu(gpu.name)
        self.request_overhead_s = self.c.request_overhead_s
        tp = settings.tp
        self.weight_bytes_per_param = QUANT_WEIGHT_BYTES.get(settings.quantization or "", 2.0)
        self.tflops = gpu.fp8_tflops if self.weight_bytes_per_param <= 1.0 else gpu.bf16_tflops
        self.weights_bytes = model.params * self.weight_bytes_per_param / tp
        kv_elem = 1 if settings.kv_cache_dtype.startswith("fp8") else 2
        kv_heads = max(1, math.ceil(model.kv_heads / tp))  # replicated when tp > kv heads
        self.kv_bytes_per_token = 2 * model.layers * kv_heads * model.head_dim * kv_elem
        self.heads_per_gpu = model.heads / tp
        embed = model.vocab * model.hidden
        self.body_flops_per_token = 2 * max(model.params - 2 * embed, model.params * 0.5) / tp
        self.head_flops_per_token = 2 * embed / tp
        self.chunked_prefill_size = self._default_chunk()
        self.cuda_graph_max_bs = settings.cuda_graph_max_bs or (256 if tp >= 4 else 160)
        self.plan = self._plan()
        default_mrr = max(1, min(4096, self.plan.max_total_tokens // 2))
        self.max_running_requests = settings.max_running_requests or default_mrr
        self.context_length = settings.context_length or model.context_length

    def _default_chunk(self) -> int | None:
        size = self.s.chunked_prefill_size
        if size is None:
            mem = self.gpu.memory_gib
            return 2048 if mem < 35 else 4096 if mem < 60 else 8192
        return None if size <= 0 else size

    # -- memory ---------------------------------------------------------------------------

    def _plan(self) -> MemoryPlan:
        gpu, m, s = self.gpu, self.model, self.s
        total = gpu.memory_gib * GiB
        mfs = s.mem_fraction_static or gpu.default_mem_fraction_static
        graph = 0.0 if s.disable_cuda_graph else (
            0.2 * GiB + self.cuda_graph_max_bs * m.layers * m.hidden * 4)
        kv_pool = mfs * total - self.weights_bytes - graph
        chunk = self.chunked_prefill_size or s.max_prefill_tokens
        activations = chunk * (8 * m.hidden + 3 * m.intermediate / s.tp) * 2
        logits = 512 * m.vocab * 4 / s.tp  # float32 logits of one sampling batch
        dynamic = CUDA_CONTEXT_GIB * GiB + (NCCL_GIB * GiB if s.tp > 1 else 0) + activations
        dynamic += logits
        free = total - mfs * total
        tokens = max(0, int(kv_pool // self.kv_bytes_per_token))
        if s.max_total_tokens:
            tokens = min(tokens, s.max_total_tokens)
        error = None
        if self.weights_bytes > total - CUDA_CONTEXT_GIB * GiB:
            error = _cuda_oom(self.weights_bytes, total, max(0.0, total - CUDA_CONTEXT_GIB * GiB))
        elif kv_pool <= 0 or tokens < 16:
            error = ("RuntimeError: Not enough memory. Please try to increase "
                     f"--mem-fraction-static. (weights {self.weights_bytes / GiB:.2f} GiB, "
                     f"static pool {mfs * total / GiB:.2f} GiB)")
        elif dynamic > free:
            error = _cuda_oom(dynamic, total, free)
        return MemoryPlan(
            total_gib=round(total / GiB, 3), mem_fraction_static=mfs,
            weights_gib=round(self.weights_bytes / GiB, 3), cuda_graph_gib=round(graph / GiB, 3),
            kv_pool_gib=round(max(kv_pool, 0) / GiB, 3), dynamic_need_gib=round(dynamic / GiB, 3),
            dynamic_free_gib=round(free / GiB, 3), kv_bytes_per_token=self.kv_bytes_per_token,
            max_total_tokens=tokens, error=error,
        )

    # -- time -----------------------------------------------------------------------------

    def step_time(self, prefill: list[tuple[int, int]], decode_count: int,
                  decode_context: int, queue_len: int = 0) -> float:
        """Seconds for one forward step.

        ``prefill``: (new tokens, tokens already in KV) per request being prefilled;
        ``decode_count``/``decode_context``: decoding requests and the sum of their contexts.
        """
        m, s, gpu = self.model, self.s, self.gpu
        new = sum(n for n, _ in prefill)
        tokens = new + decode_count
        if tokens == 0:
            return 0.0
        sampled = decode_count + len(prefill)
        linear = self.body_flops_per_token * tokens + self.head_flops_per_token * sampled
        per_ctx = 4 * m.layers * self.heads_per_gpu * m.head_dim
        attn = per_ctx * (decode_context + sum(n * (p + n / 2) for n, p in prefill))
        c = self.c
        mfu = c.mfu * tokens / (tokens + 16)  # small GEMMs do not fill the tensor cores
        compute = linear / (self.tflops * 1e12 * mfu) + attn / (self.tflops * 1e12 * c.attn_eff)
        kv_read = self.kv_bytes_per_token * (decode_context + sum(p + n for n, p in prefill))
        memory = (self.weights_bytes + kv_read + self.kv_bytes_per_token * tokens) / (
            gpu.hbm_tbps * 1e12 * c.hbm_eff)
        gpu_time = max(compute, memory) + OVERLAP * min(compute, memory)
        decode_only = not prefill
        graphed = (decode_only and not s.disable_cuda_graph
                   and decode_count <= self.cuda_graph_max_bs)
        if graphed and s.enable_torch_compile and decode_count <= s.torch_compile_max_bs:
            gpu_time *= 0.92  # fused elementwise kernels
        if s.tp > 1:  # two all-reduces per layer (after attention's o_proj and the MLP)
            # a fixed cost (allreduce_scale x the card's small-message latency per hop) plus
            # the bytes each GPU moves, 2 (tp - 1) / tp of the step's activations (a ring, or
            # the custom all-reduce SGLang takes from vLLM, csrc/custom_all_reduce.cuh, whose
            # two-stage kernel runs above 512 KB at tp <= 4), over the per-direction NVLink
            # bandwidth in data/gpus.json x link_eff; scale and link_eff are fitted
            # (scripts/fit_sim_constants.py)
            payload = tokens * m.hidden * 2
            hops = 2 * (s.tp - 1)  # a ring all-reduce: reduce-scatter, then all-gather
            one = c.allreduce_scale * hops * gpu.allreduce_latency_us * 1e-6 + (
                hops / s.tp * payload / (gpu.interconnect_gbps * 1e9 * c.link_eff))
            gpu_time += 2 * m.layers * one
        launch = 50e-6 if graphed else m.layers * KERNELS_PER_LAYER * KERNEL_LAUNCH_S
        overhead = c.step_overhead_s + c.per_seq_overhead_s * sampled
        if s.schedule_policy in ("lpm", "dfs-weight"):
            overhead += 1e-6 * min(queue_len, 128)  # prefix matching walks the queue
        return max(gpu_time, launch) + overhead

    def startup_seconds(self) -> float:
        """Unscaled start-up time: imports, weight load, KV allocation, graph capture."""
        s, m = self.s, self.model
        t = 8.0 + (4.0 + 1.0 * s.tp if s.tp > 1 else 0.0)
        t += self.weights_bytes / 2.5e9  # checkpoint read at ~2.5 GB/s per GPU
        t += 1.0
        if not s.disable_cuda_graph:
            sizes = 4 + self.cuda_graph_max_bs // 8
            t += sizes * 0.12 * m.layers / 32
        if s.enable_torch_compile:
            t += 40.0 + 6.0 * max(1, s.torch_compile_max_bs // 8)
        return t + 1.0  # warm-up request


def _cuda_oom(need: float, total: float, free: float) -> str:
    return (f"torch.OutOfMemoryError: CUDA out of memory. Tried to allocate {need / GiB:.2f} GiB. "
            f"GPU 0 has a total capacity of {total / GiB:.2f} GiB of which {free / GiB:.2f} GiB "
            "is free.")
