"""A tiny, real OpenAI-compatible streaming server for driving genai-bench in tests.

Stdlib only, 127.0.0.1 only. It answers `/health`, `/v1/models` and streaming (or not)
`/v1/chat/completions` with one chunk per output token, honouring `max_tokens` and
reporting `usage` the way SGLang does (a final chunk with empty `choices`), so
genai-bench measures TTFT/TPOT from real sockets. `fail_status` makes every completion
answer with that HTTP status, to produce a benchmark where everything errors.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class StubState:
    def __init__(self, model: str, token_delay_s: float, fail_status: int | None,
                 fail_every: int | None = None) -> None:
        self.model = model
        self.token_delay_s = token_delay_s
        self.fail_status = fail_status
        self.fail_every = fail_every
        self.lock = threading.Lock()
        self.requests: list[dict] = []  # every completion body received, for assertions


def _handler(state: StubState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # keep test output quiet
            pass

        def _json(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 - http.server naming
            if self.path == "/health":
                self._json(200, {"status": "ok"})
            elif self.path == "/v1/models":
                models = [{"id": state.model, "object": "model"}]
                self._json(200, {"object": "list", "data": models})
            else:
                self._json(404, {"error": {"message": "not found", "code": 404}})

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except json.JSONDecodeError:
                self._json(400, {"error": {"message": "bad json", "code": 400}})
                return
            if self.path not in ("/v1/chat/completions", "/v1/completions"):
                self._json(404, {"error": {"message": "not found", "code": 404}})
                return
            with state.lock:
                state.requests.append(body)
                n = len(state.requests)
            if state.fail_status and (not state.fail_every or n % state.fail_every == 0):
                self._json(state.fail_status, {"error": {"message": "stub failure",
                                                         "code": state.fail_status}})
                return
            prompt = json.dumps(body.get("messages") or body.get("prompt") or "")
            prompt_tokens = max(1, len(prompt) // 4)
            n_out = int(body.get("max_tokens") or 16)
            if not body.get("stream"):
                time.sleep(state.token_delay_s * n_out)
                self._json(200, {
                    "id": "stub", "object": "chat.completion", "model": state.model,
                    "choices": [{"index": 0, "finish_reason": "length",
                                 "message": {"role": "assistant", "content": "x " * n_out}}],
                    "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": n_out,
                              "total_tokens": prompt_tokens + n_out},
                })
                return
            self.send_response(200)
            # Chunked encoding: clients read each event as it comes (a body without a length
            # would be read to EOF in one piece, and every token would look instantaneous).
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                for i in range(n_out):
                    time.sleep(state.token_delay_s)
                    chunk = {"id": "stub", "object": "chat.completion.chunk", "model": state.model,
                             "choices": [{"index": 0, "delta": {"content": f"t{i} "},
                                          "finish_reason": "length" if i == n_out - 1 else None}]}
                    self._event(json.dumps(chunk))
                usage = {"id": "stub", "object": "chat.completion.chunk", "model": state.model,
                         "choices": [],
                         "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": n_out,
                                   "total_tokens": prompt_tokens + n_out}}
                self._event(json.dumps(usage))
                self._event("[DONE]")
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def _event(self, data: str) -> None:
            payload = f"data: {data}\n\n".encode()
            self.wfile.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
            self.wfile.flush()

    return Handler


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients dropping keep-alive connections is normal here, not worth a traceback


@contextmanager
def serve(
    model: str = "stub-model",
    token_delay_s: float = 0.005,
    fail_status: int | None = None,
    fail_every: int | None = None,
) -> Iterator[tuple[str, StubState]]:
    """Run the stub on a free 127.0.0.1 port for the `with` block; yields (base_url, state).

    `fail_status` with `fail_every=None` fails every completion; with `fail_every=k`, every
    k-th one.
    """
    state = StubState(model, token_delay_s, fail_status, fail_every)
    server = _QuietServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def tiny_tokenizer(folder: Path) -> Path:
    """Save a small byte-level BPE tokenizer (trained here, offline) that genai-bench can load."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    text = ["the quick brown fox jumps over the lazy dog " * 4, "lorem ipsum dolor sit amet"] * 50
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(text, trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<|eos|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|eos|>")
    folder.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(str(folder))
    return folder
