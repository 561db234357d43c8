"""The results store: measured trials are found by id in committed reports (any experiment
name), re-scored for the experiment that takes them, and a run that finds every trial
measures nothing and writes no second report. Search methods learn reused results
before they propose.

The stored reports are written by the real report writer from results given as data; a
run that finds everything starts no engine, so these tests need no genai-bench.
"""

from __future__ import annotations

import json
from pathlib import Path

from tuneops.deployments.common.backend import Backend
from tuneops.runner.report import provenance, write_report
from tuneops.runner.results import COMPLETED, FAILED_INFRA, TrialResult
from tuneops.runner.run import RunOptions, run_experiment
from tuneops.runner.search import make_searcher
from tuneops.runner.store import ResultStore

from tests import e2e_helpers as h
from tuneops.plan import make_plan

SLOS = [{"metric": "ttft.p99", "max": 500}]


class NoEngines(Backend):
    """Fails the test if the runner tries to start anything."""

    records_runner = True

    def start(self, launch):  # pragma: no cover - reaching it is the failure
        raise AssertionError(f"the runner measured {launch.trial_id}")

    def stop(self, deployment):  # pragma: no cover
        raise AssertionError("nothing to stop")

    def reap(self, owner):
        return []


def stored(tmp_path: Path, exp_path: Path, ttft: dict[int, float], *, run_id: str,
           status=COMPLETED) -> Path:
    exp = h.load(exp_path)
    results = [
        TrialResult(t.id, t.index, t.params, t.args, status,
                    metrics={"D(32,32)": {2: {"output_throughput_per_gpu": 100.0 * (i + 1),
                                              "ttft.p99": ttft[t.params["max-running-requests"]],
                                              "error_rate": 0.0}}},
                    simulated=True)
        for i, t in enumerate(make_plan(exp).trials)
    ]
    return write_report(tmp_path / "reports" / exp.name / run_id, exp, results, run_id=run_id,
                        manifests_root=None)


def opts(tmp_path: Path, **kw) -> RunOptions:
    return RunOptions(runs_root=tmp_path / "runs", reports_root=tmp_path / "reports",
                      quiet=True, backend=NoEngines(), **kw)


def test_a_rerun_of_a_finished_experiment_measures_nothing(tmp_path):
    exp_path = h.write_experiment(tmp_path, "grid", slos=SLOS)
    report = stored(tmp_path, exp_path, {8: 100.0, 64: 900.0}, run_id="20261130T000000Z-a")
    summary = run_experiment(h.load(exp_path), opts(tmp_path))
    assert summary.reused == 2 and summary.report_dir == report, "no second report"
    assert summary.describe().splitlines()[0] == (
        "nothing measured: all 2 trial(s) reused from earlier reports (--fresh measures again)")
    assert [p.name for p in (tmp_path / "reports" / "grid").iterdir()] == [report.name]
    # re-scored under this experiment: 64's ttft breaks the SLO, so 8 is best
    assert summary.best.params == {"max-running-requests": 8}
    journal = (summary.run_dir / "journal.jsonl").read_text()
    assert journal.count('"reused_from":"reports/grid/20261130T000000Z-a"') == 2


def test_another_experiment_reuses_by_trial_id_and_its_report_says_so(tmp_path):
    old = h.write_experiment(tmp_path / "a", "old-name", slos=SLOS,
                             parameters={"max-running-requests": [8]})
    stored(tmp_path, old, {8: 100.0}, run_id="20261130T000000Z-a")
    new = h.write_experiment(tmp_path / "b", "new-name", slos=SLOS)  # grid 8, 64
    summary = run_experiment(h.load(new), RunOptions(
        runs_root=tmp_path / "runs", reports_root=tmp_path / "reports", quiet=True,
        backend=NoEngines(), max_trials=1))
    assert summary.reused == 1 and summary.report_dir is not None
    doc = json.loads((summary.report_dir / "results.json").read_text())
    [trial] = doc["trials"]
    assert trial["reused_from"] == "reports/old-name/20261130T000000Z-a"
    assert doc["summary"]["reused"] == 1
    assert "← `reports/old-name/20261130T000000Z-a`" in (summary.report_dir / "report.md"
                                                        ).read_text()


