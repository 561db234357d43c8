"""Ports are reserved, not probed: concurrent callers in threads and in separate processes
never get the same port, a listening socket's port is never handed out, and a released
port can be reserved again.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from tuneops.deployments.common.ports import PortAllocator, PortUnavailable

from tests.paths import ROOT

SPAN = (23100, 23199)  # small on purpose: collisions would be likely if locks did not work

HOLDER = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from tuneops.deployments.common.ports import PortAllocator
alloc = PortAllocator(Path(sys.argv[2]), (int(sys.argv[3]), int(sys.argv[4])))
leases = [alloc.reserve() for _ in range(int(sys.argv[5]))]
print(json.dumps([l.port for l in leases]), flush=True)
sys.stdin.read()  # hold the ports until the test closes stdin
"""


def test_threads_never_share_a_port(tmp_path: Path):
    alloc = PortAllocator(tmp_path, SPAN)
    got: list[int] = []
    barrier = threading.Barrier(8)

    def take() -> None:
        barrier.wait()
        for _ in range(8):
            got.append(alloc.reserve().port)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 64
    assert len(set(got)) == 64, sorted(got)
    assert all(SPAN[0] <= p <= SPAN[1] for p in got)


def test_processes_never_share_a_port(tmp_path: Path):
    holders = [
        subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(ROOT), str(tmp_path), *map(str, SPAN), "20"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    try:
        ports = [p for h in holders for p in json.loads(h.stdout.readline())]
        mine = PortAllocator(tmp_path, SPAN).reserve().port  # and this process too
    finally:
        for h in holders:
            h.stdin.close()
            h.wait(timeout=10)
    assert len(ports) == 80
    assert len(set(ports + [mine])) == 81


def test_exhausted_range_and_explicit_port(tmp_path: Path):
    alloc = PortAllocator(tmp_path, (23200, 23203))
    leases = []
    for _ in range(4):
        try:
            leases.append(alloc.reserve())
        except PortUnavailable:  # something else on the machine listens there
            pass
    with pytest.raises(PortUnavailable, match="no free port in 23200-23203"):
        alloc.reserve()
    taken = leases[0].port
    with pytest.raises(PortUnavailable, match=f"port {taken} is in use or reserved"):
        alloc.reserve(taken)
    leases[0].release()
    leases[0].release()  # idempotent
    assert alloc.reserve(taken).port == taken


def test_a_listening_port_is_skipped(tmp_path: Path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        alloc = PortAllocator(tmp_path, (port, port))
        with pytest.raises(PortUnavailable):
            alloc.reserve()
    assert alloc.reserve().port == port  # free again once the listener closed


def test_the_lock_dies_with_its_holder(tmp_path: Path):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(ROOT), str(tmp_path), "23300", "23300", "1"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert json.loads(holder.stdout.readline()) == [23300]
    alloc = PortAllocator(tmp_path, (23300, 23300))
    with pytest.raises(PortUnavailable):
        alloc.reserve()
    holder.kill()  # a killed runner must not keep its ports forever
    holder.wait()
    assert alloc.reserve().port == 23300
