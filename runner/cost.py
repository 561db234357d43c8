"""Cost per million tokens at every measured point, from the GPUs' hourly price.

price per hour = the trial's GPUs × the price of its GPU type: the experiment's
``deployment.gpus.pricePerHour`` (a number, or one per type) before schemas/gpus.yaml's
table (tuneops.registry.gpu_prices). The type is the trial's own when
``deployment.gpus.type`` is a parameter (one experiment compares H100 and L40S), else the
simulator's ``gpu-type`` when set, else the fixed ``deployment.gpus.type``. Added to each
repeat's values before they are summarized, so a cost has the same 95 % interval treatment
as the throughput it comes from. No price, no
GPU, no throughput: no cost metric (never a zero).
"""

from __future__ import annotations

from typing import Any

from tuneops import registry
from tuneops.metrics import COST_METRICS
from tuneops.spec import GPU_TYPE_PARAM, Experiment

GPU_TYPE_ARG = "gpu-type"  # the simulator's flag (schemas/engines.yaml sim.extra_flags)


def price_table() -> dict[str, float]:
    return registry.gpu_prices()


def gpu_type(exp: Experiment, params: dict[str, Any], args: dict[str, Any]) -> str | None:
    """The trial's GPU type: its deployment.gpus.type parameter, else the simulator's
    gpu-type flag it set directly, else the experiment's fixed type."""
    if GPU_TYPE_PARAM in params:
        return exp.gpu_type_for(params)
    t = args.get(GPU_TYPE_ARG)
    return str(t) if t else exp.deployment.gpus.type


def hourly_price(exp: Experiment, args: dict[str, Any], gpu_count: int,
                 params: dict[str, Any] | None = None) -> float | None:
    """USD per hour for the trial's GPUs, or None when unknown."""
    kind = gpu_type(exp, params or {}, args)
    own = exp.deployment.gpus.price_per_hour
    if isinstance(own, dict):
        per_gpu = own.get(kind) if kind else None
    else:
        per_gpu = own
    if per_gpu is None and kind:
        per_gpu = price_table().get(kind)
    if per_gpu is None or gpu_count <= 0:
        return None
    return per_gpu * gpu_count


def add_costs(values: dict[str, float], hourly: float | None) -> dict[str, float]:
    """One repeat's values at one point, with its cost metrics where computable."""
    if hourly is None:
        return values
    out = dict(values)
    for name, tput in zip(COST_METRICS, ("output_throughput", "total_throughput"),
                          strict=True):
        tokens_per_s = values.get(tput)
        if tokens_per_s and tokens_per_s > 0:
            out[name] = hourly / (tokens_per_s * 3600.0) * 1e6
    return out
