"""The one reader of results.json (runner/report/load.py), as an attacker or a bad day
would test it: a forged or garbled report is refused whole, with its path and the field,
and every reader (store, diff, promote, the PR comment) goes through it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tuneops.runner.report import write_report
from tuneops.runner.report.load import Expect, load, parse, read_regular
from tuneops.runner.results import COMPLETED, Score, TrialResult
from tuneops.runner.store import ResultStore

from tuneops import identity
from tuneops.errors import EXIT_USAGE, FileProblem, UserError
from tuneops.plan import make_plan
from tuneops.validate import load_experiment

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "experiments" / "examples" / "sim-small.yaml"


@pytest.fixture
def report(tmp_path) -> Path:
    """A real report (the writer's own output) of a copy of the sim example."""
    shutil.copy(EXAMPLE, tmp_path / "exp.yaml")
    exp = load_experiment(tmp_path / "exp.yaml")
    results = [TrialResult(t.id, t.index, t.params, t.args, COMPLETED,
                           metrics={"D(1,1)": {1: {"output_throughput": float(i + 1)}}},
                           score=Score(float(i + 1), True, 0.0, 1, 1), simulated=True)
               for i, t in enumerate(make_plan(exp).trials)]
    return write_report(tmp_path / "reports" / exp.name / "20261201T000000Z-a", exp, results,
                        run_id="20261201T000000Z-a", manifests_root=None)


def _forge(report: Path, edit) -> Path:
    path = report / "results.json"
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))
    return path


def _refusal(path, **kw) -> str:
    with pytest.raises(UserError) as info:
        load(path, **kw)
    assert info.value.exit_code == EXIT_USAGE
    return str(info.value)


def test_the_writers_report_loads_typed(report):
    loaded = load(report)
    assert loaded.where == str(report / "results.json")
    assert loaded.best is not None and loaded.best.trial_id == loaded.doc["best_trial_id"]
    assert loaded.procedure == identity.MEASUREMENT_PROCEDURE
    assert {t.trial_id for t in loaded.trials} == set(loaded.by_id)


def test_a_wrong_type_is_refused_with_path_and_field(report):
    path = _forge(report, lambda d: d["trials"][0].update(attempts="many"))
    text = _refusal(report)
    assert str(path) in text and "trials[0].attempts" in text and "'many'" in text
    assert "refused whole" in text


@pytest.mark.parametrize("raw,why", [
    ('"output_throughput": NaN', "NaN is not a number strict JSON allows"),
    ('"output_throughput": Infinity', "Infinity is not a number strict JSON allows"),
    ('"output_throughput": 1e999', "too large for a float"),
])
def test_non_finite_numbers_are_refused(report, raw, why):
    path = report / "results.json"
    text = path.read_text()
    assert '"output_throughput": 1.0' in text
    path.write_text(text.replace('"output_throughput": 1.0', raw, 1))
    assert why in _refusal(report)


def test_a_key_given_twice_is_refused(report):
    path = report / "results.json"
    path.write_text(path.read_text().replace('"status": "completed"',
                                             '"status": "completed", "status": "completed"', 1))
    assert "'status' is given twice" in _refusal(report)


def test_trial_ids_are_checked_against_the_report_and_the_plan(report):
    doc = json.loads((report / "results.json").read_text())
    ids = [t["trial_id"] for t in doc["trials"]]
    assert load(report, expect=Expect(trial_ids=frozenset(ids))).best is not None
    text = _refusal(report, expect=Expect(trial_ids=frozenset(ids[1:])))
    assert f"trial {ids[0]} is not a trial of the experiment's plan" in text
    _forge(report, lambda d: d.update(best_trial_id="0123456789ab"))
    assert "best_trial_id: names trial '0123456789ab'" in _refusal(report)
    _forge(report, lambda d: (d.update(best_trial_id=ids[0]),
                              d["trials"][1].update(trial_id=ids[0])))
    assert f"trial {ids[0]} is also trials[0]" in _refusal(report)
    _forge(report, lambda d: d["trials"][1].update(trial_id="../../etc"))
    assert "is not a trial id" in _refusal(report)


