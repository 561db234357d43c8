"""Fidelity against the real load generator: genai-bench sees the timings the model predicts.

Runs ``genai-bench benchmark`` (offline, sglang backend, D(100,100), concurrency 1 and 8)
against the simulator and compares genai-bench's mean TTFT and TPOT with the simulator's own
modelled values: per request as the server timed them in model time (``/sim/requests``), and
at concurrency 1 also the closed-loop prediction (``tuneops.engines.sim.scheduler.closed_loop``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from tuneops.engines.sim import config
from tuneops.engines.sim.scheduler import closed_loop

from tests.sim_helpers import SimServer, make_catalog, make_tokenizer, sim_env

pytestmark = [pytest.mark.genai_bench, pytest.mark.slow]

GENAI_BENCH = Path(sys.executable).parent / "genai-bench"
# 70B on 4 x L40S: ~55 ms per token; 32-token prefill chunks make TTFT ~0.2 s. Both are large
# next to genai-bench's own client overhead (a new HTTP session per request: ~5-12 ms here).
SIM_ARGS = ["--model-path", "meta-llama/Llama-3.1-70B-Instruct", "--gpu-type", "L40S",
            "--tp-size", "4", "--chunked-prefill-size", "32", "--served-model-name", "sim-llama"]
REQUESTS = 4
TOLERANCE = 0.10


def _mean(values):
    values = [v for v in values if v is not None]
    return sum(values) / len(values)


@pytest.mark.skipif(not GENAI_BENCH.exists() and not shutil.which("genai-bench"),
                    reason="genai-bench is not installed (pip install -e .[bench])")
def test_genai_bench_measures_what_the_simulator_models(tmp_path):
    tokenizer = make_tokenizer(tmp_path / "tok")
    env = sim_env(make_catalog(tmp_path / "sglang.json"), tokenizer)
    exe = str(GENAI_BENCH) if GENAI_BENCH.exists() else shutil.which("genai-bench")
    with SimServer(SIM_ARGS, env, tmp_path / "sim.log") as srv:
        srv.wait_healthy()
        bench_env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                     "ENABLE_UI": "false"}
        proc = subprocess.run([
            exe, "benchmark", "--api-backend", "sglang", "--api-base", srv.base,
            "--api-key", "none", "--api-model-name", "sim-llama",
            "--model-tokenizer", str(tokenizer), "--task", "text-to-text",
            "--traffic-scenario", "D(100,100)", "--num-concurrency", "1",
            "--num-concurrency", "8", "--max-time-per-run", "1",
            "--max-requests-per-run", str(REQUESTS),
            "--server-engine", "SGLang", "--server-version", "sim", "--server-gpu-type", "H100",
            "--server-gpu-count", "1", "--experiment-base-dir", str(tmp_path / "exp"),
            "--experiment-folder-name", "fidelity",
        ], env=bench_env, capture_output=True, text=True, timeout=240, cwd=tmp_path)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        with urllib.request.urlopen(srv.base + "/sim/requests", timeout=10) as r:
            records = json.load(r)["requests"]

    runs = {}
    for path in (tmp_path / "exp" / "fidelity").glob("*_num_concurrency_*.json"):
        agg = json.loads(path.read_text())["aggregated_metrics"]
        runs[agg["num_concurrency"]] = agg
    assert set(runs) == {1, 8}

    modelled = {
        1: [r for r in records if r["peak_in_system"] == 1],
        8: [r for r in records if r["peak_in_system"] > 1],
    }
    model = config.perf_model_from_argv(SIM_ARGS)
    report = {}
    for c, agg in runs.items():
        assert agg["num_completed_requests"] >= REQUESTS and agg["error_rate"] == 0
        stats = agg["stats"]
        assert stats["num_output_tokens"]["mean"] == 100
        measured_ttft, measured_tpot = stats["ttft"]["mean"], stats["tpot"]["mean"]
        recs = modelled[c]
        assert len(recs) >= REQUESTS
        sim_ttft = _mean(r["modelled_ttft_s"] for r in recs)
        sim_tpot = _mean(r["modelled_tpot_s"] for r in recs)
        report[c] = dict(measured_ttft=measured_ttft, sim_ttft=sim_ttft,
                         measured_tpot=measured_tpot, sim_tpot=sim_tpot)
        assert measured_ttft == pytest.approx(sim_ttft, rel=TOLERANCE), report
        assert measured_tpot == pytest.approx(sim_tpot, rel=TOLERANCE), report
    prompt = round(runs[1]["stats"]["num_input_tokens"]["mean"])
    predicted = closed_loop(model, 1, prompt, 100, 4)
    report["predicted_c1"] = dict(ttft=predicted.mean_ttft, tpot=predicted.mean_tpot)
    print(json.dumps(report, indent=1))
    assert runs[1]["stats"]["ttft"]["mean"] == pytest.approx(predicted.mean_ttft, rel=TOLERANCE)
    assert runs[1]["stats"]["tpot"]["mean"] == pytest.approx(predicted.mean_tpot, rel=TOLERANCE)
