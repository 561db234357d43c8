"""genai-bench driving: the command we build, the results we read, the failures we report."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from tuneops.runner import bench

from tests.helpers.openai_stub_server import serve, tiny_tokenizer
from tests.paths import TESTS
from tuneops.metrics import LATENCIES, STATS
from tuneops.spec import from_document

FIXTURES = TESTS / "fixtures" / "genai_bench"
OK_SCENARIOS = ["D(20,10)", "N(30,5)/(8,2)", "U(10,30)/(4,12)"]


def make_exp(engine="sglang", gpu_type="H100", scenarios=None, levels=None, tokenizer=None,
             **bench_extra):
    return from_document({
        "metadata": {"name": "bench-test"},
        "model": {"id": "org/model", "servedName": "served-model",
                  "tokenizer": tokenizer or "org/model"},
        "engine": {"name": engine, "version": "0.5.23"},
        "deployment": {"mode": "local", "gpus": {"count": 1, "type": gpu_type}},
        "benchmark": {"trafficScenarios": scenarios or ["D(100,100)", "N(480,240)/(300,150)"],
                      "concurrency": levels or [1, 4, 16], "maxTimePerRun": 2,
                      "maxRequestsPerRun": 50, **bench_extra},
        "objective": {"metric": "output_throughput_per_gpu"},
    })


def flag_values(cmd: list[str], flag: str) -> list[str]:
    return [cmd[i + 1] for i, a in enumerate(cmd) if a == flag]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory) -> Path:
    return tiny_tokenizer(tmp_path_factory.mktemp("tok") / "tokenizer")


# ---------------------------------------------------------------- command


def test_command_has_every_scenario_and_level_and_minutes(tmp_path):
    exp = make_exp()
    cmd = bench.build_command(exp, "http://127.0.0.1:1234/", tmp_path, gpu_count=2)
    assert cmd[1] == "benchmark"
    assert flag_values(cmd, "--traffic-scenario") == ["D(100,100)", "N(480,240)/(300,150)"]
    assert flag_values(cmd, "--num-concurrency") == ["1", "4", "16"]
    assert flag_values(cmd, "--max-time-per-run") == ["2"]  # minutes, not 120 seconds
    assert flag_values(cmd, "--max-requests-per-run") == ["50"]
    assert flag_values(cmd, "--api-backend") == ["sglang"]
    assert flag_values(cmd, "--api-base") == ["http://127.0.0.1:1234"]
    assert flag_values(cmd, "--api-model-name") == ["served-model"]
    assert flag_values(cmd, "--server-engine") == ["SGLang"]
    assert flag_values(cmd, "--server-version") == ["0.5.23"]
    assert flag_values(cmd, "--server-gpu-type") == ["H100"]
    assert flag_values(cmd, "--server-gpu-count") == ["2"]
    assert flag_values(cmd, "--experiment-base-dir") == [str(tmp_path.resolve())]
    assert flag_values(cmd, "--experiment-folder-name") == [bench.RESULTS_FOLDER]


_PARSE = """
import json, sys
from genai_bench.cli.cli import benchmark
for argv in json.loads(sys.stdin.read()):
    ctx = benchmark.make_context("benchmark", argv)
    p = ctx.params
    print(json.dumps([p["max_time_per_run"], list(p["num_concurrency"]),
                      p["additional_request_params"], p["server_gpu_type"], p["api_backend"]]))
"""


@pytest.mark.genai_bench
def test_command_is_accepted_by_genai_bench_parser(tmp_path, tokenizer):
    """genai-bench's own click parser (choices, callbacks) takes our argv as-is. In a child
    process: importing genai-bench's CLI monkey-patches the interpreter with gevent."""
    cases = (("sglang", "H100"), ("llamacpp", "cpu"), ("vllm", "A100"), ("sim", "h200"))
    argvs = []
    for engine, gpu_type in cases:
        exp = make_exp(engine, gpu_type, tokenizer=str(tokenizer),
                       additionalRequestParams={"temperature": 0.5})
        argvs.append(bench.build_command(exp, "http://127.0.0.1:9", tmp_path, gpu_count=1)[2:])
    done = subprocess.run([sys.executable, "-c", _PARSE], input=json.dumps(argvs), text=True,
                          capture_output=True, env=bench.bench_env(), timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    parsed = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("[")]
    assert [p[3] for p in parsed] == ["H100", None, None, "H200"]
    assert [p[4] for p in parsed] == ["sglang", "vllm", "vllm", "sglang"]
    for minutes, levels, params, _, _ in parsed:
        assert minutes == 2 and levels == [1, 4, 16] and params["temperature"] == 0.5


def test_unaccepted_gpu_type_is_mapped_or_omitted(tmp_path):
    assert bench.gpu_type_flag("h100") == "H100"
    assert bench.gpu_type_flag("A100-80GB") == "A100-80G"
    assert bench.gpu_type_flag("A100") is None  # ambiguous: genai-bench rejects it
    assert bench.gpu_type_flag("L40S") is None
    cpu = bench.build_command(make_exp(gpu_type="L40S"), "http://h:1", tmp_path, gpu_count=0)
    assert "--server-gpu-type" not in cpu and "--server-gpu-count" not in cpu


