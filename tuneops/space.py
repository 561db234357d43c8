"""Expand a parameter space into concrete points, in one deterministic order.

Grid order is the order parameters appear in the experiment, last one fastest (like
nested loops), so the trial table reads like the YAML. Constraints are applied as points
are produced, so a 5,000-point grid never materialises rejected points twice.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from fractions import Fraction
from typing import Any

from tuneops.spec import Param

MAX_GRID_POINTS = 100_000


def _round(x: float) -> float:
    return float(f"{x:.12g}")


def values_of(param: Param) -> tuple[Any, ...]:
    """The finite values a parameter takes in a grid (ranges need a step, or are ints)."""
    if param.kind in ("values", "bool"):
        return tuple(param.values or ())
    low, high = param.low, param.high
    if param.kind == "int":
        step = int(param.step or 1)
        if param.log and param.step is None:
            if low <= 0:
                raise ValueError(f"{param.name}: a log range needs low > 0")
            out, v = [], int(low)
            while v <= high:
                out.append(v)
                v *= 2
            return tuple(out)
        return tuple(range(int(low), int(high) + 1, step))
    if param.step is None:
        raise ValueError(f"{param.name}: a float range needs a step to be gridded")
    n = int(math.floor((high - low) / param.step + 1e-9)) + 1
    return tuple(_round(low + i * param.step) for i in range(n))


def count_values(param: Param) -> int | None:
    """How many values `values_of` gives, without building them (None: a stepless float).

    Counting first keeps a typo such as `high: 1e12` from materialising a huge tuple.
    """
    if param.kind in ("values", "bool"):
        return len(param.values or ())
    low, high = param.low, param.high
    if param.kind == "int":
        if param.log and param.step is None:
            if low <= 0:
                return None
            return max(0, int(math.floor(math.log2(high / int(low)) + 1e-9)) + 1)
        return max(0, (int(high) - int(low)) // int(param.step or 1) + 1)
    if param.step is None:
        return None
    ratio = (high - low) / param.step
    if not math.isfinite(ratio):  # 1e300 / 1e-300: count exactly instead of overflowing
        ratio = (Fraction(high) - Fraction(low)) / Fraction(param.step)
        return max(0, math.floor(ratio) + 1)
    return max(0, int(math.floor(ratio + 1e-9)) + 1)


def grid_size(params: Sequence[Param]) -> int:
    """Points in the full grid before constraints (float ranges without step count as 0)."""
    size = 1
    for p in params:
        n = count_values(p)
        if n is None:
            return 0
        size *= n
    return size


def grid(params: Sequence[Param], accept=None) -> Iterator[dict[str, Any]]:
    """Every point of the grid, in experiment order, that `accept(point)` allows."""
    names = [p.name for p in params]
    for combo in itertools.product(*(values_of(p) for p in params)):
        point = dict(zip(names, combo, strict=True))
        if accept is None or accept(point):
            yield point