def test_another_version_of_the_experiment_is_refused(report):
    assert "a report of another version of the file" in _refusal(
        report, expect=Expect(sha256="0" * 64))


def test_garbage_is_refused_with_line_and_column(report):
    (report / "results.json").write_text('{"trials": [\n  1,,]}')
    text = _refusal(report)
    assert f"{report / 'results.json'}:2:5: not JSON" in text


def test_a_fifo_is_refused_at_once_never_waited_on(tmp_path):
    fifo = tmp_path / "results.json"
    os.mkfifo(fifo)  # nothing ever writes to it: a blocking open would hang
    assert "is not a regular file" in _refusal(fifo)


def test_symlinks_are_refused_at_the_file_and_on_the_way(report, tmp_path):
    secret = tmp_path / "secret.json"
    secret.write_text((report / "results.json").read_text())
    link = tmp_path / "link.json"
    link.symlink_to(secret)
    assert "is a symlink" in _refusal(link)
    reports = report.parent.parent
    (reports / "evil").symlink_to(report.parent, target_is_directory=True)
    text = _refusal(reports / "evil" / report.name / "results.json", root=reports)
    assert "is not a plain folder" in text


def test_a_file_over_the_bound_is_refused_and_a_missing_one_is_a_file_problem(tmp_path):
    big = tmp_path / "big.json"
    big.write_bytes(b" " * 101)
    with pytest.raises(OSError, match="larger than 100 bytes"):
        read_regular(big, limit=100)
    with pytest.raises(FileProblem, match="cannot read"):
        load(tmp_path / "missing.json")


def test_a_git_blob_is_checked_the_same_way():
    with pytest.raises(UserError, match="abc:reports/x/results.json"):
        parse(b'{"schema_version": 1}', "abc:reports/x/results.json")


def test_the_store_skips_a_refused_report_whole_and_says_why(report):
    reports = report.parent.parent
    good = load(report)
    forged = reports / good.experiment_name / "20261202T000000Z-forged"
    shutil.copytree(report, forged)
    _forge(forged, lambda d: d["trials"][0]["metrics"].update({"D(1,1)": {"1": {"x": "fast"}}}))
    store = ResultStore.scan(reports)
    assert list(store.reports) == [report]  # the forged one lent nothing, not even a trial
    assert len(store.refused) == 1 and str(forged / "results.json") in store.refused[0]
    assert "trials[0].metrics" in store.refused[0]


def test_a_report_of_an_older_procedure_is_history_never_reused(report):
    _forge(report, lambda d: d.pop("identity"))  # as reports written before versions
    assert load(report).procedure == 0
    store = ResultStore.scan(report.parent.parent)
    assert store.found == {} and store.reports == {} and store.refused == []


def test_every_committed_report_is_readable_history():
    """Committed reports predate the current trial identity: the loader takes each (none
    is garbled), and the store reuses none of them."""
    store = ResultStore.scan(REPO / "reports")
    assert store.refused == []
    for results in sorted((REPO / "reports").glob("*/*/results.json")):
        assert load(results).procedure < identity.MEASUREMENT_PROCEDURE
    assert store.found == {}


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tuneops.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_diff_and_promote_refuse_a_forged_report_with_exit_2(report, tmp_path):
    good = tmp_path / "good"
    shutil.copytree(report, good)
    _forge(report, lambda d: d["trials"][0].update(attempts="many"))
    proc = _cli("diff", str(good), str(report), cwd=tmp_path)
    assert proc.returncode == EXIT_USAGE, proc.stderr
    assert str(report / "results.json") in proc.stderr and "trials[0].attempts" in proc.stderr
    before = (tmp_path / "exp.yaml").read_text()
    proc = _cli("promote", str(report), cwd=tmp_path)
    assert proc.returncode == EXIT_USAGE and "trials[0].attempts" in proc.stderr
    assert (tmp_path / "exp.yaml").read_text() == before  # nothing half-done
    fifo = tmp_path / "fifo"
    fifo.mkdir()
    os.mkfifo(fifo / "results.json")
    proc = _cli("promote", str(fifo), cwd=tmp_path)
    assert proc.returncode == EXIT_USAGE and "is not a regular file" in proc.stderr