def test_fresh_and_infra_failures_are_measured_again(tmp_path):
    exp_path = h.write_experiment(tmp_path, "grid", slos=SLOS)
    stored(tmp_path, exp_path, {8: 100.0, 64: 100.0}, run_id="20261130T000000Z-a",
           status=FAILED_INFRA)
    store = ResultStore.scan(tmp_path / "reports")
    exp = h.load(exp_path)
    assert store.take(exp, make_plan(exp).trials, {}) == []
    stored(tmp_path, exp_path, {8: 100.0, 64: 100.0}, run_id="20261130T000001Z-b")
    store = ResultStore.scan(tmp_path / "reports")
    assert len(store.take(exp, make_plan(exp).trials, {})) == 2
    try:
        run_experiment(exp, opts(tmp_path, fresh=True))
    except AssertionError as exc:
        assert "the runner measured" in str(exc)
    else:
        raise AssertionError("--fresh reused stored results")


def test_random_and_bayesian_search_learn_reused_results_before_proposing(tmp_path):
    for method in ("random", "bayesian"):
        exp_path = h.write_experiment(tmp_path / method, f"s-{method}", slos=SLOS,
                                      search={"method": method, "maxTrials": 2, "seed": 3})
        stored(tmp_path / method, exp_path, {8: 100.0, 64: 100.0},
               run_id="20261130T000000Z-a")
        summary = run_experiment(h.load(exp_path), RunOptions(
            runs_root=tmp_path / method / "runs", reports_root=tmp_path / method / "reports",
            quiet=True, backend=NoEngines()))
        assert summary.reused == 2 and len(summary.results) == 2
        exp = h.load(exp_path)
        searcher = make_searcher(exp, make_plan(exp))
        for r in ResultStore.scan(tmp_path / method / "reports").take(
                exp, make_plan(exp).trials, {}):
            searcher.tell(r)
        assert searcher.ask() is None and searcher.done


def test_store_keeps_the_measuring_report_through_a_chain_of_reuse(tmp_path):
    exp_path = h.write_experiment(tmp_path, "grid", slos=SLOS)
    stored(tmp_path, exp_path, {8: 100.0, 64: 100.0}, run_id="20261130T000000Z-a")
    exp = h.load(exp_path)
    taken = ResultStore.scan(tmp_path / "reports").take(exp, make_plan(exp).trials, {})
    write_report(tmp_path / "reports" / "grid" / "20261130T000001Z-b", exp, taken,
                 run_id="20261130T000001Z-b", manifests_root=None)
    again = ResultStore.scan(tmp_path / "reports").take(exp, make_plan(exp).trials, {})
    assert {r.reused_from for r in again} == {"reports/grid/20261130T000000Z-a"}
    assert all(isinstance(r, TrialResult) and r.score is not None for r in again)


def test_a_reused_trial_keeps_its_intervals_samples_and_host_load(tmp_path):
    """Reuse must not make numbers look surer than measured: the intervals (which decide
    the tie set and SLO verdicts), the per-repeat samples and the contention flag come
    back as the measuring run wrote them."""
    from tuneops.runner import rankings
    from tuneops.runner.trial import summarize

    exp_path = h.write_experiment(tmp_path, "noisy", slos=SLOS, benchmark={"repeats": 3})
    exp = h.load(exp_path)
    values = {8: (100.0, 112.0, 90.0), 64: (104.0, 103.0, 105.0)}
    measured = []
    for t in make_plan(exp).trials:
        r = TrialResult(t.id, t.index, t.params, t.args, COMPLETED, simulated=True,
                        measurements=3, contended=t.params["max-running-requests"] == 8,
                        host_load=[{"others_cpu_share": 0.3, "contended": True}],
                        samples={"D(32,32)": {2: [
                            {"output_throughput_per_gpu": v, "ttft.p99": 100.0,
                             "error_rate": 0.0}
                            for v in values[t.params["max-running-requests"]]]}})
        summarize(exp, r)
        measured.append(r)
    write_report(tmp_path / "reports" / "noisy" / "20261130T000000Z-a", exp, measured,
                 run_id="20261130T000000Z-a", manifests_root=None)

    summary = run_experiment(exp, opts(tmp_path))
    assert summary.reused == 2
    by_id = {r.trial_id: r for r in summary.results}
    for before in measured:
        after = by_id[before.trial_id]
        assert after.reused_from == "reports/noisy/20261130T000000Z-a"
        assert after.samples == before.samples and after.measurements == 3
        assert after.contended == before.contended and after.host_load == before.host_load
        assert after.score.objective_low == before.score.objective_low is not None
        assert after.score.objective_n == 3
    # 104 ± 1.2 vs 100.7 ± 27.6: measured, they tie; reused, they still do
    assert len(rankings.ranking(measured, exp).ties) == 2
    assert len(rankings.ranking(summary.results, exp).ties) == 2


