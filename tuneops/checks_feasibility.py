"""Can a trial run at all? Deployment requirements, GPU counts, parallelism and memory.

These catch the trials that would fail only after minutes of image pulls and weight
loading: a tensor-parallel size that does not divide the attention heads, more GPUs than a
trial gets, weights larger than the GPUs, or a Kubernetes deployment missing its model.

What differs between engines is data in the engine table (schemas/engines.yaml): which
flags set the tensor/data/pipeline parallel sizes (any spelling the catalog knows for them
counts), the flag that runs data parallelism inside tensor parallelism, and whether the
weights must fit in GPU memory. The rules here are the same for every engine.
"""

from __future__ import annotations

import itertools
from typing import Any

from tuneops import expr, registry
from tuneops.checks_base import Context
from tuneops.checks_schema import did_you_mean
from tuneops.checks_space import probe_values
from tuneops.deployments.registry import deployment_mode
from tuneops.spec import GPU_TYPE_PARAM

# GPU memory in GiB as the driver reports it (rounded down): the weights must fit below it.
GPU_MEMORY_GIB = {
    "H100": 79,
    "H200": 140,
    "H20": 95,
    "B200": 179,
    "A100-80G": 79,
    "A100-40G": 39,
    "L40S": 44,
    "A10": 22,
    "MI300": 191,
    "RTX-PRO-6000": 95,
}
_GIB = 1024**3


def _check_deployment(ctx: Context) -> None:
    """What the deployment mode itself requires (each mode owns its checks)."""
    deployment_mode(ctx.exp.deployment.mode).check(ctx)


def _roles(ctx: Context) -> dict[str, list[tuple[tuple, Any]]]:
    """role -> [(path of the value, value)], from parameters (tuned) or engine.args (fixed)."""
    cat = registry.catalog(ctx.exp.engine.name)
    flags = registry.engines()[ctx.exp.engine.name].parallel_flags

    def canonical(name: str) -> str:
        return cat.by_alias.get(name.lstrip("-"), name) if cat else name

    roles = {canonical(flag): role for role, flag in flags}

    def role_of(name: str) -> str | None:
        return roles.get(canonical(name))

    out: dict[str, list[tuple[tuple, Any]]] = {}
    for name, value in ctx.exp.engine.args.items():
        role = role_of(name)
        if role:
            out[role] = [(("engine", "args", name), value)]
    for p in ctx.exp.parameters:
        role = role_of(p.name)
        if not role:
            continue
        raw = ctx.get("parameters", p.name)
        base = ("parameters", p.name) if isinstance(raw, list) else ("parameters", p.name, "values")
        values = probe_values(p)
        paths = (
            [(*base, i) for i in range(len(values))]
            if p.kind == "values"
            else [("parameters", p.name)] * len(values)
        )
        out[role] = list(zip(paths, values, strict=True))
    return {
        r: [
            (path, v) for path, v in vs if isinstance(v, int) and not isinstance(v, bool) and v >= 1
        ]
        for r, vs in out.items()
    }


def _check_heads(ctx: Context, roles: dict) -> None:
    arch = ctx.exp.model.architecture
    if arch is None:
        return
    for path, tp in roles.get("tp", []):
        name = _name(path)
        if arch.attention_heads % tp:
            ctx.error(
                path,
                f"{name} {tp} does not divide the model's {arch.attention_heads} attention heads",
                "tensor parallelism splits heads evenly across GPUs",
            )
        elif arch.kv_heads % tp and tp % arch.kv_heads:
            ctx.error(
                path,
                f"{name} {tp} and the model's {arch.kv_heads} KV heads: neither divides the other",
                "KV heads are split or replicated evenly",
            )


def _allowed(ctx: Context, env: dict) -> bool:
    """Whether the constraints that only name values known in `env` accept it."""
    for text in ctx.exp.constraints:
        try:
            c = expr.parse(text)
            if c.names <= env.keys() and not c.evaluate(env):
                return False
        except expr.ExprError:
            continue
    return True


