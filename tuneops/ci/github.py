"""The few GitHub REST calls the bot makes, through PyGithub.

The API base comes from GITHUB_API_URL (GitHub Enterprise, or a stand-in in tests), the
token from GITHUB_TOKEN. Calls: the pull request (head sha, fork, labels, state), the open
pull requests (to find the one a workflow_run ran for), the issue's comments (list,
create, edit, delete).

The result comment is the bot's: only a comment whose author is the bot's login (and a
Bot account) and that starts with the marker is ever edited. A user who posts the marker
first owns nothing. Find-or-create is made atomic by convergence: after creating, the
comments are listed again and every bot duplicate but the oldest is deleted (two
overlapping jobs end with one comment).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from github import Auth, Github, GithubException

DEFAULT_API = "https://api.github.com"
# the author of comments made with a workflow's GITHUB_TOKEN; a GitHub App's token posts as
# "<app-slug>[bot]" (set TUNEOPS_BOT_LOGIN)
DEFAULT_BOT_LOGIN = "github-actions[bot]"


@dataclass
class PullRequest:
    number: int
    head_sha: str
    fork: bool
    labels: list[str]
    head_ref: str = ""
    state: str = "open"


def client(token: str | None = None, api_url: str | None = None) -> Github:
    token = token or os.environ.get("GITHUB_TOKEN") or os.environ.get("GH_TOKEN")
    base = api_url or os.environ.get("GITHUB_API_URL") or DEFAULT_API
    return Github(base_url=base, auth=Auth.Token(token) if token else None, retry=None,
                  lazy=True)


def _pr(pr) -> PullRequest:
    head_repo = pr.head.repo.full_name if pr.head.repo else None
    return PullRequest(pr.number, pr.head.sha, head_repo != pr.base.repo.full_name,
                       [label.name for label in pr.labels], pr.head.ref, pr.state)


def pull_request(gh: Github, repo: str, number: int) -> PullRequest:
    return _pr(gh.get_repo(repo).get_pull(number))


def pulls_at(gh: Github, repo: str, head_sha: str) -> list[PullRequest]:
    """Open pull requests whose head is `head_sha` (a fork's too: workflow_run's own
    `pull_requests` list is empty for forks)."""
    return [_pr(p) for p in gh.get_repo(repo).get_pulls(state="open")
            if p.head.sha == head_sha]


def _ours(comment, marker: str, bot_login: str) -> bool:
    user = comment.user
    return (user is not None and user.login == bot_login and user.type == "Bot"
            and (comment.body or "").startswith(marker))


def upsert_comment(gh: Github, repo: str, number: int, body: str, marker: str,
                   bot_login: str = DEFAULT_BOT_LOGIN) -> tuple[str, int]:
    """Edit the bot's comment starting with `marker` (the oldest), else create it; then
    delete any bot duplicate a concurrent job created. Returns ("created" | "updated", id)."""
    issue = gh.get_repo(repo).get_issue(number)
    mine = sorted((c for c in issue.get_comments() if _ours(c, marker, bot_login)),
                  key=lambda c: c.id)
    how = "updated"
    if not mine:
        created = issue.create_comment(body)
        how = "created"
        mine = sorted((c for c in issue.get_comments() if _ours(c, marker, bot_login)),
                      key=lambda c: c.id) or [created]
    keep, *extra = mine
    if keep.body != body:
        keep.edit(body)
    for dup in extra:
        dup.delete()
    return how, keep.id


__all__ = ["GithubException", "PullRequest", "client", "pull_request", "pulls_at",
           "upsert_comment"]
