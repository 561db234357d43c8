"""GPU types compared in one experiment (`parameters: {deployment.gpus.type: [...]}`) and
the prices that make them comparable.

Each value must be a GPU type tuneops knows (the memory table of checks_feasibility, which
also checks the weights fit on every type). Where a trial runs decides what else holds:
- a platform that schedules GPUs (OME) places each trial on nodes of its type, so any
  known type goes (and `deployment.ome.gpuProducts`, one set for every trial, may not);
- docker and local run on this machine's GPUs, so only the type nvidia-smi shows here
  (deployments/common/gpus.py) is allowed: a trial on another type would be mislabelled;
- a simulated engine runs anywhere and models the type (its gpu_type_flag in
  schemas/engines.yaml, set per trial), so its values are the types it models.
A compared type needs a price when cost ranks trials (objective or tie-break); otherwise a
missing one is only a warning (its trials have no cost metric).

A fixed `deployment.gpus.type` on a simulated engine is the type it models too (plan.py
trial_args sets the engine's flag from it): it must be one the engine models, an
engine.args value of that flag may not name another one, and the flag is not tuned.
"""

from __future__ import annotations

from typing import Any

from tuneops import registry
from tuneops.checks_base import Context
from tuneops.checks_feasibility import GPU_MEMORY_GIB
from tuneops.checks_schema import did_you_mean
from tuneops.deployments.common import gpus as host_gpus
from tuneops.deployments.registry import deployment_mode
from tuneops.metrics import COST_METRICS
from tuneops.spec import GPU_TYPE_PARAM, Experiment

P = ("parameters", GPU_TYPE_PARAM)


def _value_paths(ctx: Context) -> list[tuple[tuple, Any]]:
    raw = ctx.get(*P)
    base = P if isinstance(raw, list) else (*P, "values")
    param = ctx.exp.gpu_type_param
    return [((*base, i), v) for i, v in enumerate(param.values or ())]


def _price(exp: Experiment, kind: str) -> float | None:
    own = exp.deployment.gpus.price_per_hour
    if isinstance(own, dict):
        return own.get(kind, registry.gpu_prices().get(kind))
    return own if own is not None else registry.gpu_prices().get(kind)


def _allowed_here(ctx: Context) -> tuple[set[str] | None, str]:
    """The types a trial may have where it runs (None: any known type), and why."""
    exp = ctx.exp
    engine = registry.engines()[exp.engine.name]
    if engine.simulated:
        flag = dict(engine.extra_flags).get(engine.gpu_type_flag or "", {})
        choices = flag.get("choices")
        return (set(choices) if choices else None,
                f"the {exp.engine.name} engine models {', '.join(choices or ())}")
    if deployment_mode(exp.deployment.mode).schedules_gpus:
        return None, ""
    here = host_gpus.host_gpu_types(GPU_MEMORY_GIB)
    has = f"this machine has {', '.join(sorted(here))}" if here else "this machine has no GPU"
    return here, (f"{exp.deployment.mode} trials run on this machine's GPUs and {has} "
                  "(nvidia-smi); compare GPU types on OME, or on the simulator (engine: sim)")


def check_fixed(ctx: Context) -> None:
    """A simulated engine's fixed type: modelled by the engine, and named once."""
    exp = ctx.exp
    fixed = exp.deployment.gpus.type
    flag = registry.engines()[exp.engine.name].gpu_type_flag
    if fixed is None or not flag or exp.gpu_type_param is not None:
        return
    allowed, why = _allowed_here(ctx)
    if allowed is not None and fixed not in allowed:
        ctx.error(("deployment", "gpus", "type"), f"{fixed} cannot be simulated: {why}")
    given = exp.engine.args.get(flag)
    if given is not None and str(given) != fixed:
        ctx.error(("engine", "args", flag),
                  f"--{flag} {given} disagrees with deployment.gpus.type {fixed}",
                  f"remove it: --{flag} follows deployment.gpus.type", key=True)
    if flag in {p.name for p in exp.parameters}:
        ctx.error(("parameters", flag), f"--{flag} follows deployment.gpus.type {fixed}",
                  f"to compare GPU types, make {GPU_TYPE_PARAM} the parameter", key=True)


def check(ctx: Context) -> None:
    exp = ctx.exp
    check_fixed(ctx)
    param = exp.gpu_type_param
    if param is None:
        return
    if param.kind != "values":
        ctx.error(P, "GPU types are names: list them", "e.g. [H100, L40S]")
        return
    if exp.deployment.gpus.type is not None:
        ctx.error(("deployment", "gpus", "type"),
                  f"the GPU type is also a parameter ({GPU_TYPE_PARAM})",
                  "remove the fixed type: each trial has its own")
    if exp.gpus_per_trial <= 0:
        ctx.error(P, "GPU types are compared, but a trial gets no GPU",
                  "set deployment.gpus.count")
    flag = registry.engines()[exp.engine.name].gpu_type_flag
    tuned = {p.name for p in exp.parameters}
    for path, names in ((("engine", "args"), exp.engine.args), (("parameters",), tuned)):
        if flag and flag in names:
            ctx.error((*path, flag), f"--{flag} follows {GPU_TYPE_PARAM}, which is a parameter",
                      "remove it: each trial's simulator models its own type", key=True)
    if exp.deployment.mode == "ome" and (ctx.get("deployment", "ome", "gpuProducts")):
        ctx.error(("deployment", "ome", "gpuProducts"),
                  "one set of GPU products for every trial, but trials compare GPU types",
                  "remove it: each trial's node affinity follows its own type")
    allowed, why = _allowed_here(ctx)
    ranks_by_cost = exp.objective.metric in COST_METRICS or exp.objective.tie_break == "cost"
    for path, value in _value_paths(ctx):
        kind = str(value)
        if not isinstance(value, str) or kind not in GPU_MEMORY_GIB:
            ctx.error(path, f"unknown GPU type {value!r}",
                      did_you_mean(kind, GPU_MEMORY_GIB) or "known: " + ", ".join(GPU_MEMORY_GIB))
            continue
        if allowed is not None and kind not in allowed:
            ctx.error(path, f"a trial on {kind} cannot run here: {why}")
            continue
        if _price(exp, kind) is None:
            say = ctx.error if ranks_by_cost else ctx.warn
            say(path, f"{kind} has no price, so its trials have no cost"
                + (" to rank by" if ranks_by_cost else ""),
                f"add it to deployment.gpus.pricePerHour, e.g. {{{kind}: 2.5}}")
