"""A request trace replayed at its own timestamps by the real AIPerf (its fixed schedule,
runner/loadgen/aiperf.py build_trace_command) against the simulator, through the rate
runner (runner/loadgen/rate.py): every row is sent once, with its own input length, at the
trace's rate, and the point carries goodput from AIPerf's per-request export. The one test
here that starts AIPerf; the conversion and the checks are unit-tested beside it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tuneops.runner.loadgen import aiperf, rate, venv

from tests.sim_helpers import SimServer, make_catalog, make_tokenizer, sim_env
from tuneops import spec
from tuneops.metrics import ACHIEVED_RATE, OFFERED_RATE
from tuneops.metrics.goodput import GOOD_FRACTION, GOODPUT_REQUESTS
from tuneops.workloads import mean_rate, read_trace

pytestmark = [pytest.mark.slow]

# 24 requests over 4.6 s: a burst of 8 at t=0, then one every 0.3 s, then a burst of 4
ROWS = ([(0.0, 16 + i, 4) for i in range(8)]
        + [(0.3 * k, 40 + k, 6) for k in range(1, 13)]
        + [(4.6, 90 + i, 2) for i in range(4)])


def experiment(tokenizer: Path, trace: Path) -> spec.Experiment:
    return spec.from_document({
        "apiVersion": "tuneops/v1", "kind": "Experiment",
        "metadata": {"name": "trace"},
        "model": {"id": "org/m", "servedName": "sim-llama", "tokenizer": str(tokenizer)},
        "engine": {"name": "sim", "version": "0.5.23"},
        "deployment": {"mode": "local", "gpus": {"count": 1, "type": "H100"}},
        "benchmark": {"trafficScenarios": ["trace"], "trace": str(trace),
                      "load": {"type": "trace"}},
        "objective": {"metric": "goodput_requests_per_s"},
        "slos": [{"metric": "ttft", "max": 60000, "perRequest": True}],
    })


def test_a_trace_is_replayed_at_its_timestamps(tmp_path):
    assert venv.ready(), venv.missing_message()  # `make test` builds it (loadgen-venvs)
    trace = tmp_path / "trace.jsonl"
    trace.write_text("".join(json.dumps({"timestamp": t, "input_tokens": i,
                                         "output_tokens": o}) + "\n" for t, i, o in ROWS))
    offered = round(mean_rate(read_trace(trace)[0]), 6)
    tokenizer = make_tokenizer(tmp_path / "tok")
    env = sim_env(make_catalog(tmp_path / "sglang.json"), tokenizer)
    with SimServer(["--model-path", "meta-llama/Llama-3.2-1B-Instruct", "--served-model-name",
                    "sim-llama", "--gpu-type", "H100"], env, tmp_path / "sim.log") as srv:
        srv.wait_healthy()
        outcome = rate.run(experiment(tokenizer, trace), srv.base, tmp_path / "out",
                           gpu_count=1)
    assert outcome.ok, (outcome.reason, outcome.not_run)
    point = outcome.metrics["trace"][offered]
    assert point["num_completed_requests"] == len(ROWS)
    assert point[OFFERED_RATE] == offered
    # AIPerf kept the schedule: its own send times span the trace's 4.6 s
    assert point[ACHIEVED_RATE] == pytest.approx(offered, rel=0.05)
    # every row was sent once, with its own prompt length
    folder = Path(outcome.files[0]).parent
    sent = [json.loads(line) for line in (folder / aiperf.RECORDS).read_text().splitlines()]
    assert sorted(r["metrics"]["input_sequence_length"]["value"] for r in sent) == \
        sorted(i for _, i, _ in ROWS)
    assert point[GOOD_FRACTION] == 1.0 and point[GOODPUT_REQUESTS] > 0
