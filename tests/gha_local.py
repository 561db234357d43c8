"""Run a GitHub Actions workflow file here: the jobs in `needs` order, each job's `run:`
steps in order under bash (GitHub's `bash -e -o pipefail`), with the GITHUB_* environment,
an event JSON, step outputs, job outputs, matrices and `if:` conditions evaluated.

`uses:` steps get local equivalents: actions/checkout fetches the wanted commit alone
(depth 1) from the origin, as actions/checkout does; the project's setup action puts this
checkout's virtual environment on PATH; upload/download-artifact copy folders. A job with
an `environment` not in `approved` waits (reported as "waiting", never run), like a
deployment waiting for its required reviewers.

What GitHub enforces outside the workflow file is played too, each rule citing its doc:
- the event decides which copy of the workflow runs: pull_request runs the merge commit's
  file, workflow_run / issue_comment / workflow_dispatch the default branch's
  (docs.github.com/actions/reference/events-that-trigger-workflows: "GITHUB_SHA: last
  commit on default branch" for workflow_run and issue_comment) — the caller passes the
  file it would be;
- secrets: a `pull_request` run from a fork gets none but a read-only GITHUB_TOKEN
  (same page, pull_request: "with the exception of GITHUB_TOKEN, secrets are not passed
  to the runner when a workflow is triggered from a forked repository"); environment
  secrets reach only a job that names the environment, once its protection rules pass
  (docs.github.com/actions/managing-workflow-runs-and-deployments/managing-deployments/
  managing-environments-for-deployment: "secrets stored in an environment are only
  available to workflow jobs that reference the environment"), and a deployment branch
  policy refuses other refs ("only branches ... that match ... can deploy"), the job
  failing;
- a self-hosted job gets a runner only from a group whose `selected_workflows` lists
  `<repo>/<workflow path>@<ref>` (docs.github.com/actions/hosting-your-own-runners/
  managing-self-hosted-runners/managing-access-to-self-hosted-runners-using-groups:
  "restrict ... to specific workflows ... a specific branch"); otherwise it stays queued
  ("queued" here; it never runs).

Expressions: contexts (github, needs, steps, matrix, secrets, strategy, inputs), string
literals, == != && || !, parentheses, and the functions always, success, failure,
cancelled, contains, fromJSON, toJSON, startsWith. That covers what our workflows use;
anything else raises, so the test fails rather than guessing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = REPO / ".venv" / "bin"

_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>\d+(?:\.\d+)?)|"
                    r"(?P<op>==|!=|&&|\|\||!|\(|\)|,)|(?P<name>[A-Za-z_][\w\-]*(?:\.(?:\*|[\w\-]+))*))")


class Expr:
    """A tiny recursive-descent evaluator for GitHub expressions."""

    def __init__(self, text: str, ctx: dict[str, Any], funcs: dict[str, Any]) -> None:
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        text = text.strip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m or m.end() == pos:
                raise ValueError(f"cannot parse expression {text!r} at {pos}")
            kind = m.lastgroup
            self.tokens.append((kind, m.group(kind)))
            pos = m.end()
        self.i = 0
        self.ctx, self.funcs = ctx, funcs

    def value(self) -> Any:
        v = self._or()
        if self.i != len(self.tokens):
            raise ValueError(f"trailing tokens in expression: {self.tokens[self.i:]}")
        return v

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def _take(self, text: str | None = None) -> tuple[str, str]:
        tok = self.tokens[self.i]
        if text is not None and tok[1] != text:
            raise ValueError(f"expected {text!r}, got {tok[1]!r}")
        self.i += 1
        return tok

    def _or(self) -> Any:
        v = self._and()
        while self._peek() == ("op", "||"):
            self._take()
            rhs = self._and()
            v = v or rhs
        return v

    def _and(self) -> Any:
        v = self._cmp()
        while self._peek() == ("op", "&&"):
            self._take()
            rhs = self._cmp()
            v = v and rhs
        return v

    def _cmp(self) -> Any:
        v = self._unary()
        while self._peek() in (("op", "=="), ("op", "!=")):
            op = self._take()[1]
            rhs = self._unary()
            eq = _norm(v) == _norm(rhs)
            v = eq if op == "==" else not eq
        return v

    def _unary(self) -> Any:
        if self._peek() == ("op", "!"):
            self._take()
            return not self._unary()
        return self._atom()

    def _atom(self) -> Any:
        kind, text = self._take()
        if kind == "str":
            return text[1:-1].replace("''", "'")
        if kind == "num":
            return float(text)
        if text == "(":
            v = self._or()
            self._take(")")
            return v
        if kind != "name":
            raise ValueError(f"unexpected {text!r}")
        if text in ("true", "false"):
            return text == "true"
        if text == "null":
            return None
        if self._peek() == ("op", "("):
            self._take()
            args = []
            while self._peek() != ("op", ")"):
                args.append(self._or())
                if self._peek() == ("op", ","):
                    self._take()
            self._take(")")
            return self.funcs[text.lower()](*args)
        return lookup(self.ctx, text)


def _norm(v: Any) -> Any:
    return v.lower() if isinstance(v, str) else v


def lookup(ctx: Any, path: str) -> Any:
    parts = path.split(".")
    values = [ctx]
    star = False
    for part in parts:
        nxt = []
        for v in values:
            if part == "*":
                nxt += list(v) if isinstance(v, list) else list((v or {}).values())
                star = True
            elif isinstance(v, dict):
                nxt.append(v.get(part, v.get(part.lower())))
            else:
                nxt.append(None)
        values = nxt
    return values if star else values[0]


_TEMPLATE = re.compile(r"\$\{\{(.*?)\}\}", re.S)


@dataclass
class StepRun:
    job: str
    name: str
    rc: int
    wall_s: float
    output: str
    secrets: tuple[str, ...] = ()  # names of the secrets whose values the step's env held
    runner: str = "hosted"  # hosted | self-hosted


@dataclass
class Environment:
    """A repository environment as GitHub enforces it: the refs that may deploy
    (deployment branch policy; None = any) and its secrets."""

    branches: tuple[str, ...] | None = ("main",)
    secrets: dict[str, str] = field(default_factory=dict)


@dataclass
class Runner:
    """One workflow run. `origin`: the bare repository playing GitHub's."""

    workflow: Path
    event: dict[str, Any]
    origin: Path
    work: Path
    env: dict[str, str]
    secrets: dict[str, str] = field(default_factory=dict)
    approved: set[str] = field(default_factory=set)
    event_name: str = "pull_request"
    environments: dict[str, Environment] = field(default_factory=dict)
    # self-hosted runner group: the workflows (`<repo>/<path>@<ref>`) it serves; None = any
    runner_group: tuple[str, ...] | None = None
    workflow_path: str = ".github/workflows/experiments.yml"
    results: dict[str, str] = field(default_factory=dict)  # job → success|failure|skipped|waiting
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)
    steps_run: list[StepRun] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.doc = yaml.load(self.workflow.read_text(), Loader=yaml.BaseLoader)  # keys stay strings
        self.artifacts = self.work / "artifacts"
        self.artifacts.mkdir(parents=True, exist_ok=True)
        self.event_path = self.work / "event.json"
        self.event_path.write_text(json.dumps(self.event))
        pr = self.event.get("pull_request")
        repo = self.event["repository"]["full_name"]
        self.ref = f"refs/pull/{pr['number']}/merge" if pr else "refs/heads/main"
        if pr and pr["head"]["repo"]["full_name"] != repo:  # a fork: no secrets, read-only
            self.secrets = {"GITHUB_TOKEN": self.secrets.get("GITHUB_TOKEN", "")}
        self.github = {
            "event": self.event, "event_name": self.event_name, "repository": repo,
            "sha": self.env["GITHUB_SHA"], "ref": self.ref,
            "head_ref": pr["head"]["ref"] if pr else "", "base_ref": pr["base"]["ref"] if pr
            else "", "token": self.secrets.get("GITHUB_TOKEN", ""),
            "run_id": "1", "workspace": "", "server_url": "https://github.example",
        }
        self.env = {**self.env, "GITHUB_EVENT_NAME": self.event_name, "GITHUB_REF": self.ref}

    # -- expressions ---------------------------------------------------------------------
    def _funcs(self, needs: list[str]) -> dict[str, Any]:
        def success() -> bool:
            return all(self.results.get(n) == "success" for n in needs)

        return {
            "always": lambda: True, "success": success,
            "failure": lambda: any(self.results.get(n) == "failure" for n in needs),
            "cancelled": lambda: False,
            "contains": lambda hay, needle: (_norm(needle) in [_norm(x) for x in hay]
                                             if isinstance(hay, list)
                                             else _norm(needle) in _norm(hay or "")),
            "startswith": lambda s, p: _norm(s or "").startswith(_norm(p)),
            "fromjson": json.loads, "tojson": json.dumps,
        }

    def _ctx(self, job: str, needs: list[str], extra: dict[str, Any]) -> dict[str, Any]:
        return {"github": self.github, "secrets": self.secrets,
                "inputs": self.event.get("inputs") or {},
                "needs": {n: {"result": self.results.get(n), "outputs": self.outputs.get(n, {})}
                          for n in needs}, **extra}

    def evaluate(self, text: str, ctx: dict[str, Any], needs: list[str]) -> Any:
        return Expr(text, ctx, self._funcs(needs)).value()

    def render(self, value: Any, ctx: dict[str, Any], needs: list[str]) -> Any:
        if isinstance(value, dict):
            return {k: self.render(v, ctx, needs) for k, v in value.items()}
        if isinstance(value, list):
            return [self.render(v, ctx, needs) for v in value]
        if not isinstance(value, str):
            return value
        whole = _TEMPLATE.fullmatch(value.strip())
        if whole and "${{" not in whole.group(1):
            return self.evaluate(whole.group(1), ctx, needs)

        def one(m: re.Match) -> str:
            v = self.evaluate(m.group(1), ctx, needs)
            return v if isinstance(v, str) else json.dumps(v) if v is not None else ""

        return _TEMPLATE.sub(one, value)

    def _cond(self, text: str | None, ctx: dict[str, Any], needs: list[str]) -> bool:
        if text is None:
            return self._funcs(needs)["success"]()
        text = text.strip()
        m = _TEMPLATE.fullmatch(text)
        expr = m.group(1) if m else text
        if not re.search(r"\b(always|failure|cancelled|success)\(", expr):
            expr = f"success() && ({expr})"
        return bool(self.evaluate(expr, ctx, needs))

    # -- the run ---------------------------------------------------------------------------
    def order(self) -> list[str]:
        jobs = self.doc["jobs"]
        done: list[str] = []
        while len(done) < len(jobs):
            for name, job in jobs.items():
                needs = _list(job.get("needs"))
                if name not in done and all(n in done for n in needs):
                    done.append(name)
        return done

    def run(self) -> dict[str, str]:
        for name in self.order():
            self.run_job(name)
        return self.results

    def run_job(self, name: str) -> None:
        job = self.doc["jobs"][name]
        needs = _list(job.get("needs"))
        ctx = self._ctx(name, needs, {"matrix": {}, "strategy": {"job-index": 0}})
        if any(self.results.get(n) in ("waiting", "queued") for n in needs):  # held back too
            self.results[name] = "waiting"
            return
        if not self._cond(job.get("if"), ctx, needs):
            self.results[name] = "skipped"
            return
        env_name = job.get("environment")
        if env_name:
            environment = self.environments.get(env_name)
            if environment is None:  # GitHub creates it on first use, unprotected
                environment = self.environments[env_name] = Environment(branches=None)
            branch = self.ref.removeprefix("refs/heads/")
            if environment.branches is not None and (not self.ref.startswith("refs/heads/")
                                                     or branch not in environment.branches):
                self.results[name] = "failure"  # "not allowed to deploy to <env>"
                return
            if env_name not in self.approved:
                self.results[name] = "waiting"
                return
        runs_on = job.get("runs-on")
        if "self-hosted" in _list(runs_on):
            me = f"{self.github['repository']}/{self.workflow_path}@{self.ref}"
            if self.runner_group is not None and me not in self.runner_group:
                self.results[name] = "queued"  # no runner of the group may take it
                return
        matrix = (job.get("strategy") or {}).get("matrix")
        combos = [{}]
        if matrix:
            (key, raw), = matrix.items()  # one axis is all our workflow uses
            values = self.render(raw, ctx, needs)
            combos = [{key: v} for v in values]
        ok = True
        for index, combo in enumerate(combos):
            jctx = self._ctx(name, needs, {"matrix": combo, "strategy": {"job-index": index},
                                           "steps": {}})
            if env_name:
                jctx["secrets"] = {**self.secrets, **self.environments[env_name].secrets}
            ok = self._run_steps(name, job, jctx, needs, index) and ok
        self.results[name] = "success" if ok else "failure"
        self.outputs[name] = {k: self.render(v, jctx, needs) or ""
                              for k, v in (job.get("outputs") or {}).items()}

    def _run_steps(self, name: str, job: dict, ctx: dict, needs: list[str], index: int) -> bool:
        ws = self.work / f"{name}-{index}"
        shutil.rmtree(ws, ignore_errors=True)
        ws.mkdir(parents=True)
        failed = False
        for n, step in enumerate(job["steps"]):
            step_ctx = dict(ctx)
            if failed and "always()" not in (step.get("if") or ""):
                continue
            if step.get("if") and not self.evaluate(
                    _TEMPLATE.sub(lambda m: m.group(1), step["if"]), step_ctx, needs):
                continue
            env = {**self.env, **{k: str(v) for k, v in
                                  self.render(step.get("env") or {}, step_ctx, needs).items()}}
            out_file = self.work / f"out-{name}-{index}-{n}"
            out_file.write_text("")
            env.update(GITHUB_OUTPUT=str(out_file), GITHUB_EVENT_PATH=str(self.event_path),
                       GITHUB_WORKSPACE=str(ws), GITHUB_JOB=name,
                       GITHUB_STEP_SUMMARY=str(self.work / "summary.md"))
            t0 = time.monotonic()
            if "uses" in step:
                rc, output = self._uses(step, step_ctx, needs, ws, env)
            else:
                script = self.render(step["run"], step_ctx, needs)
                proc = subprocess.run(["bash", "--noprofile", "--norc", "-e", "-o", "pipefail",
                                       "-c", script], cwd=ws, env=env, capture_output=True,
                                      text=True)
                rc, output = proc.returncode, proc.stdout + proc.stderr
            held = tuple(k for k, v in {**self.secrets, **ctx["secrets"]}.items()
                         if v and k != "GITHUB_TOKEN" and v in env.values())
            runner = "self-hosted" if "self-hosted" in _list(job.get("runs-on")) else "hosted"
            self.steps_run.append(StepRun(name, step.get("name") or step.get("uses")
                                          or step["run"].split("\n")[0], rc,
                                          time.monotonic() - t0, output, held, runner))
            if "id" in step:
                outs = dict(line.split("=", 1) for line in out_file.read_text().splitlines()
                            if "=" in line)
                ctx.setdefault("steps", {})[step["id"]] = {"outputs": outs}
                # job outputs read steps from the job context
            failed = failed or rc != 0
        return not failed

    def _uses(self, step: dict, ctx: dict, needs: list[str], ws: Path,
              env: dict[str, str]) -> tuple[int, str]:
        uses = step["uses"]
        with_ = self.render(step.get("with") or {}, ctx, needs)
        action = uses.split("@")[0]
        if action == "actions/checkout":
            ref = with_.get("ref") or self.github["sha"]
            assert with_.get("persist-credentials") == "false", "checkout must not persist"
            assert "repository" not in with_, "checkout of another repository"
            depth = with_.get("fetch-depth", "1")
            fetch = ["git", "fetch", "-q", "--no-tags", "origin", ref]
            if depth != "0":
                fetch.insert(3, f"--depth={depth}")
            else:  # every branch's history, as actions/checkout does with fetch-depth: 0
                fetch += ["+refs/heads/*:refs/remotes/origin/*"]
            for cmd in (["git", "init", "-q", "."],
                        ["git", "remote", "add", "origin", str(self.origin)], fetch,
                        ["git", "checkout", "-q", "--detach", ref if depth == "0"
                         else "FETCH_HEAD"]):
                subprocess.run(cmd, cwd=ws, check=True, capture_output=True, env=env)
            return 0, f"checked out {ref}"
        if action == "./.github/actions/setup":
            env["PATH"] = f"{VENV_BIN}:{env['PATH']}"
            self.env["PATH"] = env["PATH"]
            return 0, "venv on PATH"
        if action == "actions/upload-artifact":
            src = ws / with_["path"]
            if src.exists():
                dst = self.artifacts / with_["name"]
                shutil.rmtree(dst, ignore_errors=True)
                if src.is_dir():
                    shutil.copytree(src, dst, symlinks=True)
                else:
                    dst.mkdir(parents=True)
                    shutil.copy2(src, dst / src.name)
            return 0, f"uploaded {with_['path']}"
        if action == "actions/download-artifact":
            dst = ws / with_["path"]
            dst.mkdir(parents=True, exist_ok=True)
            if "name" in with_:
                names = [with_["name"]]
            else:
                pattern = re.compile(with_["pattern"].replace("*", ".*"))
                names = [p.name for p in sorted(self.artifacts.iterdir())
                         if pattern.fullmatch(p.name)]
            for n in names:
                shutil.copytree(self.artifacts / n, dst, symlinks=True, dirs_exist_ok=True)
            return 0, f"downloaded {names}"
        raise AssertionError(f"no local equivalent for {uses}")

    def step(self, job: str, contains: str) -> StepRun:
        [hit] = [s for s in self.steps_run if s.job == job and contains in s.name]
        return hit


