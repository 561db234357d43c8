"""The `tuneops` command: validate, plan, render, run, reap, promote, diff and the `ci` steps.

One top-level handler maps outcomes to fixed exit codes (tuneops.errors): bad input → 2
with every diagnostic, a run that found nothing feasible → 1, Ctrl-C → 130, a bug → 3
with the traceback saved to a log instead of sprayed on the terminal.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

from tuneops import env_vars, errors
from tuneops.deployments.registry import deployment_mode, deployment_modes

DEFAULT_GLOB = "experiments/**/*.y*ml"  # .yaml and .yml alike


def _experiment_paths(paths: Sequence[str]) -> list[Path]:
    from tuneops.validate import experiment_files

    if paths:
        out: list[Path] = []
        for p in map(Path, paths):
            out.extend(experiment_files(p) if p.is_dir() else [p])
        return out
    return experiment_files()


def cmd_validate(args: argparse.Namespace) -> int:
    from tuneops import secrets
    from tuneops.validate import shared_names, validate_file

    paths = _experiment_paths(args.paths)
    if not paths:
        raise errors.UserError(
            summary=f"no experiment files found (looked for {DEFAULT_GLOB})"
        )
    report, problems, valid = [], 0, []
    for path in paths:
        warns: list = []
        exp, diags = validate_file(path, warnings=warns)
        if exp is not None:
            valid.append(exp)
            diags = [d for d in shared_names(valid) if d.file == str(path)]
            valid = valid[:-1] if diags else valid
        problems += len(diags)
        # Both formats list at most MAX_DIAGNOSTICS per file (errors first) and count the
        # rest: a generated file with 100,000 bad values must not print 100,000 entries.
        shown = [*diags, *warns][: errors.MAX_DIAGNOSTICS]
        hidden = len(diags) + len(warns) - len(shown)
        report.append({"file": str(path), "ok": not diags,
                       "errors": [d.as_dict() for d in shown[: len(diags)]],
                       "warnings": [w.as_dict() for w in shown[len(diags):]],
                       "notShown": hidden})
        if args.format == "text":
            for d in shown:
                print(secrets.redact(str(d)), file=sys.stderr)
            if hidden:
                print(f"{path}: ... and {hidden} more problem(s) "
                      "not shown (fix these first)", file=sys.stderr)
            if not diags:
                print(f"{path}: ok" + (f" ({len(warns)} warning(s))" if warns else ""))
    if args.format == "json":
        print(secrets.redact(json.dumps({"files": report, "errors": problems}, indent=2)))
    if problems and args.format == "text":
        n = sum(1 for r in report if not r["ok"])
        print(f"{problems} error(s) in {n} of {len(paths)} file(s)", file=sys.stderr)
    return errors.EXIT_USAGE if problems else errors.EXIT_OK


def _load(path: str):
    from tuneops.validate import load_experiment

    return load_experiment(Path(path))


def _cannot_start(exp, plan) -> dict[str, str]:
    """trial id -> why the simulator's memory plan says it cannot start (runner/search/
    memory.py): listed by `plan`, never dropped without a line."""
    from tuneops.runner.search.memory import prefilter

    return prefilter(exp, plan)


def _model_skips(exp) -> bool:
    """Whether the search leaves the memory plan's refusals out: `model`, when it runs."""
    from tuneops.runner.search import model_fallback

    return exp.search.method == "model" and model_fallback(exp) is None


