"""SGLang's HTTP surface: OpenAI chat/completions (streaming and not), health, info, metrics.

Every JSON object the simulator returns carries ``"simulated": true`` and the Prometheus
text carries ``tuneops_sim_simulated 1``, so no result can pass for a real measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import time
import uuid

from tuneops.engines.sim.http import HttpRequest, Response
from tuneops.engines.sim.perfmodel import PerfModel
from tuneops.engines.sim.runtime import Replica, Stats
from tuneops.engines.sim.scheduler import Request
from tuneops.engines.sim.tokens import Tokens

DUMPS = json.JSONEncoder(separators=(",", ":")).encode


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def error_body(status: int, message: str) -> dict:
    kind = {400: "BadRequestError", 401: "AuthenticationError", 404: "NotFoundError"}
    return {"object": "error", "message": message, "type": kind.get(status, "ServerError"),
            "param": None, "code": status, "simulated": True}


class Generation:
    """One request's output: decides its text up front, streams it as the scheduler advances."""

    def __init__(self, api: Api, req: Request, words: list[str], *, chat: bool, stream: bool,
                 include_usage: bool, stop: list[str], resp: Response) -> None:
        self.api, self.req, self.words = api, req, words
        self.chat, self.stream, self.include_usage = chat, stream, include_usage
        self.stop, self.resp = stop, resp
        self.sent = 0
        self._started = False
        self.text: list[str] = []
        self.finish_reason: str | None = None
        self.done = asyncio.get_running_loop().create_future()
        self.id = ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex[:24]
        self.created = int(time.time())
        kind = "chat.completion.chunk" if chat else "text_completion"
        head = (f'data: {{"id":"{self.id}","object":"{kind}","created":{self.created},'
                f'"model":{DUMPS(api.served_name)},"choices":[{{"index":0,')
        self._head = head.encode()
        self._first = b'"delta":{"role":"assistant","content":' if chat else b'"text":'
        self._next = b'"delta":{"content":' if chat else b'"text":'
        close = b"}" if chat else b""
        self._tail = close + b',"logprobs":null,"finish_reason":null}],"usage":null,' \
                               b'"simulated":true}\n\n'

    def on_tokens(self, req: Request, now: float) -> None:
        if self.finish_reason is not None:
            return
        k = min(req.generated, len(self.words))
        new = self.words[self.sent:k]
        finished = req.state == "done"
        if self.stop and new:
            before = "".join(self.text)
            joined = before + "".join(new)
            start = max(0, len(before) - max(map(len, self.stop)))
            hits = [i for i in (joined.find(s, start) for s in self.stop) if i >= 0]
            if hits:
                new = [joined[len(before):min(hits)]]
                self.finish_reason = "stop"
                req.finished = now
                self.api.abort(req)
                finished = True
        if not finished and k - self.sent < self.api.stream_interval:
            return
        self.sent = k
        self.text.extend(new)
        if self.stream and new and any(new):
            piece = "".join(new)
            first = self._next if self._started else self._first
            self._started = True
            self.resp.chunk(self._head + first + DUMPS(piece).encode() + self._tail)
        if finished:
            if self.finish_reason is None:
                self.finish_reason = "length" if req.generated >= req.max_new else "stop"
            self.finish()

    def usage(self) -> dict:
        return {"prompt_tokens": self.req.prompt_len, "completion_tokens": self.sent,
                "total_tokens": self.req.prompt_len + self.sent}

    def finish(self) -> None:
        if self.stream:
            delta = '"delta":{}' if self.chat else '"text":""'
            last = (f'data: {{"id":"{self.id}","object":"'
                    f'{"chat.completion.chunk" if self.chat else "text_completion"}",'
                    f'"created":{self.created},"model":{DUMPS(self.api.served_name)},'
                    f'"choices":[{{"index":0,{delta},"logprobs":null,'
                    f'"finish_reason":"{self.finish_reason}"}}],"usage":null,"simulated":true}}\n\n')
            out = last.encode()
            if self.include_usage:
                body = {"id": self.id, "object": "chat.completion.chunk" if self.chat
                        else "text_completion", "created": self.created,
                        "model": self.api.served_name, "choices": [], "usage": self.usage(),
                        "simulated": True}
                out += b"data: " + DUMPS(body).encode() + b"\n\n"
            self.resp.chunk(out + b"data: [DONE]\n\n")
            self.resp.end_stream()
        self.api.stats.record(self.req, self.finish_reason or "abort", self.sent)
        if not self.done.done():
            self.done.set_result(None)

    def body(self) -> dict:
        text = "".join(self.text)
        choice = {"index": 0, "logprobs": None, "finish_reason": self.finish_reason}
        if self.chat:
            choice["message"] = {"role": "assistant", "content": text}
        else:
            choice["text"] = text
        return {"id": self.id, "object": "chat.completion" if self.chat else "text_completion",
                "created": self.created, "model": self.api.served_name, "choices": [choice],
                "usage": self.usage(), "simulated": True}


