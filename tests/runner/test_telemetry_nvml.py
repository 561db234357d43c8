"""NVML per measurement: read where it can be, "not measured" with the reason otherwise;
energy from power over time, per output token. (No GPU on the project's machines: the
reading itself is exercised by the real NVML library failing here, the arithmetic by
samples.)"""

from __future__ import annotations

import pytest
from tuneops.runner.telemetry import nvml


def test_no_gpu_or_no_driver_is_not_measured_with_why():
    sample, why = nvml.reader(())
    assert sample is None and why == "no GPU assigned to the trial"
    sample, why = nvml.reader(("0",))  # this machine has no NVIDIA driver
    assert sample is None and why.startswith("NVML cannot read the GPUs")
    assert nvml.summarize([], why, 1000.0) == {"not_measured": why}


def test_energy_per_output_token_from_power_samples():
    samples = [(0.0, {"gpu_utilization": 0.5, "gpu_memory_used": 70.0, "gpu_power": 300.0}),
               (1.0, {"gpu_utilization": 1.0, "gpu_memory_used": 71.0, "gpu_power": 500.0}),
               (3.0, {"gpu_utilization": 0.9, "gpu_memory_used": 71.0, "gpu_power": 500.0})]
    out = nvml.summarize(samples, "", 2000.0)
    assert out["energy_j"] == pytest.approx(400.0 + 1000.0)  # trapezoids: 1 s + 2 s
    assert out["energy_per_output_token_j"] == pytest.approx(0.7)
    assert out["gpu_utilization"]["max"] == 1.0 and out["gpu_memory_used"]["n"] == 3


def test_power_unreadable_leaves_energy_not_measured():
    samples = [(0.0, {"gpu_utilization": 0.5, "gpu_memory_used": 1.0}),
               (1.0, {"gpu_utilization": 0.6, "gpu_memory_used": 1.0})]
    out = nvml.summarize(samples, "", 100.0)
    assert out["energy_j"] == "not measured" and "gpu_power" not in out