def _store_with_two_experiments(tmp_path):
    """The same trials measured by `z-old` (older run) and `a-new` (newer run): names sort
    the other way round from the runs' ages."""
    old = h.write_experiment(tmp_path / "z", "z-old", slos=SLOS,
                             parameters={"max-running-requests": [8]})
    new = h.write_experiment(tmp_path / "a", "a-new", slos=SLOS,
                             parameters={"max-running-requests": [8]})
    stored(tmp_path, old, {8: 100.0}, run_id="20261130T000000Z-a")
    stored(tmp_path, new, {8: 300.0}, run_id="20261201T000000Z-a")
    return ResultStore.scan(tmp_path / "reports"), h.load(new)


def test_the_newest_report_wins_whatever_the_experiments_are_called(tmp_path):
    """Rule: reports are read oldest run first (by run id, a UTC timestamp) so a later one
    overrides; ordering by experiment name first would let z-old's stale value win."""
    store, exp = _store_with_two_experiments(tmp_path)
    (tid,) = store.found
    assert store.found[tid].source == "reports/a-new/20261201T000000Z-a"
    got = store.lookup(exp, make_plan(exp).trials[0])
    assert got.metrics["D(32,32)"][2]["ttft.p99"] == 300.0


def test_current_report_is_the_newest_of_identical_ones(tmp_path):
    """Rule: of two reports of the same file with the same trials, the newer is current."""
    exp_path = h.write_experiment(tmp_path, "grid", slos=SLOS)
    first = stored(tmp_path, exp_path, {8: 100.0, 64: 900.0}, run_id="20261130T000000Z-a")
    second = stored(tmp_path, exp_path, {8: 100.0, 64: 900.0}, run_id="20261201T000000Z-a")
    store = ResultStore.scan(tmp_path / "reports")
    doc = json.loads((second / "results.json").read_text())
    ids = {t["trial_id"] for t in doc["trials"]}
    sha = doc["experiment"]["sha256"]
    assert store.current_report(h.load(exp_path), sha, ids) == second != first
    assert store.current_report(h.load(exp_path), "0" * 64, ids) is None  # another file
    assert store.current_report(h.load(exp_path), sha, ids - {min(ids)}) is None


def _set_host(report: Path, **facts) -> None:
    doc = json.loads((report / "results.json").read_text())
    doc["hardware"]["host"].update(facts)
    (report / "results.json").write_text(json.dumps(doc))


def test_a_report_measured_on_another_processor_is_never_reused(tmp_path):
    """Rule: a CPU engine's tokens per second belong to the processor that produced them
    (the quickstart measured 419 tok/s on an AMD EPYC host and 252 on an Intel Xeon one),
    so a report whose recorded host differs from this one is history, not a measurement."""
    exp_path = h.write_experiment(tmp_path, "grid", slos=SLOS)
    report = stored(tmp_path, exp_path, {8: 100.0, 64: 100.0}, run_id="20261130T000000Z-a")
    exp = h.load(exp_path)
    here = provenance.host_facts()
    assert len(ResultStore.scan(tmp_path / "reports", host=here).take(
        exp, make_plan(exp).trials, {})) == 2, "this host's report is reused"
    elsewhere = {**here, "cpu_model": "Some Other CPU"}
    store = ResultStore.scan(tmp_path / "reports", host=elsewhere)
    assert store.take(exp, make_plan(exp).trials, {}) == []
    assert any("measured on another host" in r and "cpu_model" in r for r in store.refused)
    # cores and architecture count as much as the model name
    for key, value in (("cpu_cores", 1024), ("machine", "riscv64")):
        store = ResultStore.scan(tmp_path / "reports", host={**here, key: value})
        assert store.take(exp, make_plan(exp).trials, {}) == [], key
    # a fact the report did not record does not refuse it
    _set_host(report, cpu_model=None)
    assert len(ResultStore.scan(tmp_path / "reports", host=elsewhere).take(
        exp, make_plan(exp).trials, {})) == 2


def test_the_runner_measures_again_what_another_host_measured(tmp_path):
    exp_path = h.write_experiment(tmp_path, "grid", slos=SLOS)
    report = stored(tmp_path, exp_path, {8: 100.0, 64: 100.0}, run_id="20261130T000000Z-a")
    _set_host(report, cpu_model="Some Other CPU")
    try:
        run_experiment(h.load(exp_path), opts(tmp_path))
    except AssertionError as exc:  # NoEngines: the runner went to measure
        assert "the runner measured" in str(exc)
    else:
        raise AssertionError("a report from another host was reused instead of measured")