class Api:
    def __init__(self, ns: argparse.Namespace, model: PerfModel, tokens: Tokens,
                 info: dict) -> None:
        self.ns, self.model, self.tokens, self.info = ns, model, tokens, info
        self.served_name = getattr(ns, "served_model_name", None) or ns.model_path
        self.seed = ns.seed if ns.seed is not None else (getattr(ns, "random_seed", None) or 0)
        self.stream_interval = model.s.stream_interval
        self.replicas = [Replica(model, self.seed + i) for i in range(max(1, model.s.dp))]
        self.stats = Stats()
        self.api_key = getattr(ns, "api_key", None)
        self.started = time.time()

    def start(self) -> list[asyncio.Task]:
        return [asyncio.ensure_future(r.run()) for r in self.replicas]

    def abort(self, req: Request) -> None:
        for rep in self.replicas:
            if req in rep.sched.waiting or req in rep.sched.running or rep.sched.chunked is req:
                rep.sched.abort(req)
                rep.wake.set()
        req.aborted = True

    def _replica(self) -> Replica:
        return min(self.replicas, key=lambda r: r.sched.in_system())

    # -- routing --------------------------------------------------------------------------

    async def handle(self, request: HttpRequest, resp: Response, reader) -> None:
        route = (request.method, request.path)
        try:
            if request.path.startswith("/v1/") and self.api_key:
                if request.headers.get("authorization", "") != f"Bearer {self.api_key}":
                    raise ApiError(401, "Invalid API key")
            if route == ("POST", "/v1/chat/completions"):
                await self.generate(request, resp, reader, chat=True)
            elif route == ("POST", "/v1/completions"):
                await self.generate(request, resp, reader, chat=False)
            elif route in (("GET", "/health"), ("HEAD", "/health")):
                resp.send(200, b"", "text/plain")
            elif route in (("GET", "/health_generate"), ("POST", "/health_generate")):
                await self.health_generate(resp)
            elif route == ("GET", "/v1/models"):
                resp.send(200, self.models())
            elif route in (("GET", "/get_server_info"), ("GET", "/server_info")):
                resp.send(200, self.server_info())
            elif route == ("GET", "/get_model_info"):
                resp.send(200, {"model_path": self.ns.model_path, "is_generation": True,
                                "tokenizer_path": str(self.tokens.path), "simulated": True})
            elif route == ("GET", "/metrics"):
                resp.send(200, self.metrics(), "text/plain; version=0.0.4")
            elif route == ("GET", "/sim/requests"):
                resp.send(200, {"simulated": True, "requests": list(self.stats.records)})
            else:
                raise ApiError(404, f"no route {request.method} {request.path}")
        except ApiError as exc:
            resp.send(exc.status, error_body(exc.status, str(exc)))

    def models(self) -> dict:
        return {"object": "list", "simulated": True, "data": [{
            "id": self.served_name, "object": "model", "created": int(self.started),
            "owned_by": "sglang", "root": self.served_name,
            "max_model_len": self.model.context_length, "simulated": True}]}

    async def health_generate(self, resp: Response) -> None:
        req = Request(1, 1, 1, asyncio.get_running_loop().time())
        waiter = _Waiter()
        req.sink = waiter
        self._replica().submit(req)
        await asyncio.wait_for(waiter.done, 20)
        resp.send(200, b"", "text/plain")

    # -- generation -----------------------------------------------------------------------

    def _parse(self, body: dict, chat: bool) -> tuple[int, str]:
        if chat:
            messages = body.get("messages")
            if not isinstance(messages, list) or not messages:
                raise ApiError(400, "'messages' must be a non-empty list")
            return self.tokens.count_messages(messages), json.dumps(messages, sort_keys=True)
        prompt = body.get("prompt")
        if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], (str, list)):
            prompt = prompt[0]
        if isinstance(prompt, str):
            return self.tokens.count(prompt), prompt
        if isinstance(prompt, list) and all(isinstance(t, int) for t in prompt) and prompt:
            return len(prompt), json.dumps(prompt)
        raise ApiError(400, "'prompt' must be a string or a list of token ids")

    async def generate(self, request: HttpRequest, resp: Response, reader, chat: bool) -> None:
        try:
            body = request.json()
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(400, f"invalid JSON body: {exc}") from None
        if not isinstance(body, dict):
            raise ApiError(400, "the body must be a JSON object")
        if body.get("n", 1) != 1:
            raise ApiError(400, "only n=1 is supported")
        prompt_len, key = self._parse(body, chat)
        limit = body.get("max_completion_tokens") if chat else None
        limit = limit if limit is not None else body.get("max_tokens")
        if limit is not None and (not isinstance(limit, int) or limit < 0):
            raise ApiError(400, "max_tokens must be a non-negative integer")
        replica = self._replica()
        why = replica.sched.check(prompt_len, limit or 1)
        if why:
            raise ApiError(400, why)
        max_new = self.model.context_length - prompt_len if limit is None else limit
        max_new = max(1, min(max_new, self.model.context_length - prompt_len))
        rng = self.tokens.rng(self.seed, key)
        if body.get("ignore_eos"):
            out_len = max_new
        else:
            mean = self.model.model.mean_output_tokens
            out_len = max(1, min(max_new, int(rng.lognormvariate(math.log(mean) - 0.125, 0.5))))
        stop = body.get("stop") or []
        stop = [stop] if isinstance(stop, str) else [s for s in stop if isinstance(s, str) and s]
        stream = bool(body.get("stream"))
        opts = body.get("stream_options") or {}
        req = Request(prompt_len, max_new, out_len, request.received,
                      ignore_eos=bool(body.get("ignore_eos")))
        words = rng.choices(self.tokens.words, k=out_len)
        gen = Generation(self, req, words, chat=chat, stream=stream,
                         include_usage=bool(opts.get("include_usage")), stop=stop, resp=resp)
        req.sink = gen
        if stream:
            resp.start_stream()
        replica.submit(req)
        watch = asyncio.ensure_future(reader.read(1))
        await asyncio.wait({gen.done, watch}, return_when=asyncio.FIRST_COMPLETED)
        if not gen.done.done():  # the client went away (or broke protocol): stop the work
            self.abort(req)
            self.stats.aborted_total += 1
            gen.finish_reason = "abort"
            resp.keep_alive = False
            resp.transport.close()
            return
        if not watch.done():
            watch.cancel()  # must be gone before the connection reads the next request
            with contextlib.suppress(asyncio.CancelledError):
                await watch
        elif watch.result():  # pipelined bytes we cannot put back: finish, then close
            resp.keep_alive = False
        if not stream:
            resp.send(200, gen.body())

    # -- introspection --------------------------------------------------------------------

    def server_info(self) -> dict:
        info = {k: v for k, v in vars(self.ns).items()}
        scheds = [r.sched for r in self.replicas]
        info.update(self.info)
        info.update({
            "simulated": True, "version": "sim",
            "max_total_num_tokens": self.model.plan.max_total_tokens,
            "max_running_requests": self.model.max_running_requests,
            "chunked_prefill_size": self.model.chunked_prefill_size or -1,
            "cuda_graph_max_bs": self.model.cuda_graph_max_bs,
            "context_length": self.model.context_length,
            "mem_fraction_static": self.model.plan.mem_fraction_static,
            "memory_plan": self.model.plan.as_dict(),
            "tokenizer": str(self.tokens.path) if self.tokens.path else None,
            "runtime": {"steps": sum(r.steps for r in self.replicas),
                        "lag_s": sum(r.lag_s for r in self.replicas),
                        "busy_s": sum(r.busy_s for r in self.replicas),
                        "retractions": sum(s.retractions for s in scheds),
                        **self.stats.summary()},
        })
        return info

    def metrics(self) -> str:
        scheds = [r.sched for r in self.replicas]
        label = "{model_name=" + json.dumps(self.served_name) + "}"
        cap = sum(s.capacity for s in scheds)
        rows = [
            ("num_running_reqs", "gauge", "Requests in the running batch",
             sum(len(s.running) + (s.chunked is not None) for s in scheds)),
            ("num_queue_reqs", "gauge", "Requests waiting in the queue",
             sum(len(s.waiting) for s in scheds)),
            ("num_used_tokens", "gauge", "KV pool tokens in use", sum(s.kv_used for s in scheds)),
            ("max_total_num_tokens", "gauge", "KV pool size in tokens", cap),
            ("token_usage", "gauge", "KV pool usage (0-1)",
             sum(s.kv_used for s in scheds) / cap if cap else 0.0),
            ("prompt_tokens_total", "counter", "Prompt tokens prefilled",
             sum(s.prompt_tokens_total for s in scheds)),
            ("generation_tokens_total", "counter", "Tokens generated",
             sum(s.generation_tokens_total for s in scheds)),
            ("num_requests_total", "counter", "Requests finished", self.stats.requests_total),
            # collector.py's Counter num_retracted_requests_total: requests the scheduler
            # retracted to free KV cache (scheduler.py _make_room plays SGLang's retract)
            ("num_retracted_requests_total", "counter", "Total number of retracted requests",
             sum(s.retractions for s in scheds)),
            # collector.py's Gauge gen_throughput (runtime.py: every 40 decode steps)
            ("gen_throughput", "gauge", "The generation throughput (token/s)",
             sum(r.gen_throughput for r in self.replicas)),
            # collector.py's Gauge cache_hit_rate: the simulator models no radix cache, and
            # SGLang reports 0 when no prefix was reused
            ("cache_hit_rate", "gauge", "The prefix cache hit rate", 0.0),
        ]
        out = []
        for name, kind, help_, value in rows:
            out += [f"# HELP sglang:{name} {help_}.", f"# TYPE sglang:{name} {kind}",
                    f"sglang:{name}{label} {value}"]
        out += ["# HELP tuneops_sim_simulated 1: this server is the tuneops simulator.",
                "# TYPE tuneops_sim_simulated gauge", "tuneops_sim_simulated 1"]
        return "\n".join(out) + "\n"


class _Waiter:
    def __init__(self) -> None:
        self.done = asyncio.get_running_loop().create_future()

    def on_tokens(self, req: Request, now: float) -> None:
        if req.state == "done" and not self.done.done():
            self.done.set_result(None)
