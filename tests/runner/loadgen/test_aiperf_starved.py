"""A load generator starved of CPU is detected and flagged, with the real AIPerf against the
simulator: AIPerf is pinned to one core, and once it is profiling, a busy loop is started
on that same core at a higher priority. The point's achieved rate (from AIPerf's own send
times) falls short of the offered one, so it would never be scored as the server's."""

from __future__ import annotations

import datetime
import os
import signal
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
                               "requests": 450}},
        "objective": {"metric": "output_throughput"},
    })


# The busy loop runs in AIPerf's own session: BenchProcess starts AIPerf in a new session,
# and with the kernel's autogroup scheduling (sched_autogroup_enabled) each session gets a
# fair share of a core whatever its processes' nice values. A busy loop in another session
# took only half of AIPerf's core, and half a core keeps 150 req/s. Inside the session, nice
# 10 against nice 0 leaves AIPerf about a tenth of it. The loop waits on a FIFO, released the
# moment AIPerf logs that it is profiling (no interpreter start-up then).
HOG = ("import os, sys\nos.sched_setaffinity(0, {int(sys.argv[2])})\n"
       "open(sys.argv[1], 'rb').read(1)\nwhile True: pass\n")
WRAP = 'python3 -c "$HOG" "$GO" "$CORE" & exec nice -n 10 "$@"'


def _sending_done(log: str) -> datetime.time | None:
    """When AIPerf logged that its profiling phase had sent every request (runner.py's
    'sending complete' NOTICE, HH:MM:SS.mmm local time)."""
    for line in log.splitlines():
        if "sending complete" in line:
            return datetime.datetime.strptime(line.split()[0], "%H:%M:%S.%f").time()
    return None


def _starved_point(tmp_path: Path, srv, tokenizer: Path, core: int):
    exp = experiment(tokenizer)
    out = tmp_path / "point"
    cmd = aiperf.build_command(exp, srv.base, out, scenario="D(8,2)", rate=RATE,
                               aiperf=str(venv.executable()), tokenizer=str(tokenizer))
    tmp_path.mkdir(parents=True, exist_ok=True)
    go = tmp_path / "go"
    os.mkfifo(go)
    env = {**aiperf.env(), "HOG": HOG, "GO": str(go), "CORE": str(core),
           "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    proc = BenchProcess(["sh", "-c", WRAP, "sh", *cmd], out, env, cpus=[core])
    try:
        wait_until(lambda: "is PROFILING" in proc.log_path.read_text(errors="replace"),
                   timeout=300, interval=0.05)
        with open(go, "wb") as release:  # the loop holds the FIFO open for reading
            release.write(b"x")
        released = datetime.datetime.now().time()
        rc, why = proc.wait(600)
    finally:
        proc.terminate()
        try:  # terminate() is done once AIPerf has exited; the busy loop is still there
            os.killpg(proc.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    log = proc.log_path.read_text(errors="replace")
    assert (rc, why) == (0, ""), log[-2000:]
    done = _sending_done(log)
    assert done is not None, log[-2000:]
    return exp, out, released < done


def test_a_starved_generator_is_flagged(tmp_path):
    """Up to three tries: a try whose busy loop was released only after AIPerf had sent
    everything did not starve it, so it proves nothing either way and is run again."""
    assert venv.ready(), venv.missing_message()  # `make test` builds it (loadgen-venvs)
    tokenizer = make_tokenizer(tmp_path / "tok")
    env = sim_env(make_catalog(tmp_path / "sglang.json"), tokenizer)
    core = sorted(os.sched_getaffinity(0))[0]
    with SimServer(["--model-path", "meta-llama/Llama-3.2-1B-Instruct", "--served-model-name",
                    "sim-llama", "--gpu-type", "H100"], env, tmp_path / "sim.log") as srv:
        srv.wait_healthy()
        for attempt in range(3):
            exp, out, overlapped = _starved_point(tmp_path / f"try{attempt}", srv, tokenizer,
                                                  core)
            if overlapped:
                break
        assert overlapped, "the busy loop never ran while AIPerf was sending"
    point = aiperf.read_point(out, exp.benchmark.load, RATE)
    assert point.ok
    assert point.behind, point.metrics.get("achieved_rate")
    assert point.metrics["achieved_rate"] < RATE * 0.95
