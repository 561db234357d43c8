"""CPU-set checks: a CPU engine's threads fit its CPU set, and the load generator's set is
apart from it (deployment.cpus; the runner applies them, deployments/common/cpus.py derives them).

A declared set is checked here: more engine threads than engine CPUs is an error (they
would time-share cores and measure the scheduler). Derived sets depend on the machine the
run happens on, so the runner checks those when it derives them.
"""

from __future__ import annotations

from tuneops import registry
from tuneops.checks_base import Context
from tuneops.checks_space import probe_values


def check(ctx: Context) -> None:
    cpus = ctx.exp.deployment.cpus
    if cpus is None or not cpus.engine:
        return
    overlap = sorted(set(cpus.engine) & set(cpus.load_generator))
    if overlap:
        ctx.error(("deployment", "cpus", "loadGenerator"),
                  f"CPUs {overlap} are in both the engine's and the load generator's set",
                  "give genai-bench cores the engine does not use")
    if ctx.exp.gpus_per_trial > 0:
        ctx.warn(("deployment", "cpus"), "CPU sets only apply to CPU engines (no GPUs)")
        return
    flags = registry.engines()[ctx.exp.engine.name].thread_flags
    n = len(cpus.engine)
    for name, value in ctx.exp.engine.args.items():
        if name in flags and _int(value) is not None and _int(value) > n:
            ctx.error(("engine", "args", name),
                      f"{name}={value} exceeds the engine's {n} CPU(s) in deployment.cpus.engine",
                      f"at most {n}, or give the engine more CPUs")
    for p in ctx.exp.parameters:
        if p.name not in flags:
            continue
        too_many = [v for v in probe_values(p) if _int(v) is not None and _int(v) > n]
        if too_many:
            ctx.error(("parameters", p.name),
                      f"{p.name} values {too_many} exceed the engine's {n} CPU(s) in "
                      "deployment.cpus.engine", f"at most {n}, or give the engine more CPUs")


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
