"""A stand-in for AIPerf's CLI entry point (`aiperf.cli:app`), run inside the warm parent's
forked child by the warm-parent tests: it records what a fresh `aiperf` process would see
(argv, pid, session, cwd, CPU set, stdin) in `seen.json` in its working folder, prints to
its log, and exits as argv asks (`exit N`) or waits to be stopped (`hang`)."""

from __future__ import annotations

import json
import os
import signal
import sys


def app(argv: list[str]) -> None:
    seen = {"argv": argv, "sys_argv": sys.argv, "pid": os.getpid(), "sid": os.getsid(0),
            "pgid": os.getpgid(0), "cwd": os.getcwd(), "cpus": sorted(os.sched_getaffinity(0)),
            "stdin": sys.stdin.read()}
    with open("seen.json", "w") as f:
        json.dump(seen, f)
    print(f"fake aiperf {' '.join(argv)}", flush=True)
    if argv and argv[0] == "hang":
        signal.pause()  # until the runner stops the run's process group
    if argv and argv[0] == "exit":
        sys.exit(int(argv[1]))
