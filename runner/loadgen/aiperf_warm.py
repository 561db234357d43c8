"""A warm parent for AIPerf runs: run by AIPerf's own venv (`<venv>/bin/python <this file>`),
never imported by tuneops; stdlib and AIPerf only.

Measured (scripts/bench_aiperf_warm.py): most of a short `aiperf profile` run's fixed cost
is Python importing AIPerf and transformers, again in the CLI process, in the spawned
tokenizer-prefetch helper and in every service AIPerf forks. This parent pays the imports
once: it imports AIPerf's CLI, every implementation AIPerf's own plugin registry names
(aiperf/plugin/plugins.yaml, `class:` entries: the services, endpoints, transports,
exporters) and transformers' AutoTokenizer, then freezes the garbage collector's view of
them (gc.freeze, so forked children do not copy every page by collecting it), and waits.

Each request is then a fresh AIPerf run in a forked child: the child calls AIPerf's own CLI
entry point (`aiperf.cli:app`, what the `aiperf` script calls) with the run's argv, in its
own session (the runner stops a run by its process group, the parent survives), in the
run's folder, with its log as stdout/stderr. The parent has run nothing of AIPerf, so the
child starts from what a fresh `aiperf` process holds after its imports; `random` is
reseeded at fork by CPython (random.py registers `os.register_at_fork`), numpy's global
generator here. AIPerf forks its services from the child (the default start method on
Linux; aiperf/controller/multiprocess_service_manager.py `Process(...)`), so they inherit
the imports too. Every number still comes from that run's own result files.

Protocol (one JSON object per line): the parent says {"ready": true, "pid", "import_s",
"modules"} once; a request {"argv": [...], "cwd": dir, "log": file, "cpus": [...]} is
answered by {"pid": child} when the child is forked and {"pid": child, "rc": code} when it
has exited (a signal as its negative number). One run at a time; end of input ends it.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import re
import signal
import sys
import time

# run as a script, its folder leads sys.path, and tuneops' aiperf.py there would shadow the
# aiperf package
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

PARENT_ENV = "TUNEOPS_AIPERF_WARM_PARENT"  # the runner's pid: a parent that outlived it exits


def _die_with(sig: int) -> None:
    """Linux kills this process when its parent dies (PR_SET_PDEATHSIG)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, sig)
    except (OSError, AttributeError):
        pass


def plugin_modules() -> list[str]:
    """The modules of every implementation in AIPerf's plugin registry (plugins.yaml)."""
    import aiperf.plugin

    text = open(os.path.join(os.path.dirname(aiperf.plugin.__file__), "plugins.yaml")).read()
    return sorted(set(re.findall(r"^\s*class:\s*([\w.]+):", text, re.MULTILINE)))


def preload(app: str, modules: list[str]) -> tuple[object, int]:
    """Import the app and `modules` (one that fails to import is left to the run, which
    imports it again and fails there if it must); returns the app and the modules loaded."""
    mod, _, attr = app.partition(":")
    entry = getattr(importlib.import_module(mod), attr)
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as e:  # noqa: BLE001 - an optional plugin's dependency may be absent
            print(f"warm: not preloaded {name}: {type(e).__name__}: {e}", file=sys.stderr)
    gc.collect()
    gc.freeze()
    return entry, len(sys.modules)


def child(entry, req: dict, parent: int, replies: int) -> None:
    """The forked child: becomes one `aiperf` process for req["argv"]; never returns."""
    rc = 1
    try:
        os.setsid()
        _die_with(signal.SIGKILL)  # cleared by fork; the run dies with its parent
        if os.getppid() != parent:  # the parent died before the line above
            os._exit(1)
        os.close(replies)  # only the parent answers; a dead parent's pipe then closes
        if req.get("cpus"):
            os.sched_setaffinity(0, [int(c) for c in req["cpus"]])
        null = os.open(os.devnull, os.O_RDONLY)
        log = os.open(req["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.chdir(req["cwd"])  # after the log: a relative log path is the parent's
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        if "numpy" in sys.modules:
            sys.modules["numpy"].random.seed()  # a fresh process's unseeded global state
        sys.argv = ["aiperf", *req["argv"]]
        try:
            result = entry(list(req["argv"]))
            rc = result if isinstance(result, int) else 0
        except SystemExit as e:
            rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        import atexit

        atexit._run_exitfuncs()  # what interpreter exit would run (multiprocessing's joins)
    except BaseException:  # noqa: BLE001 - reported through the log, the parent sees rc 1
        import traceback

        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(rc & 0xFF if rc >= 0 else 1)


def serve(entry, requests, replies) -> int:
    me = os.getpid()
    for line in requests:
        if not line.strip():
            continue
        req = json.loads(line)
        pid = os.fork()
        if pid == 0:
            child(entry, req, me, replies.fileno())
        replies.write(json.dumps({"pid": pid}) + "\n")
        replies.flush()
        _, status = os.waitpid(pid, 0)
        replies.write(json.dumps({"pid": pid, "rc": os.waitstatus_to_exitcode(status)}) + "\n")
        replies.flush()
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="a warm parent for AIPerf runs")
    ap.add_argument("--app", default="aiperf.cli:app", help="module:callable taking argv")
    ap.add_argument("--preload", action="append", default=[], help="a module to import")
    ap.add_argument("--no-plugins", action="store_true",
                    help="do not preload AIPerf's plugin registry (tests)")
    args = ap.parse_args(argv)
    _die_with(signal.SIGKILL)
    parent = os.environ.get(PARENT_ENV)
    if parent and str(os.getppid()) != parent:
        return 0
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything an import prints goes to the log, never into the replies
    t0 = time.monotonic()
    modules = list(args.preload)
    if not args.no_plugins:
        modules += [*plugin_modules(), "aiperf.cli_commands.profile", "aiperf.cli_runner",
                    "transformers.models.auto.tokenization_auto"]
    entry, loaded = preload(args.app, modules)
    replies.write(json.dumps({"ready": True, "pid": os.getpid(), "modules": loaded,
                              "import_s": round(time.monotonic() - t0, 3)}) + "\n")
    return serve(entry, sys.stdin, replies)


if __name__ == "__main__":
    sys.exit(main())
