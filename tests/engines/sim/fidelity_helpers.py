"""genai-bench against the simulator, measured: shared by the fidelity test
(tests/engines/sim/test_sim_genai_bench.py) and the figures scripts/bench_fidelity.py prints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.sim_helpers import SimServer, make_catalog, make_tokenizer, sim_env

GENAI_BENCH = Path(sys.executable).parent / "genai-bench"
# 70B on 4 x L40S: ~55 ms per token; 32-token prefill chunks make TTFT ~0.2 s. Both are large
# next to genai-bench's own client overhead (a new HTTP session per request: ~5-12 ms here).
SIM_ARGS = ["--model-path", "meta-llama/Llama-3.1-70B-Instruct", "--gpu-type", "L40S",
            "--tp-size", "4", "--chunked-prefill-size", "32", "--served-model-name", "sim-llama"]
REQUESTS = 4
TOLERANCE = 0.10  # measured vs modelled, wall clock: printed by scripts/bench_fidelity.py


def mean_of(values):
    """The mean of the values that are there (a record may lack one: None)."""
    values = [v for v in values if v is not None]
    return sum(values) / len(values)


def measure(tmp_path: Path) -> tuple[dict[int, dict], dict[int, list[dict]], str]:
    """Run genai-bench against the simulator: genai-bench's aggregated metrics per
    concurrency, the simulator's own per-request records (model time) per concurrency, and
    genai-bench's output (for failure messages). Shared with scripts/bench_fidelity.py."""
    tokenizer = make_tokenizer(tmp_path / "tok")
    env = sim_env(make_catalog(tmp_path / "sglang.json"), tokenizer)
    assert GENAI_BENCH.exists(), f"genai-bench is not installed next to {sys.executable}"
    with SimServer(SIM_ARGS, env, tmp_path / "sim.log") as srv:
        srv.wait_healthy()
        bench_env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                     "ENABLE_UI": "false"}
        proc = subprocess.run([
            str(GENAI_BENCH), "benchmark", "--api-backend", "sglang", "--api-base", srv.base,
            "--api-key", "none", "--api-model-name", "sim-llama",
            "--model-tokenizer", str(tokenizer), "--task", "text-to-text",
            "--traffic-scenario", "D(100,100)", "--num-concurrency", "1",
            "--num-concurrency", "8", "--max-time-per-run", "1",
            "--max-requests-per-run", str(REQUESTS),
            "--server-engine", "SGLang", "--server-version", "sim", "--server-gpu-type", "H100",
            "--server-gpu-count", "1", "--experiment-base-dir", str(tmp_path / "exp"),
            "--experiment-folder-name", "fidelity",
        ], env=bench_env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
        output = proc.stdout[-3000:] + proc.stderr[-3000:]
        assert proc.returncode == 0, output
        with urllib.request.urlopen(srv.base + "/sim/requests", timeout=60) as r:
            records = json.load(r)["requests"]
    runs = {}
    for path in (tmp_path / "exp" / "fidelity").glob("*_num_concurrency_*.json"):
        agg = json.loads(path.read_text())["aggregated_metrics"]
        runs[agg["num_concurrency"]] = agg
    modelled = {
        1: [r for r in records if r["peak_in_system"] == 1],
        8: [r for r in records if r["peak_in_system"] > 1],
    }
    return runs, modelled, output
