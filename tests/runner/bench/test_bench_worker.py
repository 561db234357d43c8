"""The long-lived genai-bench worker against the simulator: the same numbers as the CLI,
nothing leaking between trials, and its own hangs and crashes handled.

Every test here runs real genai-bench code (the worker imports it) against a real
simulator process; nothing is stubbed.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from tuneops.runner import bench, hostload
from tuneops.runner.bench import worker
from tuneops.runner.bench.command import RESULTS_FOLDER
from tuneops.runner.bench.worker import WorkerPool

from tests.sim_helpers import SimServer, make_catalog, make_tokenizer, sim_env
from tuneops.metrics import MAX_SLO_CONCURRENCY
from tuneops.spec import from_document

pytestmark = [pytest.mark.genai_bench, pytest.mark.slow]

# 70B on 4 x L40S: ~55 ms per token, TTFT ~0.1-0.2 s: large next to genai-bench's own client
# overhead (a new HTTP session per request, ~5-12 ms here), so both paths measure the model.
SIM_ARGS = ["--model-path", "meta-llama/Llama-3.1-70B-Instruct", "--gpu-type", "L40S",
            "--tp-size", "4", "--served-model-name", "sim-llama"]
SCENARIO = "D(32,24)"


def make_exp(tokenizer: Path, levels=(1, 4), requests=4, slos=(), **bench_extra):
    return from_document({
        "metadata": {"name": "worker-test"},
        "model": {"id": "org/m", "servedName": "sim-llama", "tokenizer": str(tokenizer)},
        "engine": {"name": "sim", "version": "0.5.23"},
        "deployment": {"mode": "local", "gpus": {"count": 1, "type": "H100"}},
        "benchmark": {"trafficScenarios": [SCENARIO], "concurrency": levels,
                      "maxTimePerRun": 1, "maxRequestsPerRun": requests, **bench_extra},
        "objective": {"metric": "output_throughput"},
        "slos": list(slos),
    })


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sim")
    tokenizer = make_tokenizer(tmp / "tok")
    env = sim_env(make_catalog(tmp / "sglang.json"), tokenizer)
    with SimServer(SIM_ARGS, env, tmp / "sim.log") as srv:
        srv.wait_healthy()
        yield srv, tokenizer


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    with WorkerPool(1, tmp_path_factory.mktemp("workers")) as p:
        yield p


def _runs(folder: Path) -> dict[int, dict]:
    out = {}
    for path in folder.glob("*_num_concurrency_*.json"):
        data = json.loads(path.read_text())
        out[data["aggregated_metrics"]["num_concurrency"]] = data
    return out


def _keys(value, prefix=""):
    """Every key path of a JSON document (list items merged)."""
    if isinstance(value, dict):
        return {k2 for k, v in value.items() for k2 in {prefix + k} | _keys(v, prefix + k + ".")}
    if isinstance(value, list):
        return set().union(*(_keys(v, prefix + "[].") for v in value)) if value else set()
    return set()


def _stats(p: WorkerPool) -> dict:
    with p.lease() as w:
        return w.call({"op": "stats"}, 60)


def test_worker_writes_what_the_cli_writes_and_measures_the_same(sim, pool, tmp_path):
    srv, tokenizer = sim
    exp = make_exp(tokenizer)
    cli = bench.run(exp, srv.base, tmp_path / "cli", gpu_count=1)
    wrk = bench.run(exp, srv.base, tmp_path / "worker", gpu_count=1, workers=pool)
    assert cli.ok, cli.reason
    assert wrk.ok, wrk.reason
    cli_dir, wrk_dir = tmp_path / "cli" / RESULTS_FOLDER, tmp_path / "worker" / RESULTS_FOLDER

    # The same files, minus what tuneops never reads (asked for: keepGenaiBenchArtifacts).
    # genai-bench puts each run's length in whole seconds into its file name
    # (..._time_2s.json): two runs of one level may differ by a second on a busy machine.
    def names(folder, keep=lambda p: True):
        return sorted(re.sub(r"_time_\d+s\.json$", "_time_Ns.json", p.name)
                      for p in folder.iterdir() if keep(p))

    assert names(wrk_dir) == names(cli_dir, lambda p: p.suffix == ".json")
    assert any(p.suffix == ".xlsx" for p in cli_dir.iterdir())  # what the worker skipped
    cli_meta = json.loads((cli_dir / "experiment_metadata.json").read_text())
    wrk_meta = json.loads((wrk_dir / "experiment_metadata.json").read_text())
    assert set(wrk_meta) == set(cli_meta)
    for key in ("num_concurrency", "traffic_scenario", "api_backend", "task",
                "max_requests_per_run", "max_time_per_run_s", "server_engine"):
        assert wrk_meta[key] == cli_meta[key], key

    cli_runs, wrk_runs = _runs(cli_dir), _runs(wrk_dir)
    assert set(cli_runs) == set(wrk_runs) == {1, 4}
    for c in (1, 4):
        assert _keys(wrk_runs[c]) == _keys(cli_runs[c])
        a, b = cli.metrics[SCENARIO][c], wrk.metrics[SCENARIO][c]
        assert set(a) == set(b)
        assert a["error_rate"] == b["error_rate"] == 0.0
        assert b["num_completed_requests"] >= 4
        for base in ("ttft", "tpot", "e2e_latency", "output_inference_speed"):
            sa = cli_runs[c]["aggregated_metrics"]["stats"][base]
            sb = wrk_runs[c]["aggregated_metrics"]["stats"][base]
            assert abs(sb["mean"] - sa["mean"]) <= _noise(sa, sb, a, b), (c, base, sa, sb)
        # Throughput divides by genai-bench's run time, counted in whole seconds by the same
        # manage_run_time in both paths: one second either way of a boundary, plus the 10 %.
        band = 1.0 / min(a["run_duration_s"], b["run_duration_s"]) + 0.10
        assert b["output_throughput"] == pytest.approx(a["output_throughput"], rel=band)


def _noise(sa: dict, sb: dict, a: dict, b: dict) -> float:
    """How far two runs' means may lie apart by chance: three standard errors of the
    difference, from the requests' own spread (chance alone exceeds it ~0.3 % of the time);
    never less than 10 % of the mean, the simulator fidelity test's bound for either path
    against the model (client overhead of ~5-12 ms a request drifts with the machine's
    load between two runs)."""
    na, nb = a["num_completed_requests"], b["num_completed_requests"]
    se = (sa["stddev"] ** 2 / na + sb["stddev"] ** 2 / nb) ** 0.5
    return max(3 * se, 0.10 * abs(sa["mean"]))


def test_no_state_leaks_between_trials_in_one_worker(sim, pool, tmp_path):
    """On the module's worker (whatever other tests ran on it before): what one trial
    leaves behind would show in the next one's stats."""
    srv, tokenizer = sim
    exp = make_exp(tokenizer, levels=(1, 2), requests=3)
    p, started = pool, pool.started
    seen, outcomes = [], []
    for i in range(4):
        o = bench.run(exp, srv.base, tmp_path / f"t{i}", gpu_count=1, workers=p)
        assert o.ok, o.reason
        outcomes.append(o)
        seen.append(_stats(p))
    assert p.started == max(started, 1)  # one worker served every trial
    pids = {s["pid"] for s in seen}
    assert len(pids) == 1
    for s in seen:
        assert s["tasks"] == 0, s  # no user, runner or handler greenlet outlives its trial
        assert s["sockets"] == 0, s
        assert s["files"] == seen[0]["files"], seen  # no log or result file left open
        assert s["threadpool"] <= s["threadpool_max"]
        # gevent's DNS thread pool keeps a bounded set of idle threads with wake-up pipes
        assert s["pipes"] <= seen[0]["pipes"] + 2 * s["threadpool_max"], seen
        assert s["tokenizers"] == 1  # loaded once, reused
    # Results stay sane trial after trial: every run complete, latencies of one kind.
    ttft = [o.metrics[SCENARIO][1]["ttft.mean"] for o in outcomes]
    for o in outcomes:
        for c in (1, 2):
            m = o.metrics[SCENARIO][c]
            assert m["num_completed_requests"] >= 3 and m["error_rate"] == 0.0
    assert max(ttft) <= 2 * min(ttft), ttft


