"""The space a sampling search draws from: one value per parameter, with its steps and scale.

Grid search walks `tuneops.space`'s grid; random and Bayesian search sample the declared
ranges themselves (an int range is every step in it, a float range without a step is
continuous). Sampled values are snapped the same way everywhere, so the same point always
gets the same trial id.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from typing import Any

from tuneops.plan import make_trial
from tuneops.space import values_of
from tuneops.spec import Experiment, Param

ENUMERATE_LIMIT = 10_000  # finite spaces up to this many points are listed once, up front


def tidy(x: float) -> float:
    """Six significant digits: readable flags, and no float noise in trial ids."""
    return float(f"{x:.6g}")


def snap(param: Param, x: float) -> Any:
    """Put a raw draw on the parameter's lattice (step, int) inside [low, high]."""
    low, high = param.low, param.high
    if param.step:
        n = int(math.floor((high - low) / param.step + 1e-9))
        k = min(max(round((x - low) / param.step), 0), n)
        x = low + k * param.step
    if param.kind == "int":
        return int(round(x))
    x = float(f"{x:.12g}") if param.step else tidy(x)
    return min(max(x, low), high)


def finite_values(param: Param) -> tuple[Any, ...] | None:
    """Every value a sampled parameter can take, or None for a continuous range."""
    if param.kind in ("values", "bool"):
        return tuple(param.values or ())
    if param.kind == "int":
        step = int(param.step or 1)
        return tuple(range(int(param.low), int(param.high) + 1, step))
    if param.step is None:
        return None
    return values_of(param)


def sample_value(param: Param, rng: random.Random) -> Any:
    if param.kind in ("values", "bool"):
        return rng.choice(param.values)
    low, high = float(param.low), float(param.high)
    if param.kind == "int" and not param.log:
        return rng.randrange(int(low), int(high) + 1, int(param.step or 1))
    if param.kind == "int":  # log: each integer k gets the log-width of [k, k+1)
        x = math.floor(math.exp(rng.uniform(math.log(low), math.log(high + 1))))
        return snap(param, min(x, high))
    if param.log:
        return snap(param, math.exp(rng.uniform(math.log(low), math.log(high))))
    return snap(param, rng.uniform(low, high))


def sample_point(params: Sequence[Param], rng: random.Random) -> dict[str, Any]:
    return {p.name: sample_value(p, rng) for p in params}


def space_size(params: Sequence[Param]) -> int | None:
    size = 1
    for p in params:
        values = finite_values(p)
        if values is None:
            return None
        size *= len(values)
    return size


class FeasibleSet:
    """Every feasible point of a small finite space with its trial id, in a fixed order.

    Lets a sampler know when it has seen everything (rather than give up after failed
    draws) and pick an unseen point directly when draws keep hitting seen ones.
    """

    def __init__(self, exp: Experiment, accept: Callable[[dict], bool]) -> None:
        import itertools

        params = exp.parameters
        names = [p.name for p in params]
        self.points: list[tuple[str, dict[str, Any]]] = []
        for combo in itertools.product(*(finite_values(p) for p in params)):
            point = dict(zip(names, combo, strict=True))
            if accept(point):
                self.points.append((make_trial(exp, point, 0).id, point))
        self.ids = frozenset(i for i, _ in self.points)

    def __len__(self) -> int:
        return len(self.points)

    def unseen(self, seen: Callable[[str], bool]) -> list[dict[str, Any]]:
        return [point for tid, point in self.points if not seen(tid)]

    @classmethod
    def build(cls, exp: Experiment, accept: Callable[[dict], bool]) -> FeasibleSet | None:
        size = space_size(exp.parameters)
        if size is None or size > ENUMERATE_LIMIT:
            return None
        return cls(exp, accept)
