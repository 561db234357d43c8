"""A stand-in for the few GitHub REST endpoints the bot uses, on 127.0.0.1, recording every
call. Responses carry the `url` fields PyGithub follows, pointing back here. Each route
follows GitHub's REST reference (docs.github.com/rest/...), cited beside it:
the repository, the pull request and the list of open ones, labels, the issue's comments
(list, create, update, delete) with their author, the repository's environments and an
organisation's self-hosted runner groups.

The author of a comment is the identity of the token that wrote it (`tokens`: token →
login; a workflow's GITHUB_TOKEN writes as github-actions[bot]); a test may also place a
user's comment directly in `state.comments`.
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
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)  # "token X" → user
    environments: list[dict[str, Any]] = field(default_factory=list)
    runner_groups: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # org → groups


class GitHub:
    def __init__(self, repo: str, pr: dict[str, Any]) -> None:
        self.state = State(repo, pr)
        state = self.state
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, code: int, doc: Any) -> None:
                data = json.dumps(doc).encode() if doc is not None else b""
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
                    code, doc = route(method, path, body,
                                      self.headers.get("Authorization", ""))
                self._send(code, doc)

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

            def do_PATCH(self) -> None:
                self._handle("PATCH")

            def do_DELETE(self) -> None:
                self._handle("DELETE")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        base = self.url
        r = f"/repos/{state.repo}"

        def user(auth: str) -> dict:
            # the GITHUB_TOKEN of a workflow acts as the GitHub Actions app's bot user:
            # docs.github.com/actions/security-guides/automatic-token-authentication
            # (comments it writes are authored by github-actions[bot], a user of type Bot)
            return state.tokens.get(auth) or {"login": "github-actions[bot]", "id": 41898282,
                                              "type": "Bot"}

        def comment_doc(c: dict) -> dict:
            return {**c, "url": f"{base}{r}/issues/comments/{c['id']}"}

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
                    "labels": [{"name": x} for x in p["labels"]],
                    "state": p.get("state", "open")}

        def route(method: str, path: str, body: Any, auth: str) -> tuple[int, Any]:
            n = state.pr["number"]
            # docs.github.com/rest/repos/repos#get-a-repository (the fields PyGithub reads)
            if method == "GET" and path == r:
                return 200, {"full_name": state.repo, "url": f"{base}{r}"}
            # docs.github.com/rest/pulls/pulls#get-a-pull-request: head/base sha, ref, repo
            if method == "GET" and path == f"{r}/pulls/{n}":
                return 200, pr_doc()
            # docs.github.com/rest/pulls/pulls#list-pull-requests (state=open: the default)
            if method == "GET" and path == f"{r}/pulls":
                return 200, [pr_doc()] if state.pr.get("state", "open") == "open" else []
            # docs.github.com/rest/deployments/environments#list-environments
            if method == "GET" and path == f"{r}/environments":
                return 200, {"total_count": len(state.environments),
                             "environments": state.environments}
            # docs.github.com/rest/actions/self-hosted-runner-groups
            #   #list-self-hosted-runner-groups-for-an-organization
            m = re.fullmatch(r"/orgs/([\w.-]+)/actions/runner-groups", path)
            if method == "GET" and m:
                if m.group(1) not in state.runner_groups:
                    return 404, {"message": "Not Found"}
                groups = state.runner_groups[m.group(1)]
                return 200, {"total_count": len(groups), "runner_groups": groups}
            # docs.github.com/rest/issues/issues#get-an-issue (a pull request is an issue)
            if method == "GET" and path == f"{r}/issues/{n}":
                return 200, issue_doc()
            # docs.github.com/rest/issues/labels#list-labels-for-an-issue
            if method == "GET" and path == f"{r}/issues/{n}/labels":
                return 200, [{"name": x} for x in state.pr["labels"]]
            # docs.github.com/rest/issues/comments#list-issue-comments (oldest first)
            if method == "GET" and path == f"{r}/issues/{n}/comments":
                return 200, [comment_doc(c) for c in state.comments]
            # docs.github.com/rest/issues/comments#create-an-issue-comment; a body over
            # 65,536 characters is refused with 422 "Validation Failed"
            if method == "POST" and path == f"{r}/issues/{n}/comments":
                if len(body["body"]) > 65536:
                    return 422, {"message": "Validation Failed",
                                 "errors": [{"resource": "IssueComment", "field": "body",
                                             "code": "custom",
                                             "message": "body is too long (maximum is 65536 "
                                                        "characters)"}]}
                state.next_id += 1
                c = {"id": state.next_id, "body": body["body"], "user": user(auth)}
                state.comments.append(c)
                return 201, comment_doc(c)
            m = re.fullmatch(rf"{re.escape(r)}/issues/comments/(\d+)", path)
            # docs.github.com/rest/issues/comments#update-an-issue-comment (a token with
            # write access may edit any comment of the issue: the author stays who it was)
            if method == "PATCH" and m:
                for c in state.comments:
                    if c["id"] == int(m.group(1)):
                        if len(body["body"]) > 65536:
                            return 422, {"message": "Validation Failed"}
                        c["body"] = body["body"]
                        return 200, comment_doc(c)
                return 404, {"message": "Not Found"}
            # docs.github.com/rest/issues/comments#delete-an-issue-comment: 204 No Content
            if method == "DELETE" and m:
                before = len(state.comments)
                state.comments[:] = [c for c in state.comments if c["id"] != int(m.group(1))]
                return (204, None) if len(state.comments) < before else (404, {"message":
                                                                               "Not Found"})
            return 404, {"message": f"Not Found: {method} {path}"}

        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def calls(self, method: str | None = None, contains: str = "") -> list[Call]:
        return [c for c in self.state.calls
                if (method is None or c.method == method) and contains in c.path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