def _pid(p: WorkerPool) -> int:
    return _stats(p)["pid"]


def test_a_hung_worker_is_killed_and_replaced(sim, tmp_path):
    srv, tokenizer = sim
    exp = make_exp(tokenizer, levels=(1,), requests=2)
    with WorkerPool(1, tmp_path / "w") as p:
        pid = _pid(p)
        os.kill(pid, signal.SIGSTOP)  # a real hang: the process stops answering
        with p.lease() as w:
            # the 3 s answer timeout is what ends the call (pytest-timeout bounds a hang)
            with pytest.raises(worker.WorkerFailure, match="did not answer"):
                w.call({"op": "stats"}, 3)
            assert not w.alive
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # killed, not left stopped
        o = bench.run(exp, srv.base, tmp_path / "after", gpu_count=1, workers=p)
        assert o.ok, o.reason
        assert p.started == 2 and _pid(p) != pid


def test_a_trial_whose_worker_hangs_mid_level_is_an_infra_failure(sim, tmp_path):
    srv, tokenizer = sim
    exp = make_exp(tokenizer, levels=(1,), requests=50)
    with WorkerPool(1, tmp_path / "w") as p:
        pid = _pid(p)
        threading.Timer(2.0, os.kill, (pid, signal.SIGSTOP)).start()
        o = worker.run(p, exp, srv.base, tmp_path / "t", gpu_count=1, level_timeout_s=6)
        assert not o.ok and o.infra and not o.cancelled
        assert "did not answer" in o.reason
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_crashed_worker_is_an_infra_failure_and_the_next_trial_gets_a_fresh_one(
        sim, tmp_path):
    srv, tokenizer = sim
    exp = make_exp(tokenizer, levels=(1,), requests=50)
    with WorkerPool(1, tmp_path / "w") as p:
        pid = _pid(p)
        threading.Timer(2.0, os.kill, (pid, signal.SIGKILL)).start()
        o = worker.run(p, exp, srv.base, tmp_path / "t", gpu_count=1)
        assert not o.ok and o.infra
        assert "exited with" in o.reason
        exp2 = make_exp(tokenizer, levels=(1,), requests=2)
        o2 = worker.run(p, exp2, srv.base, tmp_path / "t2", gpu_count=1)
        assert o2.ok, o2.reason
        assert p.started == 2


