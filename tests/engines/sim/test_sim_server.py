"""``python -m tuneops.engines.sim`` end to end: flags, start-up failures, the OpenAI API,
metrics."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import urllib.request

import pytest
import tokenizers

from tests.sim_helpers import REPO, SimServer, make_catalog, make_tokenizer, sim_env


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sim")
    return sim_env(make_catalog(tmp / "sglang.json"), make_tokenizer(tmp / "tok"))


@pytest.fixture(scope="module")
def server(env, tmp_path_factory):
    log = tmp_path_factory.mktemp("log") / "sim.log"
    with SimServer(["--model-path", "meta-llama/Llama-3.2-1B-Instruct", "--served-model-name",
                    "tiny", "--seed", "5", "--enable-metrics"], env, log) as srv:
        srv.wait_healthy()
        yield srv


@pytest.fixture(scope="module")
def ref(env):
    return tokenizers.Tokenizer.from_file(env["TUNEOPS_SIM_TOKENIZER"] + "/tokenizer.json")


def run_sim(env, *args, timeout=30):
    argv = [sys.executable, "-m", "tuneops.engines.sim", "--time-scale", "0.001", *args]
    return subprocess.run(argv,
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def post(srv, path, body, stream=False):
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, data


def sse_events(data: bytes) -> list:
    events = []
    for line in data.decode().splitlines():
        if line.startswith("data: "):
            payload = line[6:]
            events.append(payload if payload == "[DONE]" else json.loads(payload))
    return events


def get_json(srv, path):
    with urllib.request.urlopen(srv.base + path, timeout=10) as r:
        return json.load(r)


# -- command line ------------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["--bogus-flag"], "unrecognized arguments: --bogus-flag"),
    (["--tp-size", "two"], "invalid int value: 'two'"),
    (["--schedule-policy", "nope"], "invalid choice: 'nope'"),
    (["--mem-fraction-static", "lots"], "invalid float value: 'lots'"),
    (["--gpu-type", "TPU"], "invalid choice: 'TPU'"),
])
def test_bad_flags_exit_2_like_argparse(env, args, message):
    proc = run_sim(env, "--model-path", "m", *args)
    assert proc.returncode == 2
    assert message in proc.stderr


def test_catalog_flags_parse_with_aliases_and_bare_booleans(env, monkeypatch):
    from tuneops.engines.sim import config

    monkeypatch.setenv("TUNEOPS_SIM_CATALOG", env["TUNEOPS_SIM_CATALOG"])
    ns = config.parse_args(["--model", "Qwen/Qwen2.5-7B-Instruct", "--tensor-parallel-size", "2",
                            "--disable-cuda-graph", "--trust-remote-code", "--gpu-type", "H20",
                            "--schedule-policy", "lpm", "--log-level", "warning"])
    assert ns.tp_size == 2 and ns.disable_cuda_graph is True and ns.trust_remote_code is True
    model = config.perf_model(ns)
    assert model.model.name == "Qwen2.5-7B" and model.gpu.name == "H20" and model.s.tp == 2
    assert model.s.disable_cuda_graph and model.s.schedule_policy == "lpm"


def test_too_high_mem_fraction_fails_at_start_with_oom(env):
    proc = run_sim(env, "--model-path", "meta-llama/Llama-3.1-8B", "--port", "1",
                   "--mem-fraction-static", "0.99")
    assert proc.returncode != 0
    assert "CUDA out of memory" in proc.stdout
    assert "ready to roll" not in proc.stdout


def test_weights_larger_than_the_gpu_fail_at_load(env):
    proc = run_sim(env, "--model-path", "meta-llama/Llama-3.1-70B-Instruct", "--port", "1")
    assert proc.returncode != 0
    assert "CUDA out of memory" in proc.stdout and "Load weight end" not in proc.stdout


def test_startup_log_says_simulated(server):
    log = server.log.read_text()
    assert "SIMULATED ENGINE" in log and "KV Cache is allocated" in log


# -- API ---------------------------------------------------------------------------------

def test_streaming_chat_reports_usage_that_matches_the_tokenizer(server, ref):
    prompt = "Shall I compare thee to a summer's day? Thou art more lovely and more temperate."
    status, data = post(server, "/v1/chat/completions", {
        "model": "tiny", "messages": [{"role": "user", "content": prompt}], "max_tokens": 20,
        "ignore_eos": True, "stream": True, "stream_options": {"include_usage": True}})
    assert status == 200
    events = sse_events(data)
    assert events[-1] == "[DONE]"
    chunks, usage = events[:-2], events[-2]
    assert all(e["simulated"] is True for e in events[:-1])
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == 20
    assert usage["usage"]["prompt_tokens"] == len(ref.encode(prompt, add_special_tokens=False))
    assert len(ref.encode(text, add_special_tokens=False).ids) == 20
    assert sum(1 for c in chunks if c["choices"][0]["delta"].get("content")) == 20


def test_non_streaming_completion_is_deterministic_for_a_seed(server, ref):
    body = {"model": "tiny", "prompt": "Once upon a time", "max_tokens": 12, "ignore_eos": True}
    (s1, d1), (s2, d2) = post(server, "/v1/completions", body), post(server, "/v1/completions",
                                                                     body)
    assert s1 == s2 == 200
    a, b = json.loads(d1), json.loads(d2)
    assert a["simulated"] is True and a["object"] == "text_completion"
    assert a["choices"][0]["text"] == b["choices"][0]["text"]
    n_prompt = len(ref.encode("Once upon a time", add_special_tokens=False).ids)
    assert a["usage"] == {"prompt_tokens": n_prompt, "completion_tokens": 12,
                          "total_tokens": n_prompt + 12}
    assert len(ref.encode(a["choices"][0]["text"]).ids) == 12


def test_stop_sequence_ends_generation_early(server):
    body = {"model": "tiny", "prompt": "Once upon a time", "max_tokens": 40, "ignore_eos": True}
    full = json.loads(post(server, "/v1/completions", body)[1])["choices"][0]["text"]
    stop = full.split()[5]
    status, data = post(server, "/v1/completions", {**body, "stop": [" " + stop]})
    out = json.loads(data)
    assert status == 200 and out["choices"][0]["finish_reason"] == "stop"
    assert out["choices"][0]["text"] == full[:full.index(" " + stop)]
    assert out["usage"]["completion_tokens"] < 40


def test_without_ignore_eos_outputs_stop_on_their_own(server):
    lengths = set()
    for i in range(6):
        body = {"model": "tiny", "messages": [{"role": "user", "content": f"q{i}"}],
                "max_tokens": 4000}
        out = json.loads(post(server, "/v1/chat/completions", body)[1])
        assert out["choices"][0]["finish_reason"] == "stop"
        lengths.add(out["usage"]["completion_tokens"])
    assert len(lengths) > 1 and max(lengths) < 4000


def test_keep_alive_serves_several_requests_on_one_connection(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    for _ in range(3):
        conn.request("POST", "/v1/chat/completions", json.dumps({
            "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3, "stream": True}))
        resp = conn.getresponse()
        assert resp.status == 200 and resp.getheader("Transfer-Encoding") == "chunked"
        assert sse_events(resp.read())[-1] == "[DONE]"
    conn.close()


def test_bad_requests_get_openai_errors(server):
    status, data = post(server, "/v1/chat/completions", {"messages": []})
    assert status == 400 and json.loads(data)["simulated"] is True
    status, _ = post(server, "/v1/completions", {"prompt": "x" * 10, "max_tokens": -1})
    assert status == 400
    status, data = post(server, "/v1/completions", {"prompt": list(range(200_000))})
    assert status == 400 and "context length" in json.loads(data)["message"]


def test_models_health_info_and_metrics(server):
    # a request of its own: the counters must not depend on which tests ran before
    status, _ = post(server, "/v1/completions", {"model": "tiny", "prompt": "hello",
                                                 "max_tokens": 4})
    assert status == 200
    models = get_json(server, "/v1/models")
    assert models["data"][0]["id"] == "tiny" and models["simulated"] is True
    with urllib.request.urlopen(server.base + "/health_generate", timeout=10) as r:
        assert r.status == 200
    info = get_json(server, "/get_server_info")
    assert info["simulated"] is True and info["tp_size"] == 1
    assert info["max_total_num_tokens"] == info["memory_plan"]["max_total_tokens"] > 0
    assert info["sim_model"] == "Llama-3.2-1B" and info["gpu_type"] == "H100"
    with urllib.request.urlopen(server.base + "/metrics", timeout=10) as r:
        text = r.read().decode()
    values = {line.split("{")[0].split(" ")[0]: float(line.rsplit(" ", 1)[1])
              for line in text.splitlines() if line and not line.startswith("#")}
    assert values["tuneops_sim_simulated"] == 1
    assert values["sglang:prompt_tokens_total"] > 0 and values["sglang:generation_tokens_total"] > 0
    for name in ("sglang:num_running_reqs", "sglang:num_queue_reqs", "sglang:token_usage"):
        assert name in values
    records = get_json(server, "/sim/requests")["requests"]
    assert records and all(r["modelled_ttft_s"] > 0 for r in records)