def _list(v: Any) -> list[str]:
    if v is None:
        return []
    return [v] if isinstance(v, str) else list(v)


def pr_event(*, repo: str, number: int, head_sha: str, head_ref: str, base_sha: str,
             head_repo: str | None = None, labels: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "action": "synchronize", "number": number,
        "repository": {"full_name": repo},
        "pull_request": {
            "number": number,
            "head": {"sha": head_sha, "ref": head_ref, "repo": {"full_name": head_repo or repo}},
            "base": {"sha": base_sha, "ref": "main", "repo": {"full_name": repo}},
            "labels": [{"name": n} for n in labels],
        },
    }


def workflow_run_event(*, repo: str, head_sha: str, conclusion: str = "success",
                       head_branch: str = "grid-64") -> dict[str, Any]:
    """The `workflow_run` payload of the untrusted `experiments` workflow finishing
    (docs.github.com/webhooks/webhook-events-and-payloads#workflow_run)."""
    return {"action": "completed", "repository": {"full_name": repo},
            "workflow_run": {"name": "experiments", "event": "pull_request",
                             "head_sha": head_sha, "head_branch": head_branch,
                             "conclusion": conclusion, "pull_requests": []}}


def comment_event(*, repo: str, number: int, body: str, association: str) -> dict[str, Any]:
    """An `issue_comment` payload on a pull request (its issue has `pull_request`)."""
    return {"action": "created", "repository": {"full_name": repo},
            "issue": {"number": number, "pull_request": {"url": "x"}},
            "comment": {"id": 1, "body": body, "author_association": association,
                        "user": {"login": "someone", "type": "User"}}}


def base_env(work: Path, api_url: str, merge_sha: str, repo: str) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", str(work)),
        "CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_API_URL": api_url,
        "GITHUB_REPOSITORY": repo, "GITHUB_SHA": merge_sha, "GITHUB_EVENT_NAME": "pull_request",
        "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "ENABLE_UI": "false",
        **{k: v for k, v in os.environ.items() if k.startswith(("TUNEOPS_", "LANG", "LC_"))},
    }
