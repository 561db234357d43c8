"""`tuneops ci plan|run|publish|comment`: the steps of .github/workflows/experiments.yml.

The workflow holds no logic: each job calls one of these with values it passes through
`env`, and these check them (experiment paths, branch names, shas, job results).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

from tuneops import errors

# GitHub's job results, and "pending": the job has not ended (waits for approval or runs)
JOB_RESULTS = ("success", "failure", "cancelled", "skipped", "pending", "")


def add_parsers(sub) -> None:
    ci = sub.add_parser("ci", help="the pull-request bot's steps (see .github/workflows)")
    steps = ci.add_subparsers(dest="ci_command", required=True)

    p = steps.add_parser("plan", help="changed experiments vs the base, where each runs; "
                         "validate and check the rendered manifests")
    p.add_argument("--base", help="base commit sha or branch (default: HEAD's first parent, "
                   "when HEAD is GitHub's merge commit)")
    p.add_argument("--head-sha", help="trusted side: the PR head, fetched and read as data; "
                   "its experiment files are written into this checkout (no render check)")
    p.add_argument("--remote", default="origin")
    p.add_argument("--out", default="plan.json", help="the plan document for later jobs")
    p.add_argument("--github-output", default=os.environ.get("GITHUB_OUTPUT"),
                   help="append hosted=/self-hosted= JSON lists here (default $GITHUB_OUTPUT)")
    p.set_defaults(func=cmd_plan)

    p = steps.add_parser("authorize", help="trusted workflow: which PR and head sha this "
                         "event is for, and whether it may measure (on GPUs)")
    p.add_argument("--event-name", default=os.environ.get("GITHUB_EVENT_NAME", ""))
    p.add_argument("--event", default=os.environ.get("GITHUB_EVENT_PATH", ""))
    p.add_argument("--repo", default=os.environ.get("GITHUB_REPOSITORY"))
    p.add_argument("--github-output", default=os.environ.get("GITHUB_OUTPUT"))
    p.set_defaults(func=cmd_authorize)

    p = steps.add_parser("doctor", help="check what GitHub's API shows of the setup "
                         "docs/ci.md asks for (environments, reviewers, runner group)")
    p.add_argument("--repo", default=os.environ.get("GITHUB_REPOSITORY"))
    p.add_argument("--org", help="the organisation holding the GPU runner group")
    p.add_argument("--runner-group", default="tuneops-gpu")
    p.set_defaults(func=cmd_doctor)

    p = steps.add_parser("check-workflows", help="the trust boundary, checked on the "
                         "workflow files (no self-hosted runner or secret next to PR code)")
    p.add_argument("folder", nargs="?", default=".github/workflows")
    p.set_defaults(func=cmd_check_workflows)

    p = steps.add_parser("run", help="run one changed experiment; results for later jobs")
    p.add_argument("experiment", help="experiments/**/*.y*ml, repository-relative")
    p.add_argument("--out", default="ci-out")
    p.add_argument("--reports-dir", default="reports")
    p.add_argument("--runs-dir", default="runs")
    p.add_argument("--fresh", action="store_true", help="measure every trial again")
    p.set_defaults(func=cmd_run)

    p = steps.add_parser("publish", help="commit the runs' reports to the PR branch and push")
    p.add_argument("out", help="the run jobs' artifacts (ci run --out)")
    p.add_argument("--head-sha", required=True)
    p.add_argument("--branch", required=True)
    p.add_argument("--remote", default="origin")
    p.add_argument("--attempts", type=int, default=5, help="pushes before giving up")
    p.add_argument("--clone", help="fetch the head sha (depth 1) into this new folder and "
                   "commit there (the trusted side: the PR is data, never checked out here)")
    p.set_defaults(func=cmd_publish)

    p = steps.add_parser("comment", help="create or edit the one result comment on the PR")
    p.add_argument("out", help="the run jobs' artifacts (ci run --out)")
    p.add_argument("--plan", default="plan.json")
    p.add_argument("--repo", help="owner/name (default $GITHUB_REPOSITORY)",
                   default=os.environ.get("GITHUB_REPOSITORY"))
    p.add_argument("--pr", type=int, help="pull request number (omit with --print)")
    p.add_argument("--hosted-result", default="", choices=JOB_RESULTS)
    p.add_argument("--self-hosted-result", default="", choices=JOB_RESULTS)
    p.add_argument("--print", action="store_true", help="print the body, post nothing")
    p.add_argument("--bot-login", default=os.environ.get("TUNEOPS_BOT_LOGIN")
                   or "github-actions[bot]", help="the only author whose comment is edited")
    p.add_argument("--head-sha", help="the head sha the comment reports on")
    p.add_argument("--run-url", default="", help="this run (its summary: the full body)")
    p.add_argument("--history-url", default="", help="where history/<experiment>.md is "
                   "browsed (the default branch's history/ folder)")
    p.add_argument("--pr-workflow", default="", help="conclusion of the untrusted workflow",
                   choices=("", "success", "failure", "cancelled", "skipped", "timed_out",
                            "action_required", "neutral", "startup_failure", "stale"))
    p.set_defaults(func=cmd_comment)


def cmd_plan(args: argparse.Namespace) -> int:
    from tuneops.ci.escape import annotation
    from tuneops.ci.plan import HOSTED, SELF_HOSTED, plan

    if args.head_sha and not re.fullmatch(r"[0-9a-f]{40}", args.head_sha):
        raise errors.UserError(summary=f"--head-sha {args.head_sha!r}: not 40 hex digits")
    try:
        doc = plan(Path.cwd(), args.base, args.remote, head_sha=args.head_sha)
    except errors.UserError as exc:
        for d in exc.diagnostics:  # annotations on the PR's files
            print(annotation(d, str(Path.cwd())))
        if not args.head_sha:
            raise
        # the trusted side posts the errors: the plan document carries them
        doc = {"experiments": [], HOSTED: [], SELF_HOSTED: [], "pr_reports": [],
               "base_reports": {}, "base": "", "head": args.head_sha,
               "errors": [str(d) for d in exc.diagnostics] or [str(exc)]}
    Path(args.out).write_text(json.dumps(doc, indent=2) + "\n")
    if args.github_output:
        with open(args.github_output, "a") as f:
            f.write(f"hosted={json.dumps(doc[HOSTED])}\nself-hosted={json.dumps(doc[SELF_HOSTED])}\n")
    for e in doc["experiments"]:
        print(f"{e['path']}: {e['name']} ({e['engine']}) on a {e['runner']} runner")
    if not doc["experiments"]:
        print("no experiment changed")
    if args.head_sha:
        return errors.EXIT_OK  # the manifests are the PR's business: the untrusted side checks
    from tuneops.renderers.render import check_all_rendered
    from tuneops.validate import experiment_files, load_experiment

    # the render check covers every experiment: a change to renderers/ touches them all
    paths = experiment_files()
    check = check_all_rendered([load_experiment(p) for p in paths], Path("manifests"))
    for d in check.diffs:
        print(d, file=sys.stderr)
    if not check.ok:
        print(f"::error title=render check::{check.verdict}".replace("\n", "%0A"))
    print(check.verdict, file=sys.stdout if check.ok else sys.stderr)
    return errors.EXIT_OK if check.ok else errors.EXIT_FAILURE


def cmd_check_workflows(args: argparse.Namespace) -> int:
    from tuneops.ci.workflow_policy import check

    found = check(Path(args.folder))
    for line in found:
        print(line, file=sys.stderr)
    print(f"{args.folder}: trust boundary " + ("kept" if not found else
                                                 f"broken ({len(found)} problem(s))"))
    return errors.EXIT_OK if not found else errors.EXIT_FAILURE


def cmd_authorize(args: argparse.Namespace) -> int:
    import git

    from tuneops.ci import authorize, github

    if not args.repo or not re.fullmatch(r"[\w.-]+/[\w.-]+", args.repo):
        raise errors.UserError(summary="--repo owner/name is needed")
    event = authorize.load_event(args.event)
    decision = authorize.decide(args.event_name, event, args.repo, github.client(),
                                git.Repo(Path.cwd()))
    if args.github_output:
        with open(args.github_output, "a") as f:
            f.write(decision.outputs())
    print(f"#{decision.pr} at {decision.head_sha}: {decision.why}; measure={decision.measure}"
          f" gpu={decision.gpu} same-repo={decision.same_repo}")
    return errors.EXIT_OK


def cmd_doctor(args: argparse.Namespace) -> int:
    from tuneops.ci import doctor, github

    if not args.repo or not re.fullmatch(r"[\w.-]+/[\w.-]+", args.repo):
        raise errors.UserError(summary="--repo owner/name is needed")
    findings = doctor.check(github.client(), args.repo, org=args.org,
                            runner_group=args.runner_group)
    for f in findings:
        print(f)
    return errors.EXIT_OK if all(f.ok for f in findings) else errors.EXIT_FAILURE


def cmd_run(args: argparse.Namespace) -> int:
    from tuneops.ci.run import PASSED, ci_run

    status = ci_run(args.experiment, Path(args.out), reports=Path(args.reports_dir),
                    runs=Path(args.runs_dir), fresh=args.fresh)
    return errors.EXIT_OK if status["status"] == PASSED else errors.EXIT_FAILURE


def cmd_publish(args: argparse.Namespace) -> int:
    from tuneops.ci.publish import publish

    done = publish(Path.cwd(), Path(args.out), head_sha=args.head_sha, branch=args.branch,
                   remote=args.remote, attempts=args.attempts,
                   clone=Path(args.clone) if args.clone else None)
    if not done.commits:
        print("nothing to publish: the reports are committed already")
    for subject in done.commits:
        print(subject)
    if done.attempts:
        print(f"pushed to {args.branch} (attempt {done.attempts})")
    return errors.EXIT_OK


def cmd_comment(args: argparse.Namespace) -> int:
    from tuneops.ci import comment

    try:
        plan = json.loads(Path(args.plan).read_text())
    except (OSError, ValueError) as exc:
        raise errors.UserError(summary=f"{args.plan}: cannot read the plan ({exc})") from None
    results = {"hosted": args.hosted_result, "self-hosted": args.self_hosted_result}
    extra = {"run_url": args.run_url, "pr_workflow": args.pr_workflow}
    if args.history_url.startswith("https://"):
        extra["history_url"] = args.history_url.rstrip("/")
    if args.print:
        sys.stdout.write(comment.body(plan, Path(args.out), results=results, **extra))
        return errors.EXIT_OK
    if not args.repo or not re.fullmatch(r"[\w.-]+/[\w.-]+", args.repo) or not args.pr:
        raise errors.UserError(summary="--repo owner/name and --pr N are needed to post")
    from tuneops.ci import github

    gh = github.client()
    pr = github.pull_request(gh, args.repo, args.pr)
    text = comment.body(plan, Path(args.out), results=results, fork=pr.fork,
                        head_sha=args.head_sha or pr.head_sha, **extra)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:  # the full body, also what the comment links to when it is cut short
        with open(summary, "a") as f:
            f.write(text)
    how, cid = github.upsert_comment(gh, args.repo, args.pr, text, comment.MARKER,
                                     bot_login=args.bot_login)
    print(f"{how} comment {cid} on {args.repo}#{args.pr} ({len(text)} characters)")
    from tuneops.ci.verdict import ACCEPT_LABEL

    # the required check: a regression fails it until a maintainer accepts it (on GitHub
    # only people with triage access or more can label a pull request)
    regressed = comment.regressions(plan, Path(args.out))
    if regressed and ACCEPT_LABEL not in pr.labels:
        print(f"::error title=regression::{', '.join(regressed)} regressed beyond noise and "
              f"threshold; a maintainer may accept it with the label {ACCEPT_LABEL}")
        return errors.EXIT_FAILURE
    if regressed:
        print(f"regression in {', '.join(regressed)} accepted ({ACCEPT_LABEL})")
    return errors.EXIT_OK
