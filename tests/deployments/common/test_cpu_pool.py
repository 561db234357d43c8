"""Parallel CPU trials get disjoint core sets, and engines really run on theirs."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from tuneops.deployments.base import Launch
from tuneops.deployments.common.cpu_pool import CpuPool, available_cores, split
from tuneops.deployments.common.cpus import pin_process
from tuneops.deployments.docker.backend import run_spec as docker_run_spec
from tuneops.runner import run as run_mod

from tests.helpers.polling import wait_until
from tests.paths import ROOT
from tuneops.validate import load_experiment

REPO = ROOT


def test_split_gives_equal_disjoint_shares():
    assert split(range(8), 2) == [(0, 1, 2, 3), (4, 5, 6, 7)]
    assert split(range(7), 3) == [(0, 1), (2, 3), (4, 5)]  # the remainder stays unused
    assert split(range(2), 4) == [(0,), (1,)]  # never less than one core a trial
    assert split(range(8), 1) == [()]  # one trial at a time: no pinning


def test_pool_lends_each_share_to_one_trial_at_a_time():
    pool = CpuPool(2, cores=range(4))
    a, b = pool.acquire(), pool.acquire()
    assert set(a).isdisjoint(b) and sorted(a + b) == [0, 1, 2, 3]
    with pytest.raises(TimeoutError):
        pool.acquire(timeout=0.05)
    pool.release(a)
    assert pool.acquire(timeout=1) == a
    pool.release(b)
    with pytest.raises(ValueError, match="twice"):
        pool.release(b)


def test_concurrent_trials_never_share_a_core():
    pool = CpuPool(3, cores=range(6))
    held: list[set[int]] = []
    lock = threading.Lock()
    clashes = []

    def trial() -> None:
        cores = pool.acquire()
        with lock:
            clashes.extend(c for h in held for c in cores if c in h)
            held.append(set(cores))
        os.sched_yield()  # let the other trials run while these cores are held
        with lock:
            held.remove(set(cores))
        pool.release(cores)

    threads = [threading.Thread(target=trial) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert clashes == []


def test_single_trial_runs_are_not_pinned():
    assert CpuPool(1).acquire() == ()


def test_pin_moves_a_running_engine_and_its_threads():
    core = available_cores()[-1]
    # a child with a second thread already running: both must end up on the core
    child = subprocess.Popen([sys.executable, "-c",
                              "import threading, time; threading.Thread(target=time.sleep, "
                              "args=(30,), daemon=True).start(); time.sleep(30)"])
    try:
        wait_until(lambda: len(os.listdir(f"/proc/{child.pid}/task")) >= 2,
                   what="the child's second thread")
        pin_process(child.pid, (core,))
        tids = [int(t) for t in os.listdir(f"/proc/{child.pid}/task")]
        assert len(tids) >= 2
        assert all(os.sched_getaffinity(t) == {core} for t in tids)
    finally:
        child.kill()
        child.wait()


def _launch(cpus=()):
    return Launch(trial_id="t", owner="e/r", command=["x"], env={}, container_port=8080,
                  health_path="/health", gpus=(), log_dir=Path("/tmp"),
                  spec={"image": "img", "command": ["x"]}, cpus=cpus)


def test_docker_trials_get_their_cpuset():
    assert docker_run_spec(_launch((2, 3)))["cpuset_cpus"] == "2,3"
    assert "cpuset_cpus" not in docker_run_spec(_launch())


def test_which_experiments_pin(tmp_path):
    quick = load_experiment(REPO / "experiments/examples/quickstart.yaml")
    assert not run_mod._cpu_pool(quick).pinning  # one trial at a time
    text = (REPO / "experiments/examples/quickstart.yaml").read_text().replace(
        "  seed: 0", "  seed: 0\n  parallelTrials: 2")
    path = tmp_path / "q.yaml"
    path.write_text(text)
    parallel = load_experiment(path)
    assert parallel.search.parallel_trials == 2
    if len(available_cores()) >= 2:
        assert run_mod._cpu_pool(parallel).pinning
    sim = load_experiment(REPO / "experiments/examples/sim-small.yaml")
    assert not run_mod._cpu_pool(sim).pinning  # modelled GPUs: nothing to pin
