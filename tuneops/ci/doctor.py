"""`tuneops ci doctor`: what GitHub's REST API shows of the setup docs/ci.md asks for.

It reads, never writes:
- the repository's environments (GET /repos/{repo}/environments): `gpu`, `measure` and
  `reports-bot` exist with deployments limited to protected branches or custom branch
  policies (they hold the secrets), and `gpu` has a `required_reviewers` protection rule
  naming at least one reviewer;
- with --org, the organisation's self-hosted runner groups
  (GET /orgs/{org}/actions/runner-groups): the GPU group exists, is not the default group,
  is `restricted_to_workflows` with exactly the trusted workflow on the default branch in
  `selected_workflows`, and does not allow public repositories.
What the API cannot show (that the runner was registered `--ephemeral`, that no other
workflow can reach it through a repository-level group) is printed as a reminder.
"""

from __future__ import annotations

from dataclasses import dataclass

ENVIRONMENTS = ("gpu", "measure", "reports-bot")
REVIEWED = ("gpu",)  # GPU time is spent only after a person approves
TRUSTED_WORKFLOW = ".github/workflows/tuneops.yml"


@dataclass
class Finding:
    ok: bool
    what: str

    def __str__(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'} {self.what}"


def _get(gh, url: str) -> tuple[int, dict]:
    from github import GithubException

    try:
        _headers, doc = gh.requester.requestJsonAndCheck("GET", url)
        return 200, doc or {}
    except GithubException as exc:
        return exc.status, {}


def check(gh, repo: str, *, org: str | None = None, runner_group: str = "tuneops-gpu",
          default_branch: str = "main") -> list[Finding]:
    out: list[Finding] = []
    status, doc = _get(gh, f"/repos/{repo}/environments")
    if status != 200:
        out.append(Finding(False, f"cannot list the environments of {repo} (HTTP {status}; "
                                  "the token needs Administration: read)"))
    envs = {e.get("name"): e for e in doc.get("environments") or [] if isinstance(e, dict)}
    for name in ENVIRONMENTS if status == 200 else ():
        env = envs.get(name)
        if env is None:
            out.append(Finding(False, f"environment {name!r} does not exist: it gates nothing"))
            continue
        rules = [r for r in env.get("protection_rules") or [] if isinstance(r, dict)]
        reviewers = [r for rule in rules if rule.get("type") == "required_reviewers"
                     for r in rule.get("reviewers") or []]
        out.append(Finding(bool(reviewers) or name not in REVIEWED, f"environment {name!r}: "
                           f"{len(reviewers)} required reviewer(s)"))
        policy = env.get("deployment_branch_policy") or {}
        limited = bool(policy.get("protected_branches") or policy.get("custom_branch_policies"))
        out.append(Finding(limited, f"environment {name!r}: deployments "
                           + ("limited to chosen branches" if limited else "from any branch")))
    if org:
        status, doc = _get(gh, f"/orgs/{org}/actions/runner-groups")
        groups = {g.get("name"): g for g in doc.get("runner_groups") or []
                  if isinstance(g, dict)}
        group = groups.get(runner_group)
        if status != 200 or group is None:
            out.append(Finding(False, f"runner group {runner_group!r} not found in {org} "
                                      f"(HTTP {status})"))
        else:
            want = f"{repo}/{TRUSTED_WORKFLOW}@refs/heads/{default_branch}"
            selected = group.get("selected_workflows") or []
            out += [
                Finding(not group.get("default"), f"runner group {runner_group!r} is not the "
                                                  "default group"),
                Finding(bool(group.get("restricted_to_workflows")) and selected == [want],
                        f"runner group {runner_group!r} runs only {want} "
                        f"(selected: {selected or 'any workflow'})"),
                Finding(not group.get("allows_public_repositories"),
                        f"runner group {runner_group!r} refuses public repositories"),
            ]
    print("reminder: the API cannot show that each GPU runner was registered with "
          "--ephemeral (docs/ci.md)")
    return out
