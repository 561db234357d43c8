"""The few GitHub REST calls the bot makes, through PyGithub.

The API base comes from GITHUB_API_URL (GitHub Enterprise, or a stand-in in tests), the
token from GITHUB_TOKEN. Calls: GET the repository, GET the pull request (is it a fork,
its labels), GET the issue and its comments, then POST one comment or PATCH the one that
starts with the marker.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from github import Auth, Github, GithubException

DEFAULT_API = "https://api.github.com"


@dataclass
class PullRequest:
    number: int
    head_sha: str
    fork: bool
    labels: list[str]


def client(token: str | None = None, api_url: str | None = None) -> Github:
    token = token or os.environ.get("GITHUB_TOKEN") or os.environ.get("GH_TOKEN")
    base = api_url or os.environ.get("GITHUB_API_URL") or DEFAULT_API
    return Github(base_url=base, auth=Auth.Token(token) if token else None, retry=None)


def pull_request(gh: Github, repo: str, number: int) -> PullRequest:
    pr = gh.get_repo(repo, lazy=True).get_pull(number)
    head_repo = pr.head.repo.full_name if pr.head.repo else None
    return PullRequest(number, pr.head.sha, head_repo != pr.base.repo.full_name,
                       [label.name for label in pr.labels])


def upsert_comment(gh: Github, repo: str, number: int, body: str, marker: str) -> tuple[str, int]:
    """Edit the comment starting with `marker` (the oldest, if several), else create it.
    Returns ("created" | "updated", comment id)."""
    issue = gh.get_repo(repo, lazy=True).get_issue(number)
    for comment in issue.get_comments():
        if (comment.body or "").startswith(marker):
            if comment.body != body:
                comment.edit(body)
            return "updated", comment.id
    return "created", issue.create_comment(body).id


__all__ = ["GithubException", "PullRequest", "client", "pull_request", "upsert_comment"]
