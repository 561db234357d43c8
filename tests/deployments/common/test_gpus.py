"""The GPU pool: nvidia-smi parsing on real output, disjoint sets under concurrency,
blocking until enough are free, and a zero-GPU pool for CPU-only machines.
"""

from __future__ import annotations

import os
import threading

import pytest
from tuneops.deployments.common.gpus import GpuPool, parse_nvidia_smi

from tests.helpers.polling import stays_false

# Hand-written lines in the shape of `nvidia-smi --query-gpu=index,uuid,name,memory.total,
# memory.used --format=csv,noheader,nounits` (tests/deployments/common/test_gpus_detect.py
# runs a fake nvidia-smi on the documented formats in tests/fixtures/nvidia_smi).
H100_X2 = """\
0, GPU-5d0b4c8e-2f1e-3b9a-8c11-0f7e2a9d4b61, NVIDIA H100 80GB HBM3, 81559, 4
1, GPU-a3c1f2d0-7e45-11ee-b962-0242ac120002, NVIDIA H100 80GB HBM3, 81559, 73012
"""
ODD = """
2, GPU-1b2c, NVIDIA GeForce RTX 4090, [N/A], [N/A]

NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.
3, GPU-9f9f, Weird, Name, With Commas, 24576, 1024
"""


def test_parses_nvidia_smi_output():
    gpus = parse_nvidia_smi(H100_X2)
    assert [g.index for g in gpus] == ["0", "1"]
    assert gpus[0].uuid == "GPU-5d0b4c8e-2f1e-3b9a-8c11-0f7e2a9d4b61"
    assert gpus[0].name == "NVIDIA H100 80GB HBM3"
    assert (gpus[1].memory_total_mib, gpus[1].memory_used_mib) == (81559, 73012)


def test_parser_tolerates_missing_fields_noise_and_commas():
    gpus = parse_nvidia_smi(ODD)
    assert [g.index for g in gpus] == ["2", "3"]
    assert gpus[0].memory_total_mib is None and gpus[0].memory_used_mib is None
    assert gpus[1].name == "Weird, Name, With Commas"
    assert gpus[1].memory_total_mib == 24576
    assert parse_nvidia_smi("") == []


def test_acquire_gives_disjoint_sets_and_release_returns_them():
    pool = GpuPool(["0", "1", "2", "3"])
    a, b = pool.acquire(2), pool.acquire(2)
    assert set(a).isdisjoint(b) and set(a) | set(b) == {"0", "1", "2", "3"}
    with pytest.raises(TimeoutError):
        pool.acquire(1, timeout=0.05)
    pool.release(a)
    assert pool.acquire(2) == a
    pool.release(b)
    with pytest.raises(ValueError, match="released twice"):
        pool.release(b)
    with pytest.raises(ValueError, match="duplicate"):
        pool.release(a[:1] * 2)
    with pytest.raises(ValueError, match="not in this pool"):
        pool.release(["7"])


def test_acquire_blocks_until_enough_are_free():
    pool = GpuPool(["0", "1"])
    held = pool.acquire(2)
    got: list[tuple[str, ...]] = []
    waiter = threading.Thread(target=lambda: got.append(pool.acquire(1)))
    waiter.start()
    assert stays_false(lambda: got)  # still waiting
    pool.release(held[:1])
    waiter.join(timeout=5)
    assert got == [held[:1]]


def test_concurrent_trials_never_share_a_gpu():
    pool = GpuPool([str(i) for i in range(4)])
    in_use: set[str] = set()
    clashes: list[str] = []
    guard = threading.Lock()

    def trial(n: int) -> None:
        for _ in range(20):
            with pool.lease(n) as ids:
                with guard:
                    clashes.extend(i for i in ids if i in in_use)
                    in_use.update(ids)
                os.sched_yield()  # let the other trials run while these GPUs are held
                with guard:
                    in_use.difference_update(ids)

    threads = [threading.Thread(target=trial, args=(n,)) for n in (1, 2, 3, 1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert clashes == []
    assert sorted(pool.free()) == ["0", "1", "2", "3"]


def test_cpu_only_pool_serves_zero_gpu_trials():
    pool = GpuPool([])
    assert pool.size == 0
    assert pool.acquire(0) == ()
    with pytest.raises(ValueError, match="needs 1 GPUs but this machine's pool has 0"):
        pool.acquire(1)


def test_declared_ids_win_over_detection():
    pool = GpuPool.from_machine(["GPU-aaa", "GPU-bbb"])
    assert pool.acquire(2) == ("GPU-aaa", "GPU-bbb")
    with pytest.raises(ValueError, match="duplicate"):
        GpuPool(["0", "0"])
