"""A tiny HTTP/1.1 server on asyncio streams: keep-alive, JSON bodies, chunked streaming.

Just enough for OpenAI-style clients (requests, httpx, aiohttp) and Prometheus scrapers;
no third-party packages because the simulator runs in a bare python3 image.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
           405: "Method Not Allowed", 411: "Length Required", 413: "Payload Too Large",
           500: "Internal Server Error", 503: "Service Unavailable"}
MAX_BODY = 64 * 1024 * 1024


@dataclass
class HttpRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    received: float = 0.0  # loop time when the request head arrived: the request's t=0

    def json(self):
        return json.loads(self.body or b"{}")


class Response:
    """Writes one response on a connection, whole or as a chunked stream."""

    def __init__(self, writer: asyncio.StreamWriter, keep_alive: bool) -> None:
        self.writer = writer
        self.transport = writer.transport
        self.keep_alive = keep_alive
        self.streaming = False
        self.sent = False

    def _head(self, status: int, content_type: str, extra: str) -> bytes:
        conn = "keep-alive" if self.keep_alive else "close"
        return (f"HTTP/1.1 {status} {REASONS.get(status, 'OK')}\r\nContent-Type: {content_type}"
                f"\r\nConnection: {conn}\r\n{extra}\r\n").encode()

    def send(self, status: int, body: bytes | str | dict | list,
             content_type: str = "application/json") -> None:
        if isinstance(body, (dict, list)):
            body = json.dumps(body, separators=(",", ":"))
        if isinstance(body, str):
            body = body.encode()
        self.transport.write(
            self._head(status, content_type, f"Content-Length: {len(body)}\r\n") + body)
        self.sent = True

    def start_stream(self, content_type: str = "text/event-stream") -> None:
        self.transport.write(self._head(
            200, content_type, "Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n"))
        self.streaming = self.sent = True

    def chunk(self, data: bytes) -> None:
        if data and not self.transport.is_closing():
            self.transport.write(b"%x\r\n%b\r\n" % (len(data), data))

    def end_stream(self) -> None:
        if not self.transport.is_closing():
            self.transport.write(b"0\r\n\r\n")

    @property
    def closed(self) -> bool:
        return self.transport.is_closing()


Handler = Callable[[HttpRequest, Response, asyncio.StreamReader], Awaitable[None]]


async def _read_request(reader: asyncio.StreamReader) -> tuple[HttpRequest, bool] | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        received = asyncio.get_running_loop().time()
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    try:
        method, target, version = lines[0].split(" ", 2)
    except ValueError:
        return None
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = bytearray()
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            body += await reader.readexactly(size)
            await reader.readexactly(2)
            if len(body) > MAX_BODY:
                return None
        body = bytes(body)
    else:
        length = int(headers.get("content-length") or 0)
        if length > MAX_BODY:
            return None
        body = await reader.readexactly(length) if length else b""
    url = urlsplit(target)
    keep = headers.get("connection", "").lower() != "close" and version != "HTTP/1.0"
    request = HttpRequest(method.upper(), url.path, parse_qs(url.query), headers, body, received)
    return request, keep


async def serve(host: str, port: int, handler: Handler) -> asyncio.Server:
    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        try:
            while True:
                try:
                    parsed = await _read_request(reader)
                except (asyncio.IncompleteReadError, ConnectionError, ValueError):
                    parsed = None
                if parsed is None:
                    break
                request, keep = parsed
                response = Response(writer, keep)
                try:
                    await handler(request, response, reader)
                except Exception as exc:  # a handler bug must not kill the server
                    if not response.sent:
                        response.send(500, {"object": "error", "message": repr(exc),
                                            "code": 500, "simulated": True})
                    else:
                        keep = False
                if not keep or response.closed:
                    break
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    return await asyncio.start_server(on_connection, host, port, limit=1 << 20, backlog=1024)
