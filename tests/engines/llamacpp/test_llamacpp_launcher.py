"""``python -m tuneops.engines.llamacpp`` serves a real llama.cpp over HTTP and stops cleanly.

Every test runs the real launcher as a subprocess on 127.0.0.1 with the tiny generated
model; nothing in xllamacpp is replaced.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.helpers.polling import wait_until
from tests.paths import ROOT

REPO = ROOT
TOKENIZER = REPO / "assets" / "tokenizer"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    spec = importlib.util.spec_from_file_location("make_model", REPO / "scripts/make_model.py")
    mm = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mm
    spec.loader.exec_module(mm)
    path, _ = mm.ensure(tmp_path_factory.mktemp("gguf") / "tiny.gguf", "tiny")
    return path


def _launch(args: list[str], log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "tuneops.engines.llamacpp", *args],
                            cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=open(log, "w"))


def _get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def _post(url: str, body: dict, timeout: float = 60.0):
    req = urllib.request.Request(url, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    return urllib.request.urlopen(req, timeout=timeout)


def _wait_healthy(proc: subprocess.Popen, base: str, log: Path, timeout: float = 60) -> int:
    def healthy() -> int | None:
        if proc.poll() is not None:
            pytest.fail(f"launcher exited {proc.returncode}: {log.read_text()[-3000:]}")
        try:
            status, _ = _get(base + "/health", timeout=1)
        except OSError:
            return None
        return status if status == 200 else None

    try:
        return wait_until(healthy, timeout, 0.1, "the launcher's /health")
    except AssertionError as exc:
        pytest.fail(f"{exc}: {log.read_text()[-3000:]}")


@contextlib.contextmanager
def _serving(model, log_dir: Path):
    port = _free_port()
    log = log_dir / "llamacpp.log"
    proc = _launch(["--model", str(model), "--host", "127.0.0.1", "--port", str(port),
                    "--alias", "tiny-llama", "-np", "2", "-c", "2048", "-t", "2", "-lv", "2"],
                   log)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(proc, base, log)
        yield proc, base, port, log
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


@pytest.fixture(scope="module")
def server(model, tmp_path_factory):
    """One server the read-only tests share (in any order: none of them stops it)."""
    with _serving(model, tmp_path_factory.mktemp("log")) as served:
        yield served


def test_health_and_models_list_the_alias(server):
    _, base, _, _ = server
    assert _get(base + "/health")[0] == 200
    status, body = _get(base + "/v1/models")
    assert status == 200
    assert "tiny-llama" in [m["id"] for m in json.loads(body)["data"]]


def test_streamed_chat_returns_exactly_max_tokens_with_usage(server):
    _, base, _, _ = server
    body = {"model": "tiny-llama", "messages": [{"role": "user", "content": "Hello there"}],
            "max_tokens": 16, "ignore_eos": True, "stream": True,
            "stream_options": {"include_usage": True}}
    chunks, usage = [], None
    with _post(base + "/v1/chat/completions", body) as resp:
        assert resp.headers.get_content_type() == "text/event-stream"
        for raw in resp:
            line = raw.decode().strip()
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            event = json.loads(line[6:])
            chunks.extend(c for c in event["choices"] if c["delta"].get("content"))
            usage = event.get("usage") or usage
    assert usage is not None
    assert usage["completion_tokens"] == 16
    assert usage["prompt_tokens"] > 0
    assert chunks, "no streamed content"


def test_server_tokenizes_like_the_shared_tokenizer(server):
    """llama.cpp reads the embedded gpt2 vocab as genai-bench's tokenizer counts tokens."""
    from tokenizers import Tokenizer

    _, base, _, _ = server
    ref = Tokenizer.from_file(str(TOKENIZER / "tokenizer.json"))
    for text in ["Shall I compare thee to a summer's day?",
                 "  numbers 1234567 3.14 and naïve café, Straße 東京 🚀\n\tdef f(x): pass"]:
        with _post(base + "/tokenize", {"content": text, "add_special": False}) as resp:
            got = json.loads(resp.read())["tokens"]
        assert got == ref.encode(text, add_special_tokens=False).ids, text


def test_sigterm_stops_it_and_frees_the_port(model, tmp_path):
    with _serving(model, tmp_path) as (proc, _, port, log):  # its own: it is stopped here
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, log.read_text()[-3000:]
    assert "llamacpp: stopped" in log.read_text()
    assert not Path(f"/proc/{proc.pid}").exists()
    with socket.socket() as s:  # nothing is left listening
        assert s.connect_ex(("127.0.0.1", port)) != 0


def _run(args: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "tuneops.engines.llamacpp", *args],
                            cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(("args", "needle"), [
    (["-np", "0"], "--parallel/-np: 0 is out of range"),
    (["--ctx-size", "lots"], "--ctx-size/-c: invalid int value: 'lots'"),
    (["-ctk", "q4_K"], "--cache-type-k/-ctk: invalid choice: 'q4_K'"),
    (["--flash-attn", "maybe"], "--flash-attn/-fa: invalid choice: 'maybe'"),
    (["--poll", "101"], "--poll: 101 is out of range"),
    (["--defrag-thold", "0.1"], "unrecognized arguments: --defrag-thold"),
    (["--tp-size", "2"], "unrecognized arguments: --tp-size"),
])
def test_bad_flags_exit_2_naming_the_flag(model, args, needle):
    out = _run(["--model", str(model), "--port", str(_free_port()), *args])
    assert out.returncode == 2
    assert needle in out.stderr


def test_missing_model_flag_exits_2():
    out = _run(["--port", "8080"])
    assert out.returncode == 2
    assert "--model/-m" in out.stderr


@pytest.mark.parametrize(("args", "needle"), [
    (["-fa", "off", "-ctv", "q8_0"], "quantized V cache requires flash_attn"),
    (["-m", "/nonexistent/model.gguf"], "failed to open GGUF file"),
])
def test_config_llamacpp_rejects_exits_1_with_its_message(model, args, needle):
    out = _run(["--model", str(model), "--port", str(_free_port()), "-lv", "1", *args])
    assert out.returncode == 1
    assert needle in out.stderr
    assert "llama.cpp rejected the configuration" in out.stderr


def test_busy_port_is_an_infrastructure_failure(model):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        out = _run(["--model", str(model), "--port", str(port)])
    assert out.returncode == 75
    assert f"cannot listen on 127.0.0.1:{port}" in out.stderr
