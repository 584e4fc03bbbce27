"""One pull request or one issue per key, opened or updated in place, over GitHub's REST API.

The monitoring workflow calls these after `modelops retrain`: a retraining pull request
per model (its branch holds the rewritten spec as one commit on the base branch), or,
when there is no newer labelled data, one issue per model. A second run with the same
finding finds what the first opened and updates it; the branch gets a new commit only
when the spec's text changed, so an unchanged finding does not retrain again.

The branch is written with the Git data and contents endpoints, not `git push`: the
token (a GitHub App installation token, so that the pull request's checks run) never
lands in `.git/config`, and the whole exchange is testable against the GitHub stand-in.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from modelops.github.client import RepoRef, as_dict, call, paged
from modelops.github.comments import with_marker

if TYPE_CHECKING:
    from githubkit import GitHub

Action = Literal["created", "updated", "unchanged"]


@dataclass(frozen=True)
class Opened:
    """What `upsert_pull_request` or `upsert_issue` did, to which number."""

    action: Action
    number: int
    url: str


def git_blob_sha(content: bytes) -> str:
    """The object id git (and the contents API's `sha`) gives a file of these bytes."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content, usedforsecurity=False).hexdigest()


def _ref_sha(github: GitHub[Any], repo: RepoRef, branch: str) -> str | None:
    """The commit a branch points at, or None when there is no such branch."""
    from githubkit.exception import RequestFailed

    try:
        ref = as_dict(github.rest.git.get_ref(repo.owner, repo.name, f"heads/{branch}"))
    except RequestFailed as exc:
        if exc.response.status_code == 404:
            return None
        raise  # `call` around this turns it into one clear error
    return str(ref["object"]["sha"])


def _file_sha(github: GitHub[Any], repo: RepoRef, path: str, ref: str) -> str | None:
    """The blob id of `path` at `ref`, or None when the file is not there."""
    from githubkit.exception import RequestFailed

    try:
        found = github.rest.repos.get_content(repo.owner, repo.name, path, ref=ref).json()
    except RequestFailed as exc:
        if exc.response.status_code == 404:
            return None
        raise
    if not isinstance(found, dict) or found.get("type") != "file":
        return None
    return str(found["sha"])


def write_branch_file(
    github: GitHub[Any],
    repo: RepoRef,
    *,
    branch: str,
    base: str,
    path: str,
    content: bytes,
    message: str,
) -> Action:
    """Make `branch` hold `content` at `path` as one commit on `base`.

    Unchanged when the branch already holds exactly these bytes (no new commit, so no
    new run of the PR's checks); otherwise the branch is reset to `base` and the file
    committed there.
    """
    where = f"branch {branch} of {repo}"
    with_api = call  # each call names what it was doing when GitHub refused
    base_sha = with_api(f"read branch {base} of {repo}", _ref_sha, github, repo, base)
    if base_sha is None:
        from modelops.errors import InputError

        raise InputError(f"{repo} has no branch '{base}'", field="--base")
    head_sha = with_api(f"read {where}", _ref_sha, github, repo, branch)
    wanted = git_blob_sha(content)
    if head_sha is not None:
        if with_api(f"read {path} on {where}", _file_sha, github, repo, path, branch) == wanted:
            return "unchanged"
        with_api(
            f"reset {where} to {base}",
            github.rest.git.update_ref,
            repo.owner,
            repo.name,
            f"heads/{branch}",
            data={"sha": base_sha, "force": True},
        )
    else:
        with_api(
            f"create {where}",
            github.rest.git.create_ref,
            repo.owner,
            repo.name,
            data={"ref": f"refs/heads/{branch}", "sha": base_sha},
        )
    current = with_api(f"read {path} on {base}", _file_sha, github, repo, path, base_sha)
    body: dict[str, Any] = {
        "message": message,
        "content": base64.b64encode(content).decode("ascii"),
        "branch": branch,
    }
    if current is not None:
        body["sha"] = current
    with_api(
        f"commit {path} to {where}",
        github.rest.repos.create_or_update_file_contents,
        repo.owner,
        repo.name,
        path,
        data=body,
    )
    return "updated" if head_sha is not None else "created"


def upsert_pull_request(
    github: GitHub[Any],
    repo: RepoRef,
    *,
    head: str,
    base: str,
    title: str,
    body: str,
    key: str,
) -> Opened:
    """Update the open pull request from `head` into `base`, or open one.

    Only an open pull request is edited (a closed or merged one is history); `key`
    marks the body so that people and tools can tell which model it is for.
    """
    text = with_marker(body, key)
    mine = [
        pr
        for pr in paged(
            github,
            f"open pull requests of {repo}",
            github.rest.pulls.list,
            owner=repo.owner,
            repo=repo.name,
            state="open",
            head=f"{repo.owner}:{head}",
            base=base,
        )
        if str((pr.get("head") or {}).get("ref")) == head
    ]
    return _update_or_create(
        repo,
        "pull request",
        mine,
        title=title,
        text=text,
        update=github.rest.pulls.update,
        create=github.rest.pulls.create,
        create_fields={"head": head, "base": base},
    )


def _marked_open_issues(github: GitHub[Any], repo: RepoRef, key: str) -> list[dict[str, Any]]:
    """The open issues (not pull requests, which GitHub lists too) whose body carries `key`."""
    from modelops.github.comments import marker_for

    marker = marker_for(key)
    return [
        issue
        for issue in paged(
            github,
            f"open issues of {repo}",
            github.rest.issues.list_for_repo,
            owner=repo.owner,
            repo=repo.name,
            state="open",
        )
        if "pull_request" not in issue and marker in str(issue.get("body") or "")
    ]


def upsert_issue(github: GitHub[Any], repo: RepoRef, *, title: str, body: str, key: str) -> Opened:
    """Update the open issue whose body carries the marker `key`, or open one.

    Pull requests (which GitHub lists among issues) are skipped, and so are closed
    issues: a closed one was dealt with, a new finding gets a new issue.
    """
    text = with_marker(body, key)
    mine = _marked_open_issues(github, repo, key)
    return _update_or_create(
        repo,
        "issue",
        mine,
        title=title,
        text=text,
        update=github.rest.issues.update,
        create=github.rest.issues.create,
    )


def _update_or_create(
    repo: RepoRef,
    kind: str,
    found: list[dict[str, Any]],
    *,
    title: str,
    text: str,
    update: Any,
    create: Any,
    create_fields: dict[str, str] | None = None,
) -> Opened:
    """The oldest of `found` left alone when it already says this, else edited; or a new one.

    `update` and `create` are githubkit's methods for pull requests or issues (same shape:
    owner, repo, number, `data`).
    """
    if found:
        item = min(found, key=lambda i: int(i["number"]))
        number = int(item["number"])
        if item.get("title") == title and item.get("body") == text:
            return Opened("unchanged", number, str(item["html_url"]))
        data = {"title": title, "body": text}
        updated = as_dict(
            call(f"update {kind} {repo}#{number}", update, repo.owner, repo.name, number, data=data)
        )
        return Opened("updated", number, str(updated["html_url"]))
    data = {"title": title, "body": text, **(create_fields or {})}
    article = "an" if kind[0] in "aeiou" else "a"
    what = f"open {article} {kind} in {repo}"
    created = as_dict(call(what, create, repo.owner, repo.name, data=data))
    return Opened("created", int(created["number"]), str(created["html_url"]))


def close_issues(github: GitHub[Any], repo: RepoRef, *, key: str, note: str) -> list[int]:
    """Close the open issues marked `key`, each with the comment `note`; their numbers.

    The retraining PR supersedes the model's "no newer data" issue: once the PR is open,
    the issue would only send people to a question that has been answered.
    """
    closed = []
    for issue in _marked_open_issues(github, repo, key):
        number = int(issue["number"])
        call(
            f"comment on issue {repo}#{number}",
            github.rest.issues.create_comment,
            repo.owner,
            repo.name,
            number,
            data={"body": note},
        )
        call(
            f"close issue {repo}#{number}",
            github.rest.issues.update,
            repo.owner,
            repo.name,
            number,
            data={"state": "closed", "state_reason": "completed"},
        )
        closed.append(number)
    return closed