def test_cancel_kills_the_worker_and_reports_cancelled(sim, tmp_path):
    srv, tokenizer = sim
    exp = make_exp(tokenizer, levels=(1,), requests=50)
    cancel = threading.Event()
    with WorkerPool(1, tmp_path / "w") as p:
        threading.Timer(2.0, cancel.set).start()
        o = worker.run(p, exp, srv.base, tmp_path / "t", gpu_count=1, cancel=cancel)
        assert o.cancelled and not o.ok and not o.infra


def test_options_genai_bench_rejects_are_a_benchmark_failure_not_a_worker_failure(
        sim, pool, tmp_path):
    srv, tokenizer = sim
    pid = _pid(pool)
    bad = make_exp(tokenizer, levels=(1,), requests=2, trafficScenarios=["Z(1)"])
    o = worker.run(pool, bad, srv.base, tmp_path / "bad", gpu_count=1)
    assert not o.ok and not o.infra
    assert "genai-bench refused the trial" in o.reason and "Z(1)" in o.reason
    # A task the engine cannot serve: every request fails; a benchmark failure too.
    rerank = make_exp(tokenizer, levels=(1,), requests=2, task="text-to-rerank")
    o = worker.run(pool, rerank, srv.base, tmp_path / "rerank", gpu_count=1)
    assert not o.ok and not o.infra
    assert "no request of a run succeeded" in o.reason
    assert _pid(pool) == pid  # the same worker still serves
    assert _stats(pool)["tasks"] == 0


def test_early_stop_skips_the_levels_above_a_lost_slo(sim, pool, tmp_path):
    srv, tokenizer = sim
    # 1 ms p99 TTFT cannot hold (the model's prefill alone is ~100 ms): lost at level 1.
    exp = make_exp(tokenizer, levels=(4, 1, 2), requests=6,
                   slos=[{"metric": "ttft.p99", "max": 1}])
    o = worker.run(pool, exp, srv.base, tmp_path / "t", gpu_count=1)
    assert o.ok, o.reason
    assert sorted(o.metrics[SCENARIO]) == [1]
    assert o.not_run == [f"{SCENARIO}@2: not run: SLO lost at 1 (ttft.p99)",
                         f"{SCENARIO}@4: not run: SLO lost at 1 (ttft.p99)"]
    meta = json.loads((tmp_path / "t" / RESULTS_FOLDER / "experiment_metadata.json")
                      .read_text())
    assert meta["num_concurrency"] == [1]

    off = make_exp(tokenizer, levels=(1, 2), requests=3, earlyStop=False,
                   slos=[{"metric": "ttft.p99", "max": 1}])
    o = worker.run(pool, off, srv.base, tmp_path / "off", gpu_count=1)
    assert sorted(o.metrics[SCENARIO]) == [1, 2] and o.not_run == []


