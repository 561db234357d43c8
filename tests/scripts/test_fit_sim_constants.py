"""scripts/fit_sim_constants.py's Jacobian: a fixed step in log(constant), so a constant that
starts at 1.0 (log 0, where scipy's relative step falls to ~1e-8) is fitted like any other.
The committed fit once left allreduce_scale at its start, 1.0, for exactly that reason."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
from scipy.optimize._numdiff import approx_derivative

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "fit_sim_constants.py"


def _script():
    spec = importlib.util.spec_from_file_location("fit_sim_constants", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def staircase(x: np.ndarray) -> np.ndarray:
    """Like a replay in virtual time: the result moves in 1 % quanta, not continuously."""
    return np.array([math.floor(100 * math.exp(v)) / 100 for v in x])


def test_a_constant_at_one_gets_its_slope_where_a_relative_step_sees_none():
    fit = _script()
    x = np.zeros(2)  # log(1.0): both constants start at 1.0, as allreduce_scale does
    hi = np.full(2, 3.0)
    jac = fit.forward_jacobian(staircase, x, staircase(x), hi)
    assert np.allclose(np.diag(jac), 1.0, atol=0.05)  # d exp(x) / dx at 0
    # what scipy's diff_step=0.05 (relative to x, so ~1e-8 here) sees: none or one jump
    relative = approx_derivative(staircase, x, rel_step=0.05, f0=staircase(x))
    assert not np.allclose(np.diag(relative), 1.0, atol=0.5)


def test_the_step_turns_back_at_the_upper_bound():
    fit = _script()
    seen = []

    def record(x: np.ndarray) -> np.ndarray:
        seen.append(np.array(x))
        return staircase(x)

    x = np.array([0.0, 0.99])
    hi = np.array([3.0, 1.0])
    jac = fit.forward_jacobian(record, x, staircase(x), hi)
    assert all((v <= hi).all() for v in seen)
    assert seen[1][1] == x[1] - fit.STEP
    assert jac[1, 1] > 0
