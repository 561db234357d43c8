"""The one way a test waits: poll a condition until it holds or a deadline passes.

Tests never sleep a fixed time and never assert on the clock (the machine is shared: a
loaded host makes any fixed wait too short and any timed assert flaky). A deadline only
bounds a hang; the condition decides.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(condition: Callable[[], T], timeout: float = 30.0, interval: float = 0.02,
               what: str = "the condition") -> T:
    """`condition()`'s first truthy value, polled every `interval` s; AssertionError naming
    `what` when `timeout` s pass first."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} did not hold within {timeout:g} s")
        time.sleep(interval)


def stays_false(condition: Callable[[], object], checks: int = 5,
                interval: float = 0.02) -> bool:
    """True when `condition()` is falsy on each of `checks` polls: evidence that something
    has not happened (yet), never a proof by waiting long enough."""
    for _ in range(checks):
        if condition():
            return False
        time.sleep(interval)
    return True