def test_bisect_finds_the_highest_concurrency_within_the_slo(sim, pool, tmp_path):
    """Its own simulator (two running requests at most), measured by the module's worker
    with the module's tokenizer (the worker keeps one loaded: test_no_state_leaks...)."""
    _, tokenizer = sim
    env = sim_env(make_catalog(tmp_path / "sglang.json"), tokenizer)
    # Two running requests at most: from concurrency 3 on, a request waits for a whole
    # decode (~24 tokens x ~55 ms) before its prefill: its p90 TTFT jumps past 600 ms.
    args = [*SIM_ARGS, "--max-running-requests", "2"]
    exp = make_exp(tokenizer, levels={"search": "bisect", "low": 1, "high": 8}, requests=6,
                   slos=[{"metric": "ttft.p90", "max": 600}])
    with SimServer(args, env, tmp_path / "sim.log") as srv:
        srv.wait_healthy()
        o = worker.run(pool, exp, srv.base, tmp_path / "t", gpu_count=1)
    assert o.ok, o.reason
    measured = sorted(o.metrics[SCENARIO])
    assert measured == [1, 2, 3, 4, 8]  # 1, 8, then 4, 2, 3: not every level in 1..8
    for c in measured:
        assert o.metrics[SCENARIO][c][MAX_SLO_CONCURRENCY] == 2.0
    assert o.metrics[SCENARIO][2]["ttft.p90"] <= 600 < o.metrics[SCENARIO][3]["ttft.p90"]


def test_keep_artifacts_writes_genai_bench_xlsx_and_plots(sim, pool, tmp_path):
    srv, tokenizer = sim
    exp = make_exp(tokenizer, levels=(1,), requests=2, keepGenaiBenchArtifacts=True)
    o = worker.run(pool, exp, srv.base, tmp_path / "t", gpu_count=1)
    assert o.ok, o.reason
    names = [p.name for p in (tmp_path / "t" / RESULTS_FOLDER).iterdir()]
    assert any(n.endswith("_summary.xlsx") for n in names), names
    assert any(n.endswith(".png") for n in names), names


def test_worker_process_group_is_gone_after_close(tmp_path):
    p = WorkerPool(1, tmp_path / "w")
    with p.lease() as w:
        w.wait_ready()
        pgid = w.proc.pid
    p.close()
    with pytest.raises(ProcessLookupError):
        os.killpg(pgid, 0)


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


def test_a_worker_dies_with_its_runner(tmp_path):
    """A runner killed with SIGKILL cannot close its workers: they go with it. A forked
    helper keeps the worker's stdin open, so only the parent-death signal can end it."""
    code = ("import os, sys, time\nfrom tuneops.runner.bench.worker import BenchWorker\n"
            "w = BenchWorker(sys.argv[1])\nw.wait_ready()\nholder = os.fork()\n"
            "if holder == 0:\n    time.sleep(120)\n    os._exit(0)\n"
            "print(w.proc.pid, holder, flush=True)\ntime.sleep(120)\n")
    runner = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)],
                              stdout=subprocess.PIPE, text=True)
    holder = None
    try:
        pid, holder = map(int, runner.stdout.readline().split())
        assert not _gone(pid)
        runner.kill()
        runner.wait()
        deadline = time.monotonic() + 60
        while not _gone(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _gone(pid)
    finally:
        runner.kill()
        runner.stdout.close()
        if holder:
            os.kill(holder, signal.SIGKILL)


def test_prune_stops_the_trial_after_the_level_it_names(sim, pool, tmp_path):
    srv, tokenizer = sim
    exp = make_exp(tokenizer, levels=(1, 2, 4), requests=2)
    asked = []

    def prune(scenario, level, values):
        asked.append((scenario, level, values["output_throughput"] > 0))
        return True

    o = worker.run(pool, exp, srv.base, tmp_path / "t", gpu_count=1, prune=prune)
    assert o.ok, o.reason
    assert asked == [(SCENARIO, 1, True)]
    assert sorted(o.metrics[SCENARIO]) == [1]
    assert o.not_run == [f"{SCENARIO}@{c}: not run: pruned at 1 (objective out of reach of "
                         "the best trial so far)" for c in (2, 4)]


def test_the_workers_cpu_time_is_ours_not_contention(sim, pool, tmp_path):
    """A long-lived worker is no reaped child of the runner: only its process group, which
    the pool names, keeps its benchmark CPU time out of others' share (else every run's
    first measurement, which loads the tokenizer, read as a contended host)."""
    srv, tokenizer = sim
    exp = make_exp(tokenizer, levels=(1,), requests=3)
    bench.run(exp, srv.base, tmp_path / "warm", gpu_count=1, workers=pool)  # worker is up
    groups = pool.pgids()
    assert len(groups) == 1 and os.getpgid(groups[0]) == groups[0] != os.getpgid(0)
    before, before_bare = hostload.snapshot(groups), hostload.snapshot()
    assert bench.run(exp, srv.base, tmp_path / "run", gpu_count=1, workers=pool).ok
    after_bare, after = hostload.snapshot(), hostload.snapshot(groups)
    counted, bare = hostload.window(before, after), hostload.window(before_bare, after_bare)
    assert (after["ours"] - before["ours"]) > (after_bare["ours"] - before_bare["ours"])
    assert counted["ours_cpu_share"] > bare["ours_cpu_share"]
