"""The long-lived genai-bench worker: `python -m tuneops.runner.bench.worker_main`.

It imports genai-bench once (gevent patching, pandas, transformers: seconds) and then
serves trial after trial. Protocol: one JSON object per line on stdin, one JSON reply per
line on the stdout it was started with; everything libraries print goes to stderr (the
worker's log), so nothing can corrupt the replies.

Requests: {"op": "begin", "argv": [...], "log_file": path}, {"op": "level", "scenario":
s, "concurrency": c}, {"op": "end", "keep_artifacts": bool, "levels": [...]},
{"op": "stats"}, {"op": "exit"}. Replies: {"ok": true, ...} or {"ok": false, "error": ...}.
The first line it writes is {"ok": true, "ready": true, "import_s": ...}.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import traceback

PARENT_ENV = "TUNEOPS_WORKER_PARENT"


def die_with_parent() -> None:
    """A worker outlives no runner: Linux kills it when its parent dies (even by SIGKILL),
    and one whose parent is already gone exits at once."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    parent = os.environ.get(PARENT_ENV)
    if parent and str(os.getppid()) != parent:
        sys.exit(0)


def main() -> int:
    die_with_parent()
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # library prints go to the log, never into the replies
    sys.stdout = sys.stderr
    t0 = time.monotonic()
    from tuneops.runner.bench import driver  # imports genai-bench: patches with gevent

    driver.configure_logging()
    d = driver.Driver()
    replies.write(json.dumps({"ok": True, "ready": True, "pid": os.getpid(),
                              "import_s": round(time.monotonic() - t0, 3)}) + "\n")
    for line in sys.stdin.buffer:
        try:
            req = json.loads(line)
            op = req.get("op")
            if op == "exit":
                return 0
            if op == "begin":
                out = d.begin(req["argv"], req["log_file"])
            elif op == "level":
                out = d.level(req["scenario"], int(req["concurrency"]))
            elif op == "end":
                out = d.end(bool(req.get("keep_artifacts")), req.get("levels"))
            elif op == "stats":
                out = d.stats()
            else:
                raise ValueError(f"unknown op {op!r}")
            reply = {"ok": True, **out}
        except (Exception, SystemExit) as e:  # click exits on bad options: a reply too
            traceback.print_exc()
            reply = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        replies.write(json.dumps(reply) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
