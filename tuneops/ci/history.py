"""The history of an experiment on the default branch: its best objective, with its 95 %
interval, over every report the bot published (runner/report_trust.py, oldest publish
first), as a table (history/<experiment>.md) and a chart (history/<experiment>.svg).

`tuneops ci publish` writes both into the same publish commit as the new report, from
the default branch's trusted reports plus the new one: once the pull request merges, the
default branch holds the trend including it, and the comment links to it. Only trusted
reports count: a forged one cannot draw a line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import git

from tuneops.ci.compare import half_width
from tuneops.ci.escape import code
from tuneops.errors import UserError
from tuneops.runner.report.load import Report, parse
from tuneops.runner.report.markdown import fmt
from tuneops.runner.report_trust import ReportTrust

FOLDER = "history"


@dataclass(frozen=True)
class Point:
    run: str
    objective: float | None
    pm: float | None
    trial: str


def point(report: Report) -> Point:
    """The best objective of one checked report (runner/report/load.py), with its ±."""
    best = report.best
    score = (best.score if best is not None else None) or {}
    value = score.get("objective")
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    return Point(report.run_id, float(value) if ok else None,
                 half_width(score.get("objective_low"), score.get("objective_high"))
                 if ok else None, best.trial_id if best is not None else "—")


def trend(repo_dir: Path, experiment: str) -> list[Point]:
    """The trusted reports of `experiment` in the checkout's history, oldest first."""
    repo = git.Repo(repo_dir, search_parent_directories=True)
    trust = ReportTrust.from_git(repo_dir)
    points = []
    for folder in reversed(trust.trusted):
        if folder.split("/")[1] != experiment:
            continue
        try:  # the blob of HEAD's tree, checked by the one loader; a refused one is skipped
            blob = repo.head.commit.tree / folder / "results.json"
            points.append(point(parse(blob.data_stream.read(), f"HEAD:{folder}/results.json")))
        except (KeyError, UserError):
            continue
    return points


def table(experiment: str, metric: str, points: list[Point]) -> str:
    rows = [f"# History of {code(experiment)}", "",
            f"Best {code(metric)} of each report the bot published, oldest first, with its "
            "95 % interval. Chart: "
            f"[{experiment}.svg]({experiment}.svg).", "",
            "| # | run | best trial | objective |", "|--:|---|---|--:|"]
    for i, p in enumerate(points, 1):
        value = "—" if p.objective is None else fmt(p.objective) + (
            f" ± {fmt(p.pm)}" if p.pm is not None else "")
        rows.append(f"| {i} | {code(p.run, table=True)} | {code(p.trial, table=True)} | "
                    f"{value} |")
    return "\n".join(rows) + "\n"


def chart(path: Path, experiment: str, metric: str, points: list[Point]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [(i, p) for i, p in enumerate(points, 1) if p.objective is not None]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    if shown:
        ax.errorbar([i for i, _ in shown], [p.objective for _, p in shown],
                    yerr=[p.pm or 0.0 for _, p in shown], marker="o", capsize=3)
    ax.set_xlabel("report (oldest first)")
    ax.set_ylabel(metric)
    ax.set_title(f"{experiment}: best {metric} per published report")
    ax.set_xticks([i for i, _ in shown])
    ax.grid(alpha=0.3)
    fig.tight_layout()
    # no date and a fixed id salt: the same history gives the same bytes
    matplotlib.rcParams["svg.hashsalt"] = "tuneops"
    fig.savefig(path, format="svg", metadata={"Date": None})
    plt.close(fig)


def write(dest_root: Path, experiment: str, metric: str, points: list[Point]) -> list[str]:
    """history/<experiment>.md and .svg under `dest_root`; the repository paths written."""
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", experiment):
        raise ValueError(f"{experiment!r}: not an experiment name")
    folder = dest_root / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{experiment}.md").write_text(table(experiment, metric, points))
    chart(folder / f"{experiment}.svg", experiment, metric, points)
    return [f"{FOLDER}/{experiment}.md", f"{FOLDER}/{experiment}.svg"]