def _check_gpus(ctx: Context, roles: dict) -> None:
    exp = ctx.exp
    gpus = exp.gpus_per_trial
    gpu_type = exp.deployment.gpus.type
    memory = GPU_MEMORY_GIB.get(gpu_type) if gpu_type else None
    if gpu_type and memory is None:
        ctx.error(
            ("deployment", "gpus", "type"),
            f"unknown GPU type {gpu_type!r}",
            did_you_mean(gpu_type, GPU_MEMORY_GIB) or "known: " + ", ".join(GPU_MEMORY_GIB),
        )
    # a GPU type parameter: the weights must fit on every type it tries (its values'
    # names are checked in checks_gpus)
    typed = [(gpu_type, memory)] if memory else []
    param = exp.gpu_type_param
    if param is not None:
        typed = [(str(t), GPU_MEMORY_GIB[str(t)]) for t in param.values or ()
                 if str(t) in GPU_MEMORY_GIB]
    engine = registry.engines()[exp.engine.name]
    dp_in_tp = bool(engine.dp_in_tp_flag and _fixed_value(ctx, engine.dp_in_tp_flag))
    order = [r for r in ("tp", "dp", "pp") if roles.get(r)]
    choices = [roles[r] for r in order]
    arch = exp.model.architecture
    weights = arch.weight_bytes if arch else 0
    check_memory = typed and weights and engine.weights_on_gpus
    reported: set = set()
    base = {**exp.engine.args, "gpus": gpus}
    for combo in itertools.islice(itertools.product(*choices), 10_000):
        chosen = dict(zip(order, combo, strict=True))
        env = {**base, **{_name(path): v for path, v in chosen.values()}}
        if not _allowed(ctx, env):
            continue
        size = {r: chosen[r][1] if r in chosen else 1 for r in registry.PARALLEL_ROLES}
        need = size["tp"] * size["pp"] * (1 if dp_in_tp else size["dp"])
        first = chosen[order[0]][0] if order else ("deployment", "gpus")
        if gpus and need > gpus and first not in reported:
            reported.add(first)
            parts = " x ".join(f"{_name(chosen[r][0])} {chosen[r][1]}" for r in order)
            ctx.error(
                first,
                f"{parts} needs {need} GPUs, but each trial gets {gpus}",
                "raise deployment.gpus or add a constraint such as "
                f"'{_constraint_hint(chosen)} <= gpus'",
            )
        split = size["tp"] * size["pp"]
        per_gpu = weights / split / _GIB
        where = first if order else (
            ("parameters", GPU_TYPE_PARAM) if param is not None else ("model",))
        small = [(t, m) for t, m in typed if per_gpu > m] if check_memory else []
        if small and ("mem", where) not in reported:
            reported.add(("mem", where))
            t, m = small[0]
            ctx.error(
                where,
                f"the weights need about {per_gpu:.0f} GiB per GPU "
                f"({weights / _GIB:.0f} GiB over {split} GPU(s)), more than the "
                f"{m} GiB of one {t}",
                "use more tensor/pipeline parallelism, a smaller dtype, or bigger GPUs"
                + (" (or drop the smaller GPU types)" if param is not None else ""),
            )


def _fixed_value(ctx: Context, flag: str) -> Any:
    """engine.args' value for `flag` under whichever spelling the experiment used."""
    cat = registry.catalog(ctx.exp.engine.name)
    for name, value in ctx.exp.engine.args.items():
        if name == flag or (cat and cat.by_alias.get(name.lstrip("-")) == flag):
            return value
    return None


def _name(path: tuple) -> str:
    return path[2] if path[0] == "engine" else path[1]


def _constraint_hint(chosen: dict) -> str:
    return " * ".join(_name(path) for path, _ in chosen.values()) or "tp-size"


def _check_devices_and_timeout(ctx: Context) -> None:
    """Device ids are used as text (CUDA_VISIBLE_DEVICES, Docker): 0 and "0" are one GPU;
    a startup timeout of "0s" would fail every trial before its engine could answer."""
    seen: dict[str, Any] = {}
    for i, device in enumerate(ctx.get("deployment", "gpus", "devices", default=None) or []):
        text = str(device)
        if text in seen:
            ctx.error(
                ("deployment", "gpus", "devices", i),
                f"GPU {text} is listed twice (as {seen[text]!r} and {device!r})",
                "each device once",
            )
        seen.setdefault(text, device)
    timeout = ctx.exp.deployment.startup_timeout_s
    if ctx.get("deployment", "startupTimeout") is not None and timeout <= 0:
        ctx.error(
            ("deployment", "startupTimeout"), "must be more than 0",
            "how long an engine may take to become healthy, e.g. 10m",
        )


def check(ctx: Context) -> None:
    _check_deployment(ctx)
    _check_devices_and_timeout(ctx)
    roles = _roles(ctx)
    _check_heads(ctx, roles)
    _check_gpus(ctx, roles)
