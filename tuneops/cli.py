"""The `tuneops` command: validate, plan, render, run, report.

One top-level handler maps outcomes to fixed exit codes (tuneops.errors): bad input → 2
with every diagnostic, a run that found nothing feasible → 1, Ctrl-C → 130, a bug → 3
with the traceback saved to a log instead of sprayed on the terminal.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import traceback
from collections.abc import Sequence
from pathlib import Path

from tuneops import errors

DEFAULT_GLOB = "experiments/**/*.yaml"


def _experiment_paths(paths: Sequence[str]) -> list[Path]:
    if paths:
        out: list[Path] = []
        for p in map(Path, paths):
            out.extend(sorted(p.rglob("*.yaml")) + sorted(p.rglob("*.yml")) if p.is_dir() else [p])
        return out
    return sorted(Path().glob(DEFAULT_GLOB))


def cmd_validate(args: argparse.Namespace) -> int:
    from tuneops.validate import validate_file, warnings_for

    paths = _experiment_paths(args.paths)
    if not paths:
        raise errors.UserError(
            summary="no experiment files found (looked for experiments/**/*.yaml)"
        )
    report, problems = [], 0
    for path in paths:
        _, diags = validate_file(path)
        warns = [] if diags else warnings_for(path)
        problems += len(diags)
        report.append({"file": str(path), "ok": not diags, "errors": [d.as_dict() for d in diags],
                       "warnings": [w.as_dict() for w in warns]})
        if args.format == "text":
            for d in [*diags, *warns]:
                print(d, file=sys.stderr)
            if not diags:
                print(f"{path}: ok" + (f" ({len(warns)} warning(s))" if warns else ""))
    if args.format == "json":
        print(json.dumps({"files": report, "errors": problems}, indent=2))
    if problems and args.format == "text":
        n = sum(1 for r in report if not r["ok"])
        print(f"{problems} error(s) in {n} of {len(paths)} file(s)", file=sys.stderr)
    return errors.EXIT_USAGE if problems else errors.EXIT_OK


def _load(path: str):
    from tuneops.validate import load_experiment

    return load_experiment(Path(path))


def cmd_plan(args: argparse.Namespace) -> int:
    from tuneops.plan import make_plan

    exp = _load(args.experiment)
    plan = make_plan(exp)
    if args.format == "json":
        print(
            json.dumps(
                {
                    "experiment": exp.name,
                    "grid_size": plan.grid_size,
                    "max_trials": plan.max_trials,
                    "max_gpu_hours": round(plan.max_gpu_hours(), 3),
                    "trials": [
                        {"id": t.id, "index": t.index, "params": t.params} for t in plan.trials
                    ],
                },
                indent=2,
                default=str,
            )
        )
        return errors.EXIT_OK
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{exp.name}: {len(plan.trials)} trial(s) ({exp.search.method} search)")
    table.add_column("#", justify="right")
    table.add_column("trial id")
    for p in exp.parameters:
        table.add_column(p.name)
    for t in plan.trials:
        table.add_row(str(t.index), t.id, *(str(t.params[p.name]) for p in exp.parameters))
    console = Console(width=max(100, Console().width))
    console.print(table)
    rejected = plan.grid_size - len(plan.trials)
    if rejected:
        console.print(f"{rejected} grid point(s) rejected by constraints")
    if exp.gpus_per_trial:
        cost = (f"{exp.gpus_per_trial} GPU(s) each: up to {plan.max_gpu_hours():.2f} GPU-hours")
    else:  # CPU engines: the bound is in hours of this machine
        cost = f"on the CPU: up to {plan.max_gpu_hours():.2f} machine-hours"
    console.print(f"at most {plan.max_trials} trial(s), {cost}")
    return errors.EXIT_OK


def cmd_render(args: argparse.Namespace) -> int:
    from tuneops.renderers.render import check_rendered, render_experiment

    exps = [_load(p) for p in _experiment_paths(args.experiments)]
    crd_dir = Path(args.crd_dir) if args.crd_dir else None
    out = Path(args.out)
    if args.check:
        diffs = [d for exp in exps for d in check_rendered(exp, out, crd_dir=crd_dir)]
        for d in diffs:
            print(d, file=sys.stderr)
        if diffs:
            print("manifests/ differs from a fresh render: run `make render`", file=sys.stderr)
            return errors.EXIT_FAILURE
        print(f"manifests up to date for {len(exps)} experiment(s)")
        return errors.EXIT_OK
    for exp in exps:
        summary = render_experiment(exp, out, crd_dir=crd_dir)
        print(summary)
    return errors.EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from tuneops.runner.run import RunOptions, run_experiment

    exp = _load(args.experiment)
    options = RunOptions(
        runs_root=Path(args.runs_dir),
        reports_root=Path(args.reports_dir),
        fresh=args.fresh,
        quiet=args.quiet or bool(os.environ.get("CI")),
        max_trials=args.max_trials,
    )
    summary = run_experiment(exp, options)
    print(summary.describe())
    if summary.interrupted:  # SIGINT/SIGTERM are trapped to stop engines: still Ctrl-C's code
        return errors.EXIT_INTERRUPTED
    return errors.EXIT_OK if summary.best is not None else errors.EXIT_FAILURE


def cmd_reap(args: argparse.Namespace) -> int:
    from tuneops.runner.backends import BACKENDS

    for name in args.backends:
        options = {"namespaces": tuple(args.namespace)} if name == "ome" and args.namespace else {}
        gone = BACKENDS[name](**options).reap(args.owner)
        for g in gone:
            print(f"{name}: stopped {g}")
    return errors.EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tuneops", description="Declarative experiments for tuning LLM inference servers."
    )
    parser.add_argument("--version", action="version", version=f"tuneops {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="check experiments against the schema and catalogs")
    p.add_argument("paths", nargs="*", help=f"files or folders (default: {DEFAULT_GLOB})")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("plan", help="list the trials an experiment expands to")
    p.add_argument("experiment")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("render", help="write Docker and OME manifests per trial")
    p.add_argument("experiments", nargs="*", help=f"files or folders (default: {DEFAULT_GLOB})")
    p.add_argument("--out", default="manifests")
    p.add_argument(
        "--crd-dir",
        help="OME CRDs to validate against (default: the CRDs vendored with tuneops, "
        "schemas/crds/ome; 'cluster' reads them "
        "from the current kubeconfig)",
    )
    p.add_argument("--check", action="store_true", help="fail if the committed output differs")
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("run", help="deploy, benchmark and score trials; write a report")
    p.add_argument("experiment")
    p.add_argument("--runs-dir", default="runs", help="working state (journal, logs)")
    p.add_argument("--reports-dir", default="reports", help="where versioned reports go")
    p.add_argument("--fresh", action="store_true", help="start a new run instead of resuming")
    p.add_argument("--quiet", action="store_true", help="plain log lines instead of live progress")
    p.add_argument("--max-trials", type=int, help="stop after this many trials (overrides)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("reap", help="stop engines a killed run left behind")
    p.add_argument("--owner", default="", help="owner prefix '<experiment>/' (default: all)")
    p.add_argument("--backends", nargs="+", default=["local", "docker"],
                   choices=["local", "docker", "ome"])
    p.add_argument("--namespace", action="append", default=[],
                   help="ome: namespace to look in (repeatable; default: the kubeconfig's)")
    p.set_defaults(func=cmd_reap)
    return parser


def _version() -> str:
    from tuneops import __version__

    return __version__


def _crash_log(exc: BaseException) -> Path:
    log_dir = Path(os.environ.get("TUNEOPS_LOG_DIR", tempfile.gettempdir()))
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / "tuneops-crash.log"
    path.write_text("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    return path


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except errors.UserError as exc:
        print(str(exc), file=sys.stderr)
        return exc.exit_code
    except errors.TuneopsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return errors.EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the one place that turns bugs into exit 3
        path = _crash_log(exc)
        print(f"internal error: {exc!r} (traceback in {path})", file=sys.stderr)
        return errors.EXIT_BUG


if __name__ == "__main__":
    sys.exit(main())
