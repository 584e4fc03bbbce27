"""The connection to GitHub's REST API: repository names, the token, the client, its errors.

The client is githubkit (generated from GitHub's own OpenAPI description, typed, follows
`Link` headers when paging). It is imported only when a `github` command runs. The
token comes from `GH_TOKEN`, `GITHUB_TOKEN` or `gh auth token`, never from the command
line, and never appears in a message. The API base is `GITHUB_API_URL` (Actions and
GitHub Enterprise Server set it; tests point it at a local stand-in).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from modelops.errors import InputError, ServiceError

if TYPE_CHECKING:
    from githubkit import GitHub

DEFAULT_API = "https://api.github.com"
TIMEOUT_S = 30.0
T = TypeVar("T")

# GitHub's rules: an owner is 1-39 alphanumerics or single hyphens; a repository name
# is up to 100 of letters, digits, '.', '-', '_' (and not '.' or '..').
_OWNER = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}")
_NAME = re.compile(r"[A-Za-z0-9._-]{1,100}")


@dataclass(frozen=True)
class RepoRef:
    """OWNER/REPO, checked against GitHub's naming rules."""

    owner: str
    name: str

    def __str__(self) -> str:
        return f"{self.owner}/{self.name}"


def parse_repo(value: str, *, field: str = "OWNER/REPO") -> RepoRef:
    """`OWNER/REPO` as a RepoRef, or an InputError naming the argument."""
    owner, sep, name = value.partition("/")
    if not sep or not _OWNER.fullmatch(owner) or not _NAME.fullmatch(name) or name in (".", ".."):
        raise InputError(
            f"'{value}' is not a repository: expected OWNER/REPO (e.g. acme/models)",
            field=field,
        )
    return RepoRef(owner, name)


def find_token(environ: Mapping[str, str] | None = None) -> str:
    """`GH_TOKEN`, then `GITHUB_TOKEN`, then `gh auth token`; an InputError when none."""
    env = os.environ if environ is None else environ
    for name in ("GH_TOKEN", "GITHUB_TOKEN"):
        if env.get(name, "").strip():
            return env[name].strip()
    gh = shutil.which("gh", path=env.get("PATH"))
    if gh is not None:
        try:
            proc = subprocess.run(
                [gh, "auth", "token"], capture_output=True, text=True, timeout=15, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            proc = None
        if proc is not None and proc.returncode == 0 and proc.stdout.strip():
            return proc.stdout.strip()
    raise InputError(
        "no GitHub token: set GH_TOKEN or GITHUB_TOKEN, or log in with `gh auth login`",
        field="GH_TOKEN",
        hint="a token is never passed on the command line, where the process list would show it",
    )


def connect(token: str, api_url: str | None = None) -> GitHub[Any]:
    """A githubkit client for `api_url` (default `$GITHUB_API_URL` or api.github.com)."""
    from githubkit import GitHub

    # githubkit retries rate limits and 5xx answers, logging each retry with a traceback;
    # where no logging is set up Python would print those to stderr. The error that ends
    # the call is reported once, by api_errors; an application's own handlers still get them.
    logger = logging.getLogger("githubkit")
    if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
        logger.addHandler(logging.NullHandler())
    base = (api_url or os.environ.get("GITHUB_API_URL") or DEFAULT_API).rstrip("/")
    # No HTTP cache: a check right after a change must read the new state.
    return GitHub(token, base_url=base, timeout=TIMEOUT_S, http_cache=False)


@contextmanager
def api_errors(what: str, *, hints: Mapping[int, str] | None = None) -> Iterator[None]:
    """GitHub's refusals inside the block become one clear ModelopsError.

    401 (bad token) and 404 (no such repository, or the token cannot see it) are bad
    input (exit 2); anything else GitHub or the network answers is a ServiceError (exit 4).
    A status in `hints` is a ServiceError with that hint instead (the runner commands
    clean up after any GitHub failure, so a refusal there must not read as bad input).
    """
    from githubkit.exception import RequestError, RequestFailed

    try:
        yield
    except RequestFailed as exc:
        status = exc.response.status_code
        message = _message(exc.response)
        if hints is not None and status in hints:
            raise ServiceError(
                f"{what}: GitHub answered {status}: {message}", hint=hints[status]
            ) from None
        if status == 401:
            raise InputError(
                f"{what}: GitHub rejected the token (401 {message})", field="GH_TOKEN"
            ) from None
        if status == 404:
            raise InputError(
                f"{what}: not found (404), or the token may not see it",
                hint="check OWNER/REPO and that the token has access to the repository",
            ) from None
        raise ServiceError(f"{what}: GitHub answered {status}: {message}") from None
    except RequestError as exc:
        raise ServiceError(
            f"{what}: cannot reach GitHub ({type(exc.exc).__name__})",
            hint="check the network and GITHUB_API_URL",
        ) from None


def call(what: str, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run one API call under `api_errors`."""
    with api_errors(what):
        return fn(*args, **kwargs)


def refused(what: str, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T | int:
    """Like `call`, but a 403/404/422 comes back as its status code: a setting that
    GitHub hides from this token or does not offer on this plan, not an error."""
    from githubkit.exception import RequestFailed

    with api_errors(what):
        try:
            return fn(*args, **kwargs)
        except RequestFailed as exc:
            if exc.response.status_code in (403, 404, 422):
                return int(exc.response.status_code)
            raise


def paged(
    github: GitHub[Any],
    what: str,
    fn: Callable[..., Any],
    /,
    *,
    items: str | None = None,
    per_page: int = 100,
    hints: Mapping[int, str] | None = None,
    **kwargs: Any,
) -> Iterator[dict[str, Any]]:
    """Every item of a list endpoint as a plain dict, following `Link: rel="next"`.

    `items` names the array inside an object response (`{"total_count", "variables"}`);
    `hints` as for `api_errors`.
    """

    def page(response: Any) -> list[dict[str, Any]]:
        data = response.json()
        found = data.get(items) if items is not None and isinstance(data, dict) else data
        if not isinstance(found, list):
            raise ServiceError(f"{what}: GitHub answered no list")
        return found

    with api_errors(what, hints=hints):
        yield from github.rest.paginate(fn, map_func=page, per_page=per_page, **kwargs)


def _message(response: Any) -> str:
    try:
        body = response.json()
    except ValueError:
        return "no message"
    text = str(body.get("message", "no message")) if isinstance(body, dict) else "no message"
    return text[:200]


def as_dict(response: Any) -> dict[str, Any]:
    """A response's JSON object as a plain dict (the settings code reads it as data)."""
    data = response.json()
    if not isinstance(data, dict):
        raise ServiceError(f"GitHub answered {type(data).__name__} where an object was expected")
    return data