def test_llamacpp_gets_a_backend_that_sends_ignore_eos(tmp_path):
    cmd = bench.build_command(make_exp("llamacpp"), "http://h:1", tmp_path, gpu_count=1)
    # genai-bench's openai backend strips ignore_eos from every request; its vllm backend
    # adds it to each one (openai_user.py), so no extra request params are needed
    assert flag_values(cmd, "--api-backend") == ["vllm"]
    assert "--additional-request-params" not in cmd
    assert flag_values(cmd, "--server-engine") == ["LlamaCPP"]


def test_sglang_adds_no_params_genai_bench_already_sends(tmp_path):
    cmd = bench.build_command(make_exp("sglang"), "http://h:1", tmp_path, gpu_count=1)
    assert "--additional-request-params" not in cmd


def test_dataset_and_request_params(tmp_path):
    exp = make_exp(dataset="data/prompts.jsonl", additionalRequestParams={"top_p": 0.9})
    cmd = bench.build_command(exp, "http://h:1", tmp_path, gpu_count=1)
    assert flag_values(cmd, "--dataset-path") == ["data/prompts.jsonl"]
    assert json.loads(flag_values(cmd, "--additional-request-params")[0]) == {"top_p": 0.9}


def test_local_tokenizer_resolved_to_absolute_path(tmp_path, tokenizer, monkeypatch):
    exp_dir = tmp_path / "exp"
    (exp_dir / "tok").mkdir(parents=True)
    exp = make_exp(tokenizer="tok")
    object.__setattr__(exp, "source_file", str(exp_dir / "e.yaml"))
    assert bench.resolve_tokenizer(exp) == str((exp_dir / "tok").resolve())
    assert bench.resolve_tokenizer(make_exp(tokenizer="org/hub-id")) == "org/hub-id"


def test_offline_env_and_timeout():
    env = bench.bench_env({"PATH": "/bin"})
    assert env["HF_HUB_OFFLINE"] == "1" and env["TRANSFORMERS_OFFLINE"] == "1"
    assert env["ENABLE_UI"] == "false" and env["PATH"] == "/bin"
    exp = make_exp()  # 2 scenarios × 3 levels × 2 min
    assert bench.timeout_for(exp) >= 6 * 120
    assert bench.timeout_for(exp) < 6 * 120 + 600


# ---------------------------------------------------------------- parsing real outputs


def test_parse_every_scenario_and_level():
    out = bench.parse_results(FIXTURES / "ok", gpu_count=2)
    assert out.ok, out.reason
    assert sorted(out.metrics) == sorted(OK_SCENARIOS)
    for scenario in OK_SCENARIOS:
        assert sorted(out.metrics[scenario]) == [1, 2]
    raw = json.loads(next((FIXTURES / "ok").glob("D20_10_*_2_time_*.json")).read_text())
    agg = raw["aggregated_metrics"]
    got = out.metrics["D(20,10)"][2]
    assert got["ttft.p99"] == pytest.approx(agg["stats"]["ttft"]["p99"] * 1000)  # s → ms
    assert got["tpot.mean"] == pytest.approx(agg["stats"]["tpot"]["mean"] * 1000)
    assert got["output_throughput"] == pytest.approx(agg["mean_output_throughput_tokens_per_s"])
    assert got["output_throughput_per_gpu"] == pytest.approx(got["output_throughput"] / 2)
    assert got["total_throughput_per_gpu"] == pytest.approx(got["total_throughput"] / 2)
    assert got["requests_per_s"] == pytest.approx(agg["requests_per_second"])
    assert got["error_rate"] == 0.0
    for lat in LATENCIES:
        for stat in STATS:
            assert f"{lat}.{stat}" in got
    assert got["output_inference_speed.p50"] == pytest.approx(
        agg["stats"]["output_inference_speed"]["p50"])  # tokens/s, not converted


def test_parse_ms_results_not_scaled_again():
    out = bench.parse_results(FIXTURES / "ms")
    raw = json.loads(next((FIXTURES / "ms").glob("D20_*.json")).read_text())
    assert raw["_time_unit"] == "ms"
    got = out.metrics["D(20,10)"][1]["ttft.p50"]
    assert got == pytest.approx(raw["aggregated_metrics"]["stats"]["ttft"]["p50"])
    assert 1 < got < 1000  # milliseconds, like the seconds fixture after conversion


def test_error_rate_recomputed_from_counts():
    """genai-bench 0.0.5 writes error_rate 0 even when requests failed."""
    out = bench.parse_results(FIXTURES / "errors")
    raw = json.loads(next((FIXTURES / "errors").glob("D20_*.json")).read_text())
    agg = raw["aggregated_metrics"]
    assert agg["num_error_requests"] > 0 and agg["error_rate"] == 0
    got = out.metrics["D(20,10)"][2]
    assert got["error_rate"] == pytest.approx(
        agg["num_error_requests"] / (agg["num_error_requests"] + agg["num_completed_requests"]))
    assert got["errors.503"] == agg["error_codes_frequency"]["503"]


