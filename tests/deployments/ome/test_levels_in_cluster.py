"""Early stop and goodput bisection in OME mode: one BenchmarkJob per level, the next level
chosen by the runner's walk (runner/bench/levels.py) from the result the last job wrote.
Here the jobs are played by a fake that writes genai-bench's result file where the job's
results come back (fast); test_benchmark_pod.py runs the same path through the stand-in."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from tuneops.deployments.ome import benchmark as ome_benchmark
from tuneops.runner import bench

from tests.ome_standin import write_sim_experiment
from tuneops.validate import validate_file

FIXTURE = (Path(__file__).resolve().parents[2] / "fixtures" / "genai_bench" / "ok"
           / "D20_10_text-to-text_num_concurrency_1_time_1s.json")  # ttft p99 18.6 ms


def _run_at(level: int) -> dict:
    """The fixture's run as if measured at `level`, its latencies `level` times longer."""
    data = json.loads(FIXTURE.read_text())
    agg = data["aggregated_metrics"]
    agg["num_concurrency"] = level
    agg["stats"]["ttft"] = {k: v * level for k, v in agg["stats"]["ttft"].items()}
    for req in data["individual_request_metrics"]:
        req["ttft"] *= level
    return data


class FakeJobs(ome_benchmark.ClusterBenchmarks):
    """Each BenchmarkJob 'runs' at once and leaves its one level's result file."""

    def __init__(self) -> None:
        self.jobs: list[dict] = []

    def _run_job(self, deployment, job, folder, log, timeout_s, cancel):
        self.jobs.append(job)
        (level,) = job["spec"]["numConcurrency"]
        folder.mkdir(parents=True, exist_ok=True)
        name = f"D20_10_text-to-text_num_concurrency_{level}_time_1s.json"
        (folder / name).write_text(json.dumps(_run_at(level)))
        return "Completed", ""


def _experiment(tmp_path: Path, concurrency: str, ttft_max_ms: float, objective: str):
    path = write_sim_experiment(tmp_path / "exp.yaml", "pvc://bench-results/tuneops")
    text = path.read_text().replace('["D(32,16)"]', '["D(20,10)"]')
    text = text.replace("  concurrency: [2]\n", f"  concurrency: {concurrency}\n")
    text = text.replace("objective:", f"slos: [{{metric: ttft.p99, max: {ttft_max_ms}}}]\n"
                        "objective:").replace("concurrency: 2}", f"concurrency: {objective}}}")
    path.write_text(text)
    exp, errors = validate_file(path)
    assert errors == [], errors
    return exp


def _measure(exp, tmp_path: Path) -> tuple[FakeJobs, object]:
    jobs = FakeJobs()
    template = {"metadata": {"name": "t", "namespace": "tuneops"},
                "spec": {"outputLocation": {"storageUri": "pvc://bench-results/tuneops"},
                         "trafficScenarios": ["D(20,10)"], "numConcurrency": [1, 2, 4]}}
    deployment = SimpleNamespace(launch=SimpleNamespace(gpu_count=1),
                                 handle=SimpleNamespace(benchmark=template))
    assert ome_benchmark.by_level(exp)
    outcome = jobs._measure_by_level(deployment, exp, tmp_path / "attempt-1" / "genai-bench",
                                     bench, None)
    return jobs, outcome


def _levels(jobs: FakeJobs) -> list[int]:
    return [j["spec"]["numConcurrency"][0] for j in jobs.jobs]


def test_bisection_runs_one_job_per_level_the_walk_picks(tmp_path):
    # 18.6 ms at 1, 37 ms at 2, 56 ms at 3: the highest level within 40 ms is 2
    jobs, outcome = _measure(_experiment(tmp_path, "{search: bisect, low: 1, high: 4}", 40,
                                         "max"), tmp_path)
    assert outcome.ok, outcome.reason
    assert _levels(jobs) == [1, 4, 2, 3]
    assert all(len(j["spec"]["numConcurrency"]) == 1 for j in jobs.jobs)
    uris = [j["spec"]["outputLocation"]["storageUri"] for j in jobs.jobs]
    assert len(set(uris)) == 4
    assert all(f"-s0-c{c}-" in u for c, u in zip([1, 4, 2, 3], uris, strict=True))
    assert sorted(outcome.metrics["D(20,10)"]) == [1, 2, 3, 4]
    assert {v["max_slo_concurrency"] for v in outcome.metrics["D(20,10)"].values()} == {2.0}


def test_early_stop_runs_no_job_past_the_level_that_lost_an_slo(tmp_path):
    jobs, outcome = _measure(_experiment(tmp_path, "[1, 2, 4]", 1, "1"), tmp_path)
    assert _levels(jobs) == [1]
    assert outcome.not_run == ["D(20,10)@2: not run: SLO lost at 1 (ttft.p99)",
                               "D(20,10)@4: not run: SLO lost at 1 (ttft.p99)"]
    assert list(outcome.metrics["D(20,10)"]) == [1]


def test_one_job_measures_every_level_when_nothing_is_decided_between_them(tmp_path):
    exp = _experiment(tmp_path, "[1, 2, 4]", 1, "1")
    assert ome_benchmark.by_level(exp)
    text = (tmp_path / "exp.yaml").read_text().replace(
        "  maxRequestsPerRun: 6\n", "  maxRequestsPerRun: 6\n  earlyStop: false\n")
    (tmp_path / "exp.yaml").write_text(text)
    assert not ome_benchmark.by_level(validate_file(tmp_path / "exp.yaml")[0])
