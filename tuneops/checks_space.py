"""Search-space checks: ranges, grid size, search stopping rules and constraint expressions.

A grid that cannot be enumerated, a constraint that names a typo (and so would reject or
crash on every point), or constraints that reject every point are all found here, by
evaluating the constraints over the grid (or over probe points of continuous ranges)
before anything runs.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from tuneops import expr, space
from tuneops.checks_base import Context
from tuneops.checks_schema import did_you_mean
from tuneops.spec import Param

# Points x constraints evaluated at validate time (and again when the plan is made): a
# bound on the work a committed file can ask for, with room for any real experiment.
MAX_CONSTRAINT_EVALUATIONS = 2_000_000


def probe_values(param: Param) -> tuple[Any, ...]:
    """The grid values of a finite parameter; low, middle and high of a continuous one."""
    if space.count_values(param) is not None:
        return space.values_of(param)
    mid = (param.low + param.high) / 2
    return (param.low, mid, param.high)


def _check_ranges(ctx: Context) -> bool:
    ok = True
    for p in ctx.exp.parameters:
        if p.kind not in ("int", "float"):
            continue
        if p.low >= p.high:
            ctx.error(
                ("parameters", p.name, "high"),
                f"high ({p.high}) must be greater than low ({p.low})",
                f"for a single value write {p.name}: [{p.low}]",
            )
            ok = False
        if p.log and p.low <= 0:
            ctx.error(("parameters", p.name, "low"), f"a log range needs low > 0, got {p.low}", "")
            ok = False
        elif not math.isfinite(float(p.high) - float(p.low)):
            ctx.error(
                ("parameters", p.name),
                f"the range {p.low} to {p.high} is wider than a float can hold",
                "narrow it: samples and steps in between would overflow",
            )
            ok = False
    return ok


def _check_grid(ctx: Context) -> int | None:
    """Grid size (None when a float range has no step), reporting limits."""
    exp = ctx.exp
    stepless = [p for p in exp.parameters if space.count_values(p) is None]
    if stepless and exp.search.method == "grid":
        for p in stepless:
            ctx.error(
                ("parameters", p.name),
                f"grid search cannot enumerate the float range {p.name!r} without a step",
                "add step, or use search.method random or bayesian",
            )
    if not stepless:
        size = space.grid_size(exp.parameters)
        if size > space.MAX_GRID_POINTS:
            counts = " x ".join(_count_words(space.count_values(p)) for p in exp.parameters)
            ctx.error(
                ("parameters",),
                f"the grid has {_count_words(size, ',')} points ({counts}), more than the limit of "
                f"{space.MAX_GRID_POINTS:,}",
                "narrow the ranges or raise their steps: plan lists every point",
            )
            return None
        return size
    return None


def _count_words(n: int, sep: str = "") -> str:
    """A count as digits, or as a power of ten once it is too long to read."""
    if n < 10**18:
        return f"{n:,}" if sep else str(n)
    return f"about 10^{len(str(n)) - 1}"


def _check_search(ctx: Context) -> None:
    s = ctx.exp.search
    if s.time_budget_s is not None and s.time_budget_s <= 0:
        ctx.error(("search", "timeBudget"), "must be more than 0", "e.g. 6h")
    if s.method != "grid" and s.max_trials is None and s.time_budget_s is None:
        ctx.error(
            ("search", "method"),
            f"{s.method} search needs a stopping rule",
            "set search.maxTrials (or search.timeBudget)",
        )


def _constraint_column(ctx: Context, index: int, column: int) -> int:
    """Offset from the item's position to `column` of the expression (skipping a quote)."""
    from tuneops import yamlio

    line, col = yamlio.position(ctx.doc, ("constraints", index))
    lines = ctx.text.splitlines()
    quoted = 0 < line <= len(lines) and lines[line - 1][col - 1 : col] in ("'", '"')
    return max(column - 1, 0) + (1 if quoted else 0)


def _check_constraints(ctx: Context, size: int | None) -> None:
    exp = ctx.exp
    known = {p.name for p in exp.parameters} | set(exp.engine.args) | {"gpus"}
    compiled: list[tuple[int, expr.Expression]] = []
    for i, text in enumerate(exp.constraints):
        try:
            parsed = expr.parse(text)
        except expr.ExprError as exc:
            ctx.error(
                ("constraints", i),
                f"cannot parse constraint: {exc.message}",
                "names, numbers, 'text', + - * / // %, comparisons, and/or/not, "
                "min/max/abs; put spaces around '-' for subtraction",
                column_offset=_constraint_column(ctx, i, exc.column),
            )
            continue
        unknown = sorted(parsed.names - known)
        for name in unknown:
            col = text.find(name) + 1
            ctx.error(
                ("constraints", i),
                f"constraint names {name!r}, which is not a parameter, an engine arg or gpus",
                did_you_mean(name, sorted(known)) or "known: " + ", ".join(sorted(known)),
                column_offset=_constraint_column(ctx, i, col),
            )
        if not unknown:
            compiled.append((i, parsed))
    if not compiled or ctx.diagnostics:
        return  # evaluating over values already reported as wrong only repeats them
    params = exp.parameters
    probes = [probe_values(p) for p in params]
    total = 1
    for values in probes:
        total *= len(values)
    if total > space.MAX_GRID_POINTS:
        return
    work = total * len(compiled)
    if work > MAX_CONSTRAINT_EVALUATIONS:  # 99k points x 300 constraints took minutes
        ctx.error(
            ("constraints",),
            f"checking {len(compiled)} constraint(s) on {total:,} points is {work:,} "
            f"evaluations; the limit is {MAX_CONSTRAINT_EVALUATIONS:,}",
            "shrink the grid (fewer values per parameter), or merge constraints: "
            "one `a and b` instead of two, or a parameter's values instead of a constraint "
            "on it alone",
        )
        return
    base = {**exp.engine.args, "gpus": exp.gpus_per_trial}
    names = [p.name for p in params]
    broken: set[int] = set()
    accepted = 0
    for combo in itertools.product(*probes):
        env = {**base, **dict(zip(names, combo, strict=True))}
        ok = True
        for i, c in compiled:
            if i in broken:
                continue
            try:
                ok = c.evaluate(env) and ok
            except expr.ExprError as exc:
                broken.add(i)
                point = ", ".join(f"{k}={v!r}" for k, v in zip(names, combo, strict=True))
                ctx.error(("constraints", i), str(exc), f"at {point}" if point else "")
        accepted += ok
    if not broken and accepted == 0 and exp.search.method == "grid" and size:
        ctx.error(
            ("constraints",),
            f"the constraints reject all {size:,} grid points",
            "no trial would run",
        )


def check(ctx: Context) -> None:
    if not _check_ranges(ctx):
        return
    size = _check_grid(ctx)
    _check_search(ctx)
    _check_constraints(ctx, size)