def test_debug_files_only_is_a_failure_with_reason():
    out = bench.parse_results(FIXTURES / "all_failed")
    assert not out.ok and not out.metrics
    assert "debug_for_run_D20_10_1.json" in out.reason


def test_missing_folder_and_corrupt_files_are_values(tmp_path):
    assert not bench.parse_results(tmp_path / "nope").ok
    (tmp_path / "D1_1_text-to-text_num_concurrency_1_time_1s.json").write_text("{not json")
    out = bench.parse_results(tmp_path)
    assert not out.ok and "unreadable" in out.reason


def test_all_errored_runs_are_a_failure(tmp_path):
    data = json.loads(next((FIXTURES / "errors").glob("D20_*.json")).read_text())
    data["aggregated_metrics"]["num_completed_requests"] = 0
    (tmp_path / "D20_10_x.json").write_text(json.dumps(data))
    out = bench.parse_results(tmp_path)
    assert not out.ok and "every request errored" in out.reason


def test_missing_runs_listed(tmp_path):
    shutil.copytree(FIXTURES / "ok", tmp_path / "r")
    out = bench.parse_results(tmp_path / "r", expected=[("D(20,10)", 1), ("D(20,10)", 64)])
    assert out.ok and out.missing == ["D(20,10)@64"]


# ---------------------------------------------------------------- real runs


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _short_exp(tokenizer: Path, scenarios=("D(20,10)", "N(30,5)/(8,2)"), levels=(1, 2)):
    return from_document({
        "metadata": {"name": "bench-real"},
        "model": {"id": "stub/stub-model", "servedName": "stub-model", "tokenizer": str(tokenizer)},
        "engine": {"name": "sglang", "version": "0.5.23"},
        "deployment": {"mode": "local", "gpus": {"count": 1, "type": "H100"}},
        "benchmark": {"trafficScenarios": list(scenarios), "concurrency": list(levels),
                      "maxTimePerRun": 1, "maxRequestsPerRun": 4},
        "objective": {"metric": "output_throughput_per_gpu"},
    })


@pytest.mark.genai_bench
def test_real_short_run_against_local_server(tmp_path, tokenizer):
    exp = _short_exp(tokenizer)
    with serve() as (url, state):
        assert bench.warmup(url, exp, 2) == 2
        n_warm = len(state.requests)
        outcome = bench.run(exp, url, tmp_path, gpu_count=1)
    assert outcome.ok, outcome.reason
    assert outcome.returncode == 0 and not outcome.missing
    assert n_warm == 2 and len(state.requests) > n_warm
    assert all(r["model"] == "stub-model" for r in state.requests)
    assert all(r.get("ignore_eos") is True for r in state.requests[n_warm:])
    assert sorted(outcome.metrics) == sorted(exp.benchmark.traffic_scenarios)
    for by_c in outcome.metrics.values():
        assert sorted(by_c) == [1, 2]
        assert all(v["output_throughput"] > 0 and v["ttft.p50"] > 0 for v in by_c.values())
    assert Path(outcome.log_path).read_text().startswith("$ ")


@pytest.mark.genai_bench
def test_no_server_listening_is_a_failure_with_reason(tmp_path, tokenizer):
    exp = _short_exp(tokenizer, scenarios=("D(20,10)",), levels=(1,))
    url = f"http://127.0.0.1:{_free_port()}"
    assert bench.warmup(url, exp, 1, timeout_s=2) == 0
    outcome = bench.run(exp, url, tmp_path, gpu_count=1)
    assert not outcome.ok and outcome.returncode == 1
    assert "exited with 1" in outcome.reason and "debug" in outcome.reason


@pytest.mark.genai_bench
def test_cancel_stops_the_process_group(tmp_path, tokenizer):
    exp = _short_exp(tokenizer, scenarios=("D(20,10)",), levels=(1,))
    cancel = threading.Event()
    with serve() as (url, _):
        cmd = bench.build_command(exp, url, tmp_path, gpu_count=1)
        proc = bench.BenchProcess(cmd, tmp_path)
        threading.Timer(3.0, cancel.set).start()
        rc, why = proc.wait(600, cancel)  # the deadline only bounds a hang
    assert why == "cancelled" and rc != 0
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.proc.pid, 0)  # nothing of the group is left


@pytest.mark.genai_bench
def test_timeout_is_a_failure(tmp_path, tokenizer):
    exp = _short_exp(tokenizer, scenarios=("D(20,10)",), levels=(1,))
    with serve() as (url, _):
        outcome = bench.run(exp, url, tmp_path, gpu_count=1, timeout_s=2)
    assert not outcome.ok and outcome.timed_out and "did not finish within 2s" in outcome.reason


def test_missing_executable_is_a_failure(tmp_path):
    out = bench.run_benchmark([str(tmp_path / "no-such-genai-bench")], tmp_path, 5)
    assert not out.ok and "could not start" in out.reason

