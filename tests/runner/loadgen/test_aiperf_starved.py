"""A load generator starved of CPU is detected and flagged, with the real AIPerf against the
simulator: AIPerf is pinned to one core, and once it is profiling, a busy loop is started
on that same core at a higher priority. The point's achieved rate (from AIPerf's own send
times) falls short of the offered one, so it would never be scored as the server's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from tuneops.runner.bench.process import BenchProcess
from tuneops.runner.loadgen import aiperf, venv

from tests.helpers.polling import wait_until
from tests.sim_helpers import SimServer, make_catalog, make_tokenizer, sim_env
from tuneops import spec

pytestmark = [pytest.mark.slow]

RATE = 150.0  # req/s, constant gaps: an unstarved AIPerf keeps this up easily


def experiment(tokenizer: Path) -> spec.Experiment:
    return spec.from_document({
        "apiVersion": "tuneops/v1", "kind": "Experiment",
        "metadata": {"name": "starved"},
        "model": {"id": "org/m", "servedName": "sim-llama", "tokenizer": str(tokenizer)},
        "engine": {"name": "sim", "version": "0.5.23"},
        "deployment": {"mode": "local", "gpus": {"count": 1, "type": "H100"}},
        "benchmark": {"trafficScenarios": ["D(8,2)"],
                      "load": {"type": "rate", "rates": [RATE], "arrival": "constant",
                               "requests": 900}},
        "objective": {"metric": "output_throughput"},
    })


def test_a_starved_generator_is_flagged(tmp_path):
    assert venv.ready(), venv.missing_message()  # `make test` builds it (loadgen-venvs)
    tokenizer = make_tokenizer(tmp_path / "tok")
    env = sim_env(make_catalog(tmp_path / "sglang.json"), tokenizer)
    core = sorted(os.sched_getaffinity(0))[0]
    with SimServer(["--model-path", "meta-llama/Llama-3.2-1B-Instruct", "--served-model-name",
                    "sim-llama", "--gpu-type", "H100"], env, tmp_path / "sim.log") as srv:
        srv.wait_healthy()
        exp = experiment(tokenizer)
        out = tmp_path / "point"
        cmd = aiperf.build_command(exp, srv.base, out, scenario="D(8,2)", rate=RATE,
                                   aiperf=str(venv.executable()), tokenizer=str(tokenizer))
        proc = BenchProcess(["nice", "-n", "10", *cmd], out, aiperf.env(), cpus=[core])
        hog = None
        try:
            wait_until(lambda: "is PROFILING" in proc.log_path.read_text(errors="replace"),
                       timeout=300, interval=0.2)
            hog = subprocess.Popen(  # a busy loop on AIPerf's core, at normal priority
                [sys.executable, "-c", f"import os; os.sched_setaffinity(0, {{{core}}})\n"
                 "while True: pass"])
            rc, why = proc.wait(600)
        finally:
            if hog is not None:
                hog.kill()
                hog.wait()
            proc.terminate()
        assert (rc, why) == (0, ""), proc.log_path.read_text(errors="replace")[-2000:]
    point = aiperf.read_point(out, exp.benchmark.load, RATE)
    assert point.ok
    assert point.behind, point.metrics.get("achieved_rate")
    assert point.metrics["achieved_rate"] < RATE * 0.95
