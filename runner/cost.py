"""Cost per million tokens at every measured point, from the GPUs' hourly price.

price per hour = the trial's GPUs × the price of its GPU type: the experiment's
``deployment.gpus.pricePerHour`` (a number, or one per type) before schemas/gpus.yaml's
table. The type is the trial's own when its engine takes one as a parameter (the
simulator's ``gpu-type``: one experiment can compare H100 and L40S), else
``deployment.gpus.type``. Added to each repeat's values before they are summarized, so a
cost has the same 95 % interval treatment as the throughput it comes from. No price, no
GPU, no throughput: no cost metric (never a zero).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from ruamel.yaml import YAML

from tuneops import schemas
from tuneops.metrics import COST_METRICS
from tuneops.spec import Experiment

GPU_TYPE_ARG = "gpu-type"  # the simulator's flag (schemas/engines.yaml sim.extra_flags)


@cache
def price_table() -> dict[str, float]:
    raw = YAML(typ="safe").load((schemas.ROOT / "gpus.yaml").read_text())
    return {str(k): float(v) for k, v in raw.items()}


def gpu_type(exp: Experiment, args: dict[str, Any]) -> str | None:
    t = args.get(GPU_TYPE_ARG)
    return str(t) if t else exp.deployment.gpus.type


def hourly_price(exp: Experiment, args: dict[str, Any], gpu_count: int) -> float | None:
    """USD per hour for the trial's GPUs, or None when unknown."""
    kind = gpu_type(exp, args)
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
