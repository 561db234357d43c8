"""A runs folder that fills up mid-run: the lost trials are named, with ENOSPC, and the run
ends with exit status 4 (errors.EXIT_INFRA) and a report that says which and why.

A real full file system, not a mock: the run happens in a private mount namespace
(`unshare --mount --map-root-user`, which needs no root where user namespaces are enabled)
on a 64 MiB tmpfs, filled to its last 400 KiB once the first trial has finished, until
the second is recorded lost (its small journal lines still fit; genai-bench's output does
not), then freed so the run ends and writes its report. A disk that stays full stops the
run at its next journal line instead: exit 2 naming the journal and the full disk.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from tests.paths import ROOT
from tuneops import errors

SCRIPT = r"""
set -eu
mount -t tmpfs -o size=64m tmpfs "$RUNS"
"$PY" -m tuneops.cli run "$EXP" --runs-dir "$RUNS" --reports-dir "$REPORTS" --fresh --quiet \
    > "$OUT" 2>&1 &
runner=$!
i=0
until grep -qs '"status":"completed"' "$RUNS"/*/*/journal.jsonl; do
    i=$((i + 1)); [ "$i" -lt 1200 ] || { kill "$runner"; exit 97; }; sleep 0.25
done
avail=$(df --output=avail -B1 "$RUNS" | tail -1)
fallocate -l $((avail - 400 * 1024)) "$RUNS/filler"
i=0
until grep -qs '"status":"failed_infra"' "$RUNS"/*/*/journal.jsonl; do
    i=$((i + 1)); [ "$i" -lt 2400 ] || { kill "$runner"; exit 98; }; sleep 0.25
done
rm "$RUNS/filler"  # space comes back: the run goes on, and reports what it lost
set +e
wait "$runner"
echo "rc=$?" >> "$OUT"
"""


@pytest.mark.slow
def test_a_full_runs_folder_names_the_lost_trials_and_enospc(tmp_path):
    for tool in ("unshare", "fallocate", "df"):
        assert shutil.which(tool), f"{tool} is needed (util-linux, coreutils)"
    text = (ROOT / "experiments" / "examples" / "sim-small.yaml").read_text()
    exp = tmp_path / "two.yaml"
    exp.write_text(text.replace("max-running-requests: [8, 64]", "max-running-requests: [8]"))
    runs, reports, out = tmp_path / "runs", tmp_path / "reports", tmp_path / "out.txt"
    runs.mkdir()
    env = {"PY": sys.executable, "EXP": str(exp), "RUNS": str(runs), "REPORTS": str(reports),
           "OUT": str(out), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
           "TUNEOPS_RUNTIME_DIR": str(tmp_path / "rt")}
    proc = subprocess.run(["unshare", "--mount", "--map-root-user", "sh", "-c", SCRIPT],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=900)
    log = out.read_text()
    assert proc.returncode == 0, proc.stderr + log
    assert log.splitlines()[-1] == f"rc={errors.EXIT_INFRA}", log
    [lost] = [ln for ln in log.splitlines() if ln.startswith("lost to infrastructure: ")]
    assert "after 3 attempt(s): ENOSPC: no space left on device under " in lost
    results = json.loads(next(reports.rglob("results.json")).read_text())
    [failed] = [t for t in results["trials"] if t["status"] == "failed_infra"]
    assert lost.startswith(f"lost to infrastructure: {failed['trial_id']} ")
    assert "ENOSPC" in failed["reason"]
    report = next(reports.rglob("report.md")).read_text()
    assert "**failed_infra** after 3 attempt(s)" in report and "ENOSPC" in report
