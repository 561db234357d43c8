"""A stand-in for the few GitHub REST endpoints the bot uses, on 127.0.0.1, recording every
call: the repository, the pull request, its labels, the issue and its comments (list,
create, update). Responses carry the `url` fields PyGithub follows, pointing back here.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Call:
    method: str
    path: str
    body: Any
    auth: str


@dataclass
class State:
    repo: str
    pr: dict[str, Any]  # number, head sha/ref/repo, base sha/ref, labels
    comments: list[dict[str, Any]] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    next_id: int = 1000


class GitHub:
    def __init__(self, repo: str, pr: dict[str, Any]) -> None:
        self.state = State(repo, pr)
        state = self.state
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, code: int, doc: Any) -> None:
                data = json.dumps(doc).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                path = self.path.split("?")[0]
                with lock:
                    state.calls.append(Call(method, path, body,
                                            self.headers.get("Authorization", "")))
                    code, doc = route(method, path, body)
                self._send(code, doc)

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

            def do_PATCH(self) -> None:
                self._handle("PATCH")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        base = self.url
        r = f"/repos/{state.repo}"

        def user() -> dict:
            return {"login": "github-actions[bot]", "id": 41898282, "type": "Bot"}

        def comment_doc(c: dict) -> dict:
            return {**c, "url": f"{base}{r}/issues/comments/{c['id']}", "user": user()}

        def issue_doc() -> dict:
            n = state.pr["number"]
            return {"number": n, "url": f"{base}{r}/issues/{n}", "title": "PR",
                    "comments_url": f"{base}{r}/issues/{n}/comments",
                    "labels": [{"name": x} for x in state.pr["labels"]]}

        def pr_doc() -> dict:
            p = state.pr
            return {"number": p["number"], "url": f"{base}{r}/pulls/{p['number']}",
                    "head": {"sha": p["head_sha"], "ref": p["head_ref"],
                             "repo": {"full_name": p["head_repo"]}},
                    "base": {"sha": p["base_sha"], "ref": "main",
                             "repo": {"full_name": state.repo}},
                    "labels": [{"name": x} for x in p["labels"]]}

        def route(method: str, path: str, body: Any) -> tuple[int, Any]:
            n = state.pr["number"]
            if method == "GET" and path == r:
                return 200, {"full_name": state.repo, "url": f"{base}{r}"}
            if method == "GET" and path == f"{r}/pulls/{n}":
                return 200, pr_doc()
            if method == "GET" and path == f"{r}/issues/{n}":
                return 200, issue_doc()
            if method == "GET" and path == f"{r}/issues/{n}/labels":
                return 200, [{"name": x} for x in state.pr["labels"]]
            if method == "GET" and path == f"{r}/issues/{n}/comments":
                return 200, [comment_doc(c) for c in state.comments]
            if method == "POST" and path == f"{r}/issues/{n}/comments":
                state.next_id += 1
                c = {"id": state.next_id, "body": body["body"]}
                state.comments.append(c)
                return 201, comment_doc(c)
            m = re.fullmatch(rf"{re.escape(r)}/issues/comments/(\d+)", path)
            if method == "PATCH" and m:
                for c in state.comments:
                    if c["id"] == int(m.group(1)):
                        c["body"] = body["body"]
                        return 200, comment_doc(c)
                return 404, {"message": "Not Found"}
            return 404, {"message": f"Not Found: {method} {path}"}

        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def calls(self, method: str | None = None, contains: str = "") -> list[Call]:
        return [c for c in self.state.calls
                if (method is None or c.method == method) and contains in c.path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
