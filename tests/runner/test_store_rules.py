"""The store's deciding rules, one per test, at unit speed: which report folders count,
which report wins for a trial id, which statuses are reused, which report is current.

One report is written by the real report writer (once per module, from results given as
data); each test lays copies of its results.json out under its own reports/ with the one
field its rule is about changed. tests/runner/test_store.py runs the same store inside the
runner, end to end.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from tuneops.runner.report import provenance
from tuneops.runner.results import COMPLETED, FAILED_CONFIG, FAILED_INFRA
from tuneops.runner.store import ResultStore, report_dirs, result_from_entry

from tests import e2e_helpers as h
from tests.runner.test_store import SLOS, stored
from tuneops.plan import make_plan


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """(experiment, its plan's trials, a results.json document of both trials measured)."""
    tmp = tmp_path_factory.mktemp("store")
    exp_path = h.write_experiment(tmp, "grid", slos=SLOS)
    report = stored(tmp, exp_path, {8: 100.0, 64: 900.0}, run_id="20261130T000000Z-a")
    exp = h.load(exp_path)
    return exp, make_plan(exp).trials, json.loads((report / "results.json").read_text())


def put(root: Path, exp_name: str, run_id: str, doc: dict, **trial_fields) -> Path:
    """A copy of `doc` as reports/<exp_name>/<run_id>/results.json, every trial entry
    updated with `trial_fields`."""
    doc = copy.deepcopy(doc)
    doc["experiment"]["name"] = exp_name
    doc["run"]["id"] = run_id
    for t in doc["trials"]:
        t.update(trial_fields)
    run_dir = root / exp_name / run_id
    run_dir.mkdir(parents=True)
    (run_dir / "results.json").write_text(json.dumps(doc))
    return run_dir


def ttft(store: ResultStore, exp, trial) -> float:
    return store.lookup(exp, trial).metrics["D(32,32)"][2]["ttft.p99"]


def with_ttft(doc: dict, value: float) -> dict:
    doc = copy.deepcopy(doc)
    for t in doc["trials"]:
        t["metrics"]["D(32,32)"]["2"]["ttft.p99"] = value
    return doc


# ------------------------------------------------------------------ which folders count


def test_report_folders_are_ordered_by_run_id_before_experiment_name(tmp_path, base):
    """Rule: oldest run first whatever the experiment is called (run ids start with a UTC
    timestamp), so a later report overrides an earlier one."""
    _, _, doc = base
    newer = put(tmp_path, "a-exp", "20261202T000000Z-a", doc)
    older = put(tmp_path, "z-exp", "20261201T000000Z-a", doc)
    same_run_b = put(tmp_path, "b-exp", "20261201T000000Z-a", doc)
    assert report_dirs(tmp_path) == [same_run_b, older, newer]


def test_links_hidden_folders_and_folders_without_results_are_not_reports(tmp_path, base):
    """Rule: only real folders reports/<exp>/<run>/ holding results.json are candidates; a
    linked experiment or run folder, a dot-folder, a loose file, a run without results.json
    are not (a pull request can plant any of them)."""
    _, _, doc = base
    real = put(tmp_path / "reports", "grid", "20261201T000000Z-a", doc)
    put(tmp_path / "elsewhere", "grid", "20261202T000000Z-a", doc)
    (tmp_path / "reports" / "linked-exp").symlink_to(tmp_path / "elsewhere" / "grid")
    (tmp_path / "reports" / "grid" / "20261203T000000Z-a").symlink_to(
        tmp_path / "elsewhere" / "grid" / "20261202T000000Z-a")
    put(tmp_path / "reports", "grid", ".20261204T000000Z-a", doc)
    (tmp_path / "reports" / "grid" / "20261205T000000Z-a").mkdir()
    (tmp_path / "reports" / "grid" / "20261206T000000Z-a.json").write_text("{}")
    (tmp_path / "reports" / "loose.json").write_text("{}")
    assert report_dirs(tmp_path / "reports") == [real]


def test_a_missing_or_linked_reports_root_holds_nothing(tmp_path, base):
    _, _, doc = base
    put(tmp_path / "reports", "grid", "20261201T000000Z-a", doc)
    (tmp_path / "linked").symlink_to(tmp_path / "reports")
    assert report_dirs(tmp_path / "linked") == []
    assert report_dirs(tmp_path / "absent") == []
    assert len(report_dirs(tmp_path / "reports")) == 1


# ------------------------------------------------------------------ which report wins


def test_the_newer_measurement_of_an_id_wins(tmp_path, base):
    exp, trials, doc = base
    put(tmp_path, "z-old", "20261201T000000Z-a", with_ttft(doc, 111.0))
    put(tmp_path, "a-new", "20261202T000000Z-a", with_ttft(doc, 222.0))
    store = ResultStore.scan(tmp_path)
    assert ttft(store, exp, trials[0]) == 222.0
    assert store.found[trials[0].id].source == f"{tmp_path.name}/a-new/20261202T000000Z-a"


def test_a_report_that_reused_never_displaces_the_one_that_measured(tmp_path, base):
    """Rule: the report that measured a trial is its source, even when a newer report
    holds it as reused (its `reused_from` is a claim, not a measurement)."""
    exp, trials, doc = base
    put(tmp_path, "grid", "20261201T000000Z-a", with_ttft(doc, 111.0))
    put(tmp_path, "grid", "20261202T000000Z-a", with_ttft(doc, 222.0),
        reused_from="reports/grid/20261101T000000Z-a")
    store = ResultStore.scan(tmp_path)
    assert ttft(store, exp, trials[0]) == 111.0
    assert store.found[trials[0].id].source.endswith("grid/20261201T000000Z-a")


def test_a_reused_entry_is_named_by_the_report_holding_it_and_a_newer_one_wins(tmp_path, base):
    """Rule: with only reused copies, the newest copy is taken, named by the trusted folder
    it was read from, never by the path its `reused_from` claims; a later measurement then
    displaces it."""
    exp, trials, doc = base
    claim = "reports/elsewhere/20261101T000000Z-a"
    put(tmp_path, "grid", "20261201T000000Z-a", with_ttft(doc, 111.0), reused_from=claim)
    put(tmp_path, "grid", "20261202T000000Z-a", with_ttft(doc, 222.0), reused_from=claim)
    store = ResultStore.scan(tmp_path)
    assert ttft(store, exp, trials[0]) == 222.0
    assert store.lookup(exp, trials[0]).reused_from == \
        f"{tmp_path.name}/grid/20261202T000000Z-a"
    put(tmp_path, "grid", "20261203T000000Z-a", with_ttft(doc, 333.0))
    assert ttft(ResultStore.scan(tmp_path), exp, trials[0]) == 333.0


@pytest.mark.parametrize(("status", "reused"), [
    (COMPLETED, True),  # a measurement of the trial itself
    (FAILED_CONFIG, True),  # settings that cannot work will not work next time either
    (FAILED_INFRA, False),  # the machine failed, not the trial: measure again
    ("failed_benchmark", False),
])
def test_only_outcomes_of_the_trial_itself_are_reused(tmp_path, base, status, reused):
    exp, trials, doc = base
    put(tmp_path, "grid", "20261201T000000Z-a", doc, status=status,
        **({} if status == COMPLETED else {"score": None}))
    got = ResultStore.scan(tmp_path).take(exp, trials, {})
    assert [r.status for r in got] == ([status] * 2 if reused else [])


def test_a_failed_newer_run_does_not_hide_an_older_measurement(tmp_path, base):
    exp, trials, doc = base
    put(tmp_path, "grid", "20261201T000000Z-a", with_ttft(doc, 111.0))
    put(tmp_path, "grid", "20261202T000000Z-a", doc, status=FAILED_INFRA, score=None)
    assert ttft(ResultStore.scan(tmp_path), exp, trials[0]) == 111.0


def test_a_refused_report_is_skipped_whole_and_named(tmp_path, base):
    exp, trials, doc = base
    good = put(tmp_path, "grid", "20261201T000000Z-a", with_ttft(doc, 111.0))
    bad = put(tmp_path, "grid", "20261202T000000Z-a", with_ttft(doc, 222.0))
    (bad / "results.json").write_text("{not json")
    store = ResultStore.scan(tmp_path)
    assert ttft(store, exp, trials[0]) == 111.0
    assert len(store.refused) == 1 and "20261202T000000Z-a" in store.refused[0]
    assert list(store.reports) == [good]


def test_a_report_of_an_older_procedure_is_history(tmp_path, base, monkeypatch):
    """Rule: ids of an older measurement procedure cannot come up again: such a report is
    neither a source of results nor a current report, and not refused either."""
    from tuneops import identity

    exp, trials, doc = base
    put(tmp_path, "grid", "20261201T000000Z-a", doc)
    monkeypatch.setattr(identity, "MEASUREMENT_PROCEDURE", doc["identity"]["procedure"] + 1)
    store = ResultStore.scan(tmp_path)
    assert store.found == {} and store.reports == {} and store.refused == []


def test_a_report_of_another_host_is_refused_and_this_hosts_is_taken(tmp_path, base):
    exp, trials, doc = base
    put(tmp_path, "grid", "20261201T000000Z-a", doc)
    recorded = doc["hardware"]["host"]
    assert len(ResultStore.scan(tmp_path, host=recorded).take(exp, trials, {})) == 2
    store = ResultStore.scan(tmp_path, host={**recorded, "machine": "riscv64"})
    assert store.take(exp, trials, {}) == [] and store.reports == {}
    assert len(store.refused) == 1 and "measured on another host" in store.refused[0]
    assert provenance.other_host(recorded, recorded) == ""


@pytest.mark.parametrize("skipped", ["refused", "newer procedure", "another host"])
def test_a_skipped_report_does_not_end_the_scan(tmp_path, base, skipped):
    """Rule: a report that is skipped (refused whole, of another procedure, measured on
    another host) is passed over, and the reports after it are still read."""
    exp, trials, doc = base
    old = copy.deepcopy(doc)
    if skipped == "newer procedure":
        old["identity"]["procedure"] += 1
    if skipped == "another host":
        old["hardware"]["host"] = {**old["hardware"]["host"], "machine": "riscv64"}
    first = put(tmp_path, "grid", "20261201T000000Z-a", with_ttft(old, 111.0))
    if skipped == "refused":
        (first / "results.json").write_text("{not json")
    put(tmp_path, "grid", "20261202T000000Z-a", with_ttft(doc, 222.0))
    store = ResultStore.scan(tmp_path, host=doc["hardware"]["host"])
    assert ttft(store, exp, trials[0]) == 222.0


# ------------------------------------------------------------------ what a hit gives


def test_a_hit_takes_this_experiments_index_params_and_score(tmp_path, base):
    """Rule: a completed result is scored again under the experiment that takes it (its SLOs
    may differ); a failed_config one has no score to give."""
    exp, trials, doc = base
    put(tmp_path, "grid", "20261201T000000Z-a", doc)
    store = ResultStore.scan(tmp_path)
    got = store.lookup(exp, trials[1])
    assert (got.trial_id, got.index, got.params) == (trials[1].id, 1, dict(trials[1].params))
    assert got.score is not None and got.score.feasible is False  # ttft 900 > 500
    assert store.lookup(exp, trials[0]).score.feasible is True
    put(tmp_path, "grid", "20261202T000000Z-a", doc, status=FAILED_CONFIG, score=None)
    assert ResultStore.scan(tmp_path).lookup(exp, trials[0]).score is None


def test_an_unknown_id_is_no_hit(tmp_path, base):
    exp, trials, doc = base
    store = ResultStore.scan(tmp_path)  # no reports at all
    assert store.lookup(exp, trials[0]) is None and store.take(exp, trials, {}) == []


def test_take_skips_what_the_run_already_has_and_keeps_plan_order(tmp_path, base):
    exp, trials, doc = base
    put(tmp_path, "grid", "20261201T000000Z-a", doc)
    store = ResultStore.scan(tmp_path)
    assert [r.trial_id for r in store.take(exp, trials, {})] == [t.id for t in trials]
    assert [r.trial_id for r in store.take(exp, trials[::-1], {})] == \
        [t.id for t in trials[::-1]]
    have = {trials[0].id: store.lookup(exp, trials[0])}
    assert [r.trial_id for r in store.take(exp, trials, have)] == [trials[1].id]


def test_an_entry_keeps_its_noise_and_at_least_one_attempt(base):
    """Rule: the measured spread, samples and host load come back as written (they decide
    the tie set), empty ones are left at the result's defaults, and a stored attempts of 0
    still means one measurement happened."""
    _, trials, doc = base
    entry = copy.deepcopy(doc["trials"][0])
    entry["attempts"] = 0
    entry["host_load"] = [{"others_cpu_share": 0.3, "contended": True}]
    entry["contended"] = True
    entry["measurements"] = 3
    del entry["durations"]["warmup_s"]
    entry["durations"]["total_s"] = 7.5
    r = result_from_entry(entry, trial_id=trials[0].id, index=5, params={"p": 1},
                          args={"a": 2}, reused_from="reports/x/y")
    assert r.attempts == 1 and r.index == 5 and r.params == {"p": 1} and r.args == {"a": 2}
    assert r.host_load == entry["host_load"] and r.contended is True and r.measurements == 3
    assert r.warmup_s == 0.0 and r.total_s == 7.5 and r.reused_from == "reports/x/y"
    assert r.score is None, "the stored score is left out: the caller scores it"
    entry["attempts"] = 4
    assert result_from_entry(entry, trial_id="t", index=0, params={}, args={},
                             reused_from="").attempts == 4


# ------------------------------------------------------------------ the current report


def test_current_report_is_the_newest_of_this_file_with_exactly_these_trials(tmp_path, base):
    exp, trials, doc = base
    sha = doc["experiment"]["sha256"]
    ids = {t.id for t in trials}
    put(tmp_path, exp.name, "20261201T000000Z-a", doc)
    newest = put(tmp_path, exp.name, "20261203T000000Z-a", doc)
    put(tmp_path, exp.name, "20261202T000000Z-a", doc)
    put(tmp_path, "other-name", "20261204T000000Z-a", doc)  # newer, another experiment
    store = ResultStore.scan(tmp_path)
    assert store.current_report(exp, sha, ids) == newest
    assert store.current_report(exp, None, ids) is None, "an unknown file is never current"
    for other in ("0" * 64, "f" * 64):  # another version of the file, either side of it
        assert store.current_report(exp, other, ids) is None
    assert store.current_report(exp, sha, ids - {trials[0].id}) is None
    assert store.current_report(exp, sha, ids | {"0" * 12}) is None


def test_current_report_passes_over_a_newer_report_of_other_trials(tmp_path, base):
    exp, trials, doc = base
    sha = doc["experiment"]["sha256"]
    both = put(tmp_path, exp.name, "20261201T000000Z-a", doc)
    one = copy.deepcopy(doc)
    one["trials"] = [t for t in one["trials"] if t["trial_id"] == trials[0].id]
    one["pareto"]["trial_ids"] = [t for t in one["pareto"]["trial_ids"]
                                  if t == trials[0].id]
    one["best_trial_id"] = trials[0].id
    one["decision"] = {**one["decision"], "best_trial_id": trials[0].id,
                       "tie_set": [trials[0].id], "contended_trials": []}
    put(tmp_path, exp.name, "20261202T000000Z-a", one)
    store = ResultStore.scan(tmp_path)
    assert store.refused == []
    assert store.current_report(exp, sha, {t.id for t in trials}) == both
    assert store.current_report(exp, sha, {trials[0].id}).name == "20261202T000000Z-a"


def test_current_report_passes_over_newer_reports_of_another_file_or_experiment(tmp_path,
                                                                               base):
    """Rule: the newest report counts only among this experiment's folder and this very
    file; a newer one of an edited file, or the same file's report filed under another
    experiment's name (either side of this one's name), is passed over, not the end."""
    exp, trials, doc = base
    sha = doc["experiment"]["sha256"]
    mine = put(tmp_path, exp.name, "20261201T000000Z-a", doc)
    edited = copy.deepcopy(doc)
    edited["experiment"]["sha256"] = "0" * 64
    put(tmp_path, exp.name, "20261202T000000Z-a", edited)
    for name in ("aaa-before-grid", "zzz-after-grid"):
        put(tmp_path, name, "20261203T000000Z-a", doc)
    store = ResultStore.scan(tmp_path)
    assert store.current_report(exp, sha, {t.id for t in trials}) == mine


def test_a_failed_trial_does_not_hide_the_trials_after_it_in_its_report(tmp_path, base):
    exp, trials, doc = base
    mixed = copy.deepcopy(doc)
    mixed["trials"][0].update(status=FAILED_INFRA, score=None)
    put(tmp_path, "grid", "20261201T000000Z-a", mixed)
    assert [r.trial_id for r in ResultStore.scan(tmp_path).take(exp, trials, {})] == \
        [trials[1].id]


def test_a_report_of_a_newer_procedure_is_not_reused_either(tmp_path, base):
    """Rule: only reports of this very procedure are measurements for it; one written by a
    later tuneops (a procedure this version does not know) is not taken."""
    exp, trials, doc = base
    newer = copy.deepcopy(doc)
    newer["identity"]["procedure"] += 1
    put(tmp_path, "grid", "20261201T000000Z-a", newer)
    store = ResultStore.scan(tmp_path)
    assert store.found == {} and store.reports == {}


def test_a_report_without_a_file_hash_is_never_current(tmp_path, base):
    """Rule: a run whose experiment file is unknown (no sha256) matches no report, not even
    one that recorded none either: "the same file" cannot be shown."""
    exp, trials, doc = base
    unhashed = copy.deepcopy(doc)
    unhashed["experiment"]["sha256"] = None
    put(tmp_path, exp.name, "20261201T000000Z-a", unhashed)
    store = ResultStore.scan(tmp_path)
    assert len(store.reports) == 1
    assert store.current_report(exp, None, {t.id for t in trials}) is None


def test_history_measured_elsewhere_is_skipped_quietly_not_refused(tmp_path, base, monkeypatch):
    """Rule: a report of an older procedure is history before anything else: it is not
    named among the refused reports, whatever host measured it."""
    from tuneops import identity

    exp, trials, doc = base
    put(tmp_path, "grid", "20261201T000000Z-a", doc)
    monkeypatch.setattr(identity, "MEASUREMENT_PROCEDURE", doc["identity"]["procedure"] + 1)
    store = ResultStore.scan(tmp_path, host={**doc["hardware"]["host"], "machine": "riscv64"})
    assert store.refused == [] and store.found == {}
