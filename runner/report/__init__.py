"""Run reports: results.json (schema-checked), report.md, report.html (interactive, built
from results.json alone) and PNG plots, written atomically.

Every writer formats one `rankings.Ranking` (order, best, tie set, feasibility, Pareto axes and
front): the runner's, or one made here from the results. None of them ranks on its own.

`write_report` builds everything in a temporary sibling folder and renames it into place,
so a reader (or a crash) never sees half a report.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from tuneops.deployments.common.fsutil import fsync_dir
from tuneops.runner import rankings
from tuneops.runner.report import html, markdown, plots, results_json
from tuneops.runner.report import provenance as _prov
from tuneops.runner.results import TrialResult

from tuneops import errors, secrets
from tuneops.spec import Experiment

__all__ = ["write_report", "summary_table", "collect_provenance"]

summary_table = markdown.summary_table
collect_provenance = _prov.collect
PLOTS_DIR = "plots"


def _times(results: list[TrialResult]) -> tuple[str | None, str | None]:
    starts = sorted(r.started_at for r in results if r.started_at)
    ends = sorted(r.finished_at for r in results if r.finished_at)
    return (starts[0] if starts else None), (ends[-1] if ends else None)


def write_report(
    out_dir: str | os.PathLike,
    exp: Experiment,
    results: list[TrialResult],
    provenance: dict[str, Any] | None = None,
    *,
    run_id: str | None = None,
    interrupted: bool = False,
    manifests_root: str | os.PathLike | None = "manifests",
    ranking: rankings.Ranking | None = None,
    confirmation: dict[str, Any] | None = None,
    search: dict[str, Any] | None = None,
) -> Path:
    """Write results.json, report.md, report.html, summary.md (for the PR bot) and plots/ into
    `out_dir` (usually
    reports/<experiment>/<run-id>/); returns `out_dir`.

    `provenance` is `runner.report.provenance.collect(...)`'s dict; gathered when not given.
    Raises jsonschema.ValidationError (and writes nothing) if the document breaks the schema.
    """
    out_dir = Path(out_dir)
    ranking = ranking if ranking is not None else rankings.ranking(results, exp)
    ranked = ranking.trials
    if provenance is None:
        started, finished = _times(ranked)
        provenance = _prov.collect(
            exp, run_id=run_id or out_dir.name, started_at=started, finished_at=finished,
            interrupted=interrupted)
    doc = results_json.build(exp, ranking, provenance, confirmation, search)
    results_json.validate(doc)

    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    except OSError as exc:
        raise errors.FileProblem(exc.filename or out_dir.parent, "create", exc) from exc
    try:
        # masked inside string values only: never `true`, a number or the JSON syntax
        (tmp / "results.json").write_text(results_json.dumps(secrets.redact_data(doc)))
        pngs = plots.write_plots(tmp / PLOTS_DIR, exp, ranking, simulated=bool(doc["simulated"]))
        rel = [f"{PLOTS_DIR}/{p.name}" for p in pngs]
        mroot = Path(manifests_root) if manifests_root is not None else None
        report_md = markdown.render(exp, ranking, doc, rel, mroot)
        (tmp / "report.md").write_text(secrets.redact(report_md))
        (tmp / "summary.md").write_text(secrets.redact(markdown.pr_summary(exp, ranking, doc)))
        (tmp / "report.html").write_text(secrets.redact(html.render(doc)))
        os.chmod(tmp, 0o755)
        _swap_in(tmp, out_dir)
    except OSError as exc:  # a full disk names no file: say which report it was
        shutil.rmtree(tmp, ignore_errors=True)
        raise errors.FileProblem(out_dir, "write the report", exc) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def _swap_in(new: Path, final: Path) -> None:
    """Replace `final` with `new`: rename the old one aside first (a folder cannot be
    renamed over a non-empty one), then drop it."""
    old = None
    if final.exists():
        old = final.parent / f".{final.name}.old-{os.getpid()}"
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
    os.replace(new, final)
    fsync_dir(final.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
