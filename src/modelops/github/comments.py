"""One comment per marker on a pull request, found across every page and updated in place.

CML posts the report, but its lookup of earlier comments reads only the first page, so on
a pull request with more than 100 comments it posts a second report. `upsert_comment`
pages through all comments (GitHub's `Link` header), takes the newest one that carries
the marker and was written by the expected author, and updates it; only when there is
none does it create one. Comments by anyone else are never touched, even when they
carry the marker, so a planted marker cannot make the report appear under another name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from modelops.errors import InputError
from modelops.github.client import RepoRef, as_dict, call, paged

if TYPE_CHECKING:
    from githubkit import GitHub

MAX_BODY = 65536  # GitHub refuses a longer comment body
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._:/@#+-]{0,199}")


@dataclass(frozen=True)
class CommentResult:
    """What `upsert_comment` did, to which comment, after reading how many."""

    action: Literal["created", "updated", "unchanged"]
    comment_id: int
    url: str
    scanned: int  # comments read to find the marker
    duplicates: int  # other comments of the same author and marker (left as they are)


def marker_for(key: str) -> str:
    """The hidden line that identifies the comment: `<!-- modelops: KEY -->`."""
    if not _KEY.fullmatch(key):
        raise InputError(
            f"marker '{key}' must be 1-200 letters, digits, spaces or ._:/@#+- "
            "(it is written inside an HTML comment)",
            field="--marker",
        )
    return f"<!-- modelops: {key} -->"


def with_marker(body: str, key: str) -> str:
    """`body` ending with its marker line; an InputError when it exceeds GitHub's limit."""
    marker = marker_for(key)
    text = body if marker in body else f"{body.rstrip()}\n\n{marker}\n"
    if len(text) > MAX_BODY:
        raise InputError(
            f"the comment is {len(text)} characters with its marker; GitHub takes at most "
            f"{MAX_BODY}",
            field="--body-file",
            hint="shorten the report (the full one stays in the workflow artifact)",
        )
    return text


def upsert_comment(
    github: GitHub[Any], repo: RepoRef, number: int, key: str, body: str, *, author: str
) -> CommentResult:
    """Update the newest comment of `author` that holds the marker `key`, or create one."""
    text = with_marker(body, key)
    marker = marker_for(key)
    where = f"comments of {repo}#{number}"
    scanned = 0
    mine: list[dict[str, Any]] = []
    for comment in paged(
        github,
        where,
        github.rest.issues.list_comments,
        owner=repo.owner,
        repo=repo.name,
        issue_number=number,
    ):
        scanned += 1
        login = str((comment.get("user") or {}).get("login") or "")
        if login.lower() == author.lower() and marker in str(comment.get("body") or ""):
            mine.append(comment)
    if mine:
        newest = max(mine, key=lambda c: (str(c["created_at"]), int(c["id"])))
        comment_id = int(newest["id"])
        if newest.get("body") == text:
            return CommentResult(
                "unchanged", comment_id, str(newest["html_url"]), scanned, len(mine) - 1
            )
        updated = as_dict(
            call(
                f"update comment {comment_id} on {repo}#{number}",
                github.rest.issues.update_comment,
                repo.owner,
                repo.name,
                comment_id,
                data={"body": text},
            )
        )
        return CommentResult(
            "updated", int(updated["id"]), str(updated["html_url"]), scanned, len(mine) - 1
        )
    created = as_dict(
        call(
            f"comment on {repo}#{number}",
            github.rest.issues.create_comment,
            repo.owner,
            repo.name,
            number,
            data={"body": text},
        )
    )
    return CommentResult("created", int(created["id"]), str(created["html_url"]), scanned, 0)


def token_login(github: GitHub[Any]) -> str:
    """The login of the token's user (`GET /user`); app tokens cannot read it."""
    user = as_dict(
        call("read the token's user (pass --author)", github.rest.users.get_authenticated)
    )
    return str(user["login"])