def cmd_plan(args: argparse.Namespace) -> int:
    from tuneops.plan import make_plan
    from tuneops.runner.cost import hourly_price

    exp = _load(args.experiment)
    plan = make_plan(exp)
    cannot = _cannot_start(exp, plan)
    skips = _model_skips(exp)

    def price(t) -> float | None:  # USD per hour of the trial's GPUs, as its type is priced
        return hourly_price(exp, t.args, exp.gpus_per_trial, t.params)

    if args.format == "json":
        print(
            json.dumps(
                {
                    "experiment": exp.name,
                    "grid_size": plan.grid_size,
                    "max_trials": plan.max_trials,
                    "max_gpu_hours": round(plan.max_gpu_hours(), 3),
                    "trials": [
                        {"id": t.id, "index": t.index, "params": t.params,
                         "gpu_type": exp.gpu_type_for(t.params), "usd_per_hour": price(t)}
                        for t in plan.trials
                    ],
                    "cannot_start": [
                        {"id": t.id, "params": t.params, "reason": cannot[t.id],
                         "skipped": skips}
                        for t in plan.trials if t.id in cannot
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
    priced = exp.gpu_type_param is not None  # each trial's GPUs cost what its type costs
    if priced:
        table.add_column("USD/h", justify="right")
    for t in plan.trials:
        cells = [str(t.params[p.name]) for p in exp.parameters]
        if priced:
            cells.append("no price" if price(t) is None else f"{price(t):.2f}")
        table.add_row(str(t.index), t.id, *cells)
    console = Console(width=max(100, Console().width))
    console.print(table)
    rejected = plan.grid_size - len(plan.trials)
    if rejected:
        console.print(f"{rejected} grid point(s) rejected by constraints")
    if cannot:
        what = ("search.method model leaves them out" if skips else
                f"{exp.search.method} search runs them; search.method model leaves them out")
        console.print(f"{len(cannot)} trial(s) the memory plan says cannot start ({what}):")
        for t in plan.trials:
            if t.id in cannot:
                console.print(f"  {t.index} {t.id} {t.params}: {cannot[t.id]}", markup=False,
                              highlight=False, soft_wrap=True)
    if exp.gpus_per_trial:
        kind = f" {exp.deployment.gpus.type}" if exp.deployment.gpus.type else ""
        cost = (f"{exp.gpus_per_trial}{kind} GPU(s) each: up to {plan.max_gpu_hours():.2f} "
                "GPU-hours")
    else:  # CPU engines: the bound is in hours of this machine
        cost = f"on the CPU: up to {plan.max_gpu_hours():.2f} machine-hours"
    console.print(f"at most {plan.max_trials} trial(s), {cost}")
    return errors.EXIT_OK


def cmd_render(args: argparse.Namespace) -> int:
    from tuneops.renderers.render import check_all_rendered, render_experiment
    from tuneops.validate import shared_names

    exps = [_load(p) for p in _experiment_paths(args.experiments)]
    clashes = shared_names(exps)  # one folder per name: never render over another's trials
    if clashes:
        raise errors.UserError(clashes, summary="two experiments share a name")
    crd_dir = Path(args.crd_dir) if args.crd_dir else None
    out = Path(args.out)
    if args.check:
        check = check_all_rendered(exps, out, crd_dir=crd_dir)
        for d in check.diffs:
            print(d, file=sys.stderr)
        print(check.verdict, file=sys.stdout if check.ok else sys.stderr)
        return errors.EXIT_OK if check.ok else errors.EXIT_FAILURE
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
    if summary.lost_to_infra:  # named in describe(); `tuneops run` again measures them
        return errors.EXIT_INFRA
    return errors.EXIT_OK if summary.best is not None else errors.EXIT_FAILURE


def cmd_reap(args: argparse.Namespace) -> int:
    from tuneops import secrets

    for name in args.backends:
        mode = deployment_mode(name)
        try:
            backend = mode.backend(**mode.reap_options(tuple(args.namespace)))
            gone = backend.reap(args.owner, live=args.live)
        except errors.TuneopsError:
            raise
        except Exception as exc:  # noqa: BLE001 - an unreachable daemon or cluster: go on
            first = (str(exc).splitlines() or [""])[0][:200]
            print(f"{name}: warning: skipped, the backend is unreachable "
                  f"({type(exc).__name__}: {secrets.redact(first)})", file=sys.stderr)
            continue
        for g in gone:
            print(f"{name}: stopped {g}")
    return errors.EXIT_OK


def cmd_promote(args: argparse.Namespace) -> int:
    from tuneops.promote import promote

    print(promote(Path(args.report), Path(args.into) if args.into else None,
                  service=args.service))
    return errors.EXIT_OK


def cmd_diff(args: argparse.Namespace) -> int:
    from tuneops.ci.compare import diff_text
    from tuneops.runner.report.load import load

    docs = [load(Path(r)) for r in (args.report_a, args.report_b)]
    print(diff_text(docs[0], docs[1], a_label=args.report_a, b_label=args.report_b))
    return errors.EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from tuneops.runner.report.regenerate import regenerate

    out = regenerate(Path(args.report_dir), Path(args.manifests) if args.manifests else None)
    print(f"rewrote {out}/report.md, report.html and plots/ from results.json")
    if args.pushgateway:
        from tuneops.runner.report import pushgateway
        from tuneops.runner.report import regenerate as regen

        try:
            pushgateway.push(regen.load(out), args.pushgateway)
        except OSError as e:  # the gateway is down or refuses: the report stands
            raise errors.UserError(summary=f"--pushgateway {args.pushgateway}: {e}") from e
        print(f"pushed the per-trial results to {args.pushgateway}")
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

    p = sub.add_parser(
        "reap", help="stop engines killed runs left behind (never those of a live runner)"
    )
    p.add_argument("--owner", default="", help="owner prefix '<experiment>/' (default: all)")
    p.add_argument("--live", action="store_true",
                   help="also stop engines whose runner is still alive (default: only those "
                   "a dead runner left behind)")
    p.add_argument("--backends", nargs="+", default=["local", "docker"],
                   choices=sorted(deployment_modes()), metavar="MODE",
                   help="deployment modes to clean up (default: local docker)")
    p.add_argument("--namespace", action="append", default=[],
                   help="namespaces to look in, for modes on Kubernetes (repeatable; default: "
                   "the kubeconfig's)")
    p.set_defaults(func=cmd_reap)

    p = sub.add_parser("promote", help="write a report's winning configuration into a file")
    p.add_argument("report", help="reports/<experiment>/<run-id> (or its results.json)")
    p.add_argument("--into", help="an experiment, OME runtime/InferenceService or compose "
                   "file (default: the report's experiment file)")
    p.add_argument("--service", help="compose: the service to edit when there are several")
    p.set_defaults(func=cmd_promote)

    p = sub.add_parser("report", help="rebuild a report's report.md, report.html and plots "
                       "from its results.json alone")
    p.add_argument("report_dir", help="reports/<experiment>/<run-id>")
    p.add_argument("--manifests", default="manifests",
                   help="rendered manifests the deploy command is taken from ('' for none)")
    p.add_argument("--pushgateway", metavar="URL",
                   help="also push the per-trial results to this Prometheus Pushgateway")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("diff", help="compare two reports as the PR bot does (B against A)")
    p.add_argument("report_a")
    p.add_argument("report_b")
    p.set_defaults(func=cmd_diff)

    from tuneops.ci.commands import add_parsers

    add_parsers(sub)
    return parser


def _version() -> str:
    from tuneops import __version__

    return __version__


def _crash_log(exc: BaseException) -> Path | None:
    """Save the traceback (redacted): one log per run, in the run's folder; outside a run in
    TUNEOPS_LOG_DIR or the private runtime dir. None when nowhere is writable: the handler
    itself must never raise."""
    from tuneops import secrets

    text = secrets.redact("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    places: list[Path] = []
    if errors.crash_dir:
        places.append(Path(errors.crash_dir) / "crash.log")
    name = f"tuneops-crash-{stamp}-{os.getpid()}.log"
    if os.environ.get("TUNEOPS_LOG_DIR"):
        places.append(Path(os.environ["TUNEOPS_LOG_DIR"]) / name)
    try:
        from tuneops.deployments.common.ports import runtime_dir

        places.append(runtime_dir() / name)
    except Exception:  # noqa: BLE001 - an unsafe runtime dir: try the next place
        pass
    for path in places:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
            fd = os.open(path, flags, 0o600)
            with os.fdopen(fd, "a") as f:
                f.write(f"--- {stamp} pid {os.getpid()}\n{text}")
            return path
        except OSError:
            continue
    return None


def _quiet_stdout() -> None:
    """Point stdout at /dev/null after the reader went away (`tuneops … | head -1`), so the
    interpreter's final flush does not raise again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    from tuneops import secrets

    args = build_parser().parse_args(argv)
    try:
        for warning in env_vars.check():  # a bad TUNEOPS_* value: exit 2 naming it
            print(warning, file=sys.stderr)
        code = args.func(args)
        sys.stdout.flush()  # a closed pipe shows up here, not at exit
        return code
    except BrokenPipeError:
        _quiet_stdout()
        return errors.EXIT_OK
    except errors.UserError as exc:
        print(secrets.redact(str(exc)), file=sys.stderr)
        return exc.exit_code
    except errors.TuneopsError as exc:
        print(f"error: {secrets.redact(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return errors.EXIT_INTERRUPTED
    except OSError as exc:
        if exc.filename is None:
            return _bug(exc)
        where = exc.filename if exc.filename2 is None else f"{exc.filename} -> {exc.filename2}"
        print(f"error: cannot use {where}: {exc.strerror or exc}", file=sys.stderr)
        return errors.EXIT_USAGE
    except Exception as exc:  # noqa: BLE001 - the one place that turns bugs into exit 3
        return _bug(exc)


def _bug(exc: BaseException) -> int:
    from tuneops import secrets

    path = _crash_log(exc)
    where = f"traceback in {path}" if path else "no folder was writable for the traceback"
    try:
        print(f"internal error: {secrets.redact(repr(exc))} ({where})", file=sys.stderr)
        if path is None:
            traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    except OSError:
        pass
    return errors.EXIT_BUG


if __name__ == "__main__":
    sys.exit(main())
