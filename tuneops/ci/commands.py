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
    p.add_argument("--base", required=True, help="base commit sha or branch (fetched if absent)")
    p.add_argument("--remote", default="origin")
    p.add_argument("--out", default="plan.json", help="the plan document for later jobs")
    p.add_argument("--github-output", default=os.environ.get("GITHUB_OUTPUT"),
                   help="append hosted=/self-hosted= JSON lists here (default $GITHUB_OUTPUT)")
    p.set_defaults(func=cmd_plan)

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
    p.set_defaults(func=cmd_comment)


def cmd_plan(args: argparse.Namespace) -> int:
    from tuneops.ci.plan import HOSTED, SELF_HOSTED, plan
    from tuneops.renderers.render import check_all_rendered
    from tuneops.validate import experiment_files, load_experiment

    doc = plan(Path.cwd(), args.base, args.remote)
    Path(args.out).write_text(json.dumps(doc, indent=2) + "\n")
    if args.github_output:
        with open(args.github_output, "a") as f:
            f.write(f"hosted={json.dumps(doc[HOSTED])}\nself-hosted={json.dumps(doc[SELF_HOSTED])}\n")
    for e in doc["experiments"]:
        print(f"{e['path']}: {e['name']} ({e['engine']}) on a {e['runner']} runner")
    if not doc["experiments"]:
        print("no experiment changed")
    # the render check covers every experiment: a change to renderers/ touches them all
    paths = experiment_files()
    check = check_all_rendered([load_experiment(p) for p in paths], Path("manifests"))
    for d in check.diffs:
        print(d, file=sys.stderr)
    print(check.verdict, file=sys.stdout if check.ok else sys.stderr)
    return errors.EXIT_OK if check.ok else errors.EXIT_FAILURE


def cmd_run(args: argparse.Namespace) -> int:
    from tuneops.ci.run import PASSED, ci_run

    status = ci_run(args.experiment, Path(args.out), reports=Path(args.reports_dir),
                    runs=Path(args.runs_dir), fresh=args.fresh)
    return errors.EXIT_OK if status["status"] == PASSED else errors.EXIT_FAILURE


def cmd_publish(args: argparse.Namespace) -> int:
    from tuneops.ci.publish import publish

    done = publish(Path.cwd(), Path(args.out), head_sha=args.head_sha, branch=args.branch,
                   remote=args.remote, attempts=args.attempts)
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
    if args.print:
        sys.stdout.write(comment.body(plan, Path(args.out), results=results))
        return errors.EXIT_OK
    if not args.repo or not re.fullmatch(r"[\w.-]+/[\w.-]+", args.repo) or not args.pr:
        raise errors.UserError(summary="--repo owner/name and --pr N are needed to post")
    from tuneops.ci import github

    gh = github.client()
    pr = github.pull_request(gh, args.repo, args.pr)
    text = comment.body(plan, Path(args.out), results=results, fork=pr.fork,
                        head_sha=pr.head_sha)
    try:
        how, cid = github.upsert_comment(gh, args.repo, args.pr, text, comment.MARKER)
    except github.GithubException as exc:
        if exc.status != 403:
            raise
        # a fork's pull_request token cannot write: the body goes to the job summary
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary:
            with open(summary, "a") as f:
                f.write(text)
        print("cannot comment with this token (403); body written to the job summary",
              file=sys.stderr)
        return errors.EXIT_OK
    print(f"{how} comment {cid} on {args.repo}#{args.pr}")
    return errors.EXIT_OK
