"""A runs folder that fills up mid-run: the lost trial is named, with ENOSPC, the run ends
with exit status 4 (errors.EXIT_INFRA) and a report that says which and why, its journal
stays whole: every line checked as a resume reads it.

A real full file system, not a mock: the run happens in a private mount namespace
(`unshare --mount --map-root-user`, which needs no root where user namespaces are enabled)
on a 64 MiB tmpfs. The disk is filled at one fixed point of the run, not at a time: a
driver wraps the journal's append (the one seam) and, right after the record that the
second trial has started, allocates every free block of the tmpfs to a filler file, which
stays until the run is over (see DRIVER). Nothing races: from that record on every write
under runs/ but the journal's fails, and the journal's lines go into the space it holds
past its end (runner/journal.py RESERVE_BYTES); with no reserve the run stops at its next
line with exit 2 (checked by hand: RESERVE_BYTES = 0 in the driver). The journal is
copied out of the namespace and checked the way a resume reads it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from tuneops.runner import journal
from tuneops.runner.results import COMPLETED, FAILED_INFRA

from tests.paths import ROOT
from tuneops import errors
from tuneops.validate import load_experiment

# Runs inside the namespace: the run, with the disk filled right after trial 2 starts.
# The journal is first padded (one note, through the journal's own append) to end on a page
# boundary, so no slack in its last page can take a later line, and every free block is
# taken again before each later line, so nothing freed meanwhile can either: from then on
# each line the run writes must come out of the journal's reserve.
DRIVER = r"""
import json, os, shutil, sys
from tuneops import cli
from tuneops.runner import journal

runs, keep = sys.argv[1], sys.argv[2]
filler = os.path.join(runs, "filler")
started = []
append = journal.Run._append

def take_every_free_block():
    st = os.statvfs(runs)
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    if st.f_bavail:
        os.posix_fallocate(fd, os.fstat(fd).st_size, st.f_bavail * st.f_frsize)
    os.close(fd)
    assert os.statvfs(runs).f_bavail == 0

def pad_to_a_page(run):
    page = os.statvfs(runs).f_frsize
    size = os.fstat(run._fd).st_size
    empty = len(json.dumps({"v": journal.VERSION, "ts": journal.utc_now(), "event": "note",
                            "message": ""}, separators=(",", ":"))) + 1
    run.note("p" * ((-size - empty) % page))
    assert os.fstat(run._fd).st_size % page == 0

def append_then_fill(self, record):
    if os.path.exists(filler):
        take_every_free_block()
    append(self, record)
    if record.get("event") == "trial_started" and record["trial_id"] not in started:
        started.append(record["trial_id"])
        if len(started) == 2:
            pad_to_a_page(self)
            take_every_free_block()
            print("filled: every block taken, the journal on a page boundary", flush=True)

journal.Run._append = append_then_fill
try:
    rc = cli.main(sys.argv[3:])
finally:
    shutil.copytree(runs, keep, ignore=shutil.ignore_patterns("filler"))
print(f"rc={rc}", flush=True)
"""


@pytest.mark.slow
def test_a_runs_folder_filled_mid_run_names_the_lost_trial_and_keeps_its_journal(tmp_path):
    assert shutil.which("unshare"), "unshare (util-linux) is needed"
    text = (ROOT / "experiments" / "examples" / "sim-small.yaml").read_text()
    exp_path = tmp_path / "two.yaml"
    for old, new in (("max-running-requests: [8, 64]", "max-running-requests: [8]"),
                     ("concurrency: [4, 16]", "concurrency: [4]"),
                     ("repeats: {min: 2, max: 4, targetRelativeCI: 0.05}", "repeats: 1")):
        assert old in text, old
        text = text.replace(old, new)  # two trials, one level, one measurement each
    exp_path.write_text(text)
    runs, keep, reports = tmp_path / "runs", tmp_path / "kept-runs", tmp_path / "reports"
    runs.mkdir()
    script = ('mount -t tmpfs -o size=64m tmpfs "$RUNS" && exec "$PY" -c "$DRIVER" "$RUNS" '
              '"$KEEP" run "$EXP" --runs-dir "$RUNS" --reports-dir "$REPORTS" --fresh --quiet')
    env = {"PY": sys.executable, "DRIVER": DRIVER, "EXP": str(exp_path), "RUNS": str(runs),
           "KEEP": str(keep), "REPORTS": str(reports), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
           "TUNEOPS_RUNTIME_DIR": str(tmp_path / "rt")}
    proc = subprocess.run(["unshare", "--mount", "--map-root-user", "sh", "-c", script],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    out = proc.stdout
    assert "filled: every block taken" in out, out + proc.stderr
    assert out.splitlines()[-1] == f"rc={errors.EXIT_INFRA}", out + proc.stderr
    [lost] = [ln for ln in out.splitlines() if ln.startswith("lost to infrastructure: ")]
    assert "ENOSPC" in lost and "no space left on device" in lost.lower(), lost

    results = json.loads(next(reports.rglob("results.json")).read_text())
    by_status = {t["status"]: t for t in results["trials"]}
    assert sorted(by_status) == [COMPLETED, FAILED_INFRA]
    failed = by_status[FAILED_INFRA]
    assert lost.startswith(f"lost to infrastructure: {failed['trial_id']} ")
    assert "ENOSPC" in failed["reason"]
    report = next(reports.rglob("report.md")).read_text()
    assert f"**failed_infra** after {failed['attempts']} attempt(s)" in report
    assert "ENOSPC" in report

    # The journal, as a resume reads it: every line whole and checked against the plan,
    # the lost trial recorded with its cause, and the run's end written on the full disk.
    exp = load_experiment(exp_path)
    [journal_file] = keep.rglob(journal.JOURNAL)
    state = journal.replay(journal_file, exp)
    assert not state.torn_tail and state.bad_lines == 0
    assert state.run_finished and not state.unfinished
    assert {t: r.status for t, r in state.finished.items()} == \
        {t["trial_id"]: t["status"] for t in results["trials"]}
