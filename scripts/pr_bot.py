"""The CI bot's two jobs on a pull request (see .github/workflows/experiments.yml).

    pr_bot.py changed --base origin/main   # which experiments this PR touches, CPU vs GPU
    pr_bot.py comment --reports reports --base origin/main   # the comment body to post

`changed` prints GitHub Actions outputs (`cpu=[...]`, `gpu=[...]`): experiments whose engine
runs on a CPU runner (simulator, llama.cpp) and those needing the GPU runner. `comment`
gathers the newest report of each changed experiment (its summary.md, written by the
report writer) into one Markdown body.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import git

from tuneops.errors import UserError
from tuneops.registry import engines
from tuneops.validate import load_experiment

CPU_ENGINES = {"sim", "llamacpp"}
MARKER = "<!-- tuneops-bot -->"


def changed_experiments(repo_dir: Path, base: str) -> list[Path]:
    """Experiment files added or modified between `base` and HEAD (deleted ones skipped)."""
    repo = git.Repo(repo_dir, search_parent_directories=True)
    root = Path(repo.working_tree_dir)
    merge_base = repo.merge_base(base, "HEAD")[0]
    out = []
    for diff in merge_base.diff("HEAD"):
        path = diff.b_path
        if diff.deleted_file or not path.startswith("experiments/"):
            continue
        if path.endswith((".yaml", ".yml")):
            out.append(root / path)
    return sorted(out)


def split_by_runner(paths: list[Path]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {"cpu": [], "gpu": []}
    for path in paths:
        exp = load_experiment(path)
        simulated_or_cpu = exp.engine.name in CPU_ENGINES or engines()[exp.engine.name].simulated
        groups["cpu" if simulated_or_cpu else "gpu"].append(str(path))
    return groups


def newest_report(reports: Path, name: str) -> Path | None:
    runs = sorted(p for p in (reports / name).glob("*/summary.md"))
    return runs[-1] if runs else None


def comment_body(reports: Path, paths: list[Path]) -> str:
    parts = [MARKER, "## tuneops results", ""]
    for path in paths:
        name = load_experiment(path).name
        summary = newest_report(reports, name)
        if summary is None:
            parts += [f"### `{name}`", "", "_No report: the run did not finish (see the job log)._",
                      ""]
        else:
            parts += [summary.read_text(), f"Full report: `{summary.parent / 'report.md'}`", ""]
    if len(parts) == 3:
        parts.append("_This pull request changes no experiment._")
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("changed")
    p.add_argument("--base", required=True)
    p = sub.add_parser("comment")
    p.add_argument("--base", required=True)
    p.add_argument("--reports", default="reports")
    args = parser.parse_args(argv)
    try:
        paths = changed_experiments(Path.cwd(), args.base)
        if args.cmd == "changed":
            for key, value in split_by_runner(paths).items():
                print(f"{key}={json.dumps(value)}")
        else:
            print(comment_body(Path(args.reports), paths))
    except UserError as exc:
        print(exc, file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
