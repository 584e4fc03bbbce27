"""The few GitHub REST calls the runners need, through the toolkit's one GitHub client.

The calls go through githubkit by way of `modelops.github.client` (`connect`,
`api_errors`, `paged`), the same client `modelops github` uses. The API base comes
from `GITHUB_API_URL` (set by Actions; GitHub Enterprise Server sets its own), so
tests point it at a local stand-in. The token comes from `GITHUB_TOKEN` only, never
from a command-line argument where it would show in the process list, and it never
appears in a message.

Every refusal is a ServiceError (exit 4), 401/403/404 with a hint: the runner
commands clean up what they started when GitHub fails, and the janitor goes on with
the expiry rule alone, so a GitHub failure must never look like bad input.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelops.errors import InputError, ServiceError
from modelops.github.client import (
    api_errors,
    as_dict,
    connect,
    paged,
    parse_repo,
)

if TYPE_CHECKING:
    from githubkit import GitHub as Client

_ADMIN = (
    "the token needs administration:write on the repository (a GitHub App "
    "installation token); the job's GITHUB_TOKEN usually lacks it"
)
# GitHub's refusals, each a ServiceError with what to check (see the module's docstring).
HINTS = {
    401: _ADMIN,
    403: _ADMIN,
    404: "check the repository name and that the token can see it",
}


@dataclass(frozen=True)
class Runner:
    """A self-hosted runner as the runners API lists it."""

    id: int
    name: str
    status: str  # "online" | "offline"
    busy: bool
    labels: tuple[str, ...]


@dataclass(frozen=True)
class JitConfig:
    """The single-use registration for one runner. `encoded` is a secret."""

    runner_id: int
    name: str
    encoded: str

    def __repr__(self) -> str:  # never leak the secret through a debug print
        return f"JitConfig(runner_id={self.runner_id}, name={self.name!r}, encoded=***)"


class GitHub:
    """A repository's runners and workflow runs."""

    def __init__(self, repository: str, token: str, api_url: str | None = None) -> None:
        self._repo = parse_repo(repository, field="--repository")
        self.repository = str(self._repo)
        self._client: Client[Any] = connect(token, api_url)

    @classmethod
    def from_env(cls, repository: str, *, required: bool = True) -> GitHub | None:
        """A client using `GITHUB_TOKEN` (a GitHub App installation token or the job token)."""
        token = os.environ.get("GITHUB_TOKEN", "").strip()
        if not token:
            if not required:
                return None
            raise InputError(
                "no GitHub token: set GITHUB_TOKEN",
                field="GITHUB_TOKEN",
                hint="use a GitHub App installation token (actions/create-github-app-token) "
                "with administration:write on the repository; never a personal access token",
            )
        return cls(repository, token)

    def generate_jitconfig(self, name: str, labels: list[str]) -> JitConfig:
        """Register a single-use runner; its config is valid for one job only."""
        what = f"register runner {name} on {self.repository}"
        if not 1 <= len(labels) <= 100:  # GitHub's limit, which githubkit enforces too
            raise InputError(f"a runner takes 1 to 100 labels, got {len(labels)}", field="--labels")
        with api_errors(what, hints=HINTS):
            response = self._client.rest.actions.generate_runner_jitconfig_for_repo(
                self._repo.owner,
                self._repo.name,
                data={"name": name, "runner_group_id": 1, "labels": labels, "work_folder": "_work"},
            )
        payload = as_dict(response)
        runner = _runner(payload.get("runner"), what)
        encoded = payload.get("encoded_jit_config")
        if not isinstance(encoded, str) or not encoded:
            raise ServiceError(f"{what}: GitHub answered no encoded_jit_config")
        return JitConfig(runner_id=runner.id, name=runner.name, encoded=encoded)

    def list_runners(self, name: str | None = None) -> list[Runner]:
        """Every self-hosted runner of the repository (all pages), or those called `name`."""
        what = f"list the self-hosted runners of {self.repository}"
        only: dict[str, Any] = {} if name is None else {"name": name}
        listed = paged(
            self._client,
            what,
            self._client.rest.actions.list_self_hosted_runners_for_repo,
            owner=self._repo.owner,
            repo=self._repo.name,
            items="runners",
            hints=HINTS,
            **only,
        )
        return [_runner(item, what) for item in listed]

    def find_runner(self, name: str) -> Runner | None:
        return next((r for r in self.list_runners(name) if r.name == name), None)

    def delete_runner(self, runner_id: int) -> None:
        with api_errors(f"remove runner {runner_id} from {self.repository}", hints=HINTS):
            self._client.rest.actions.delete_self_hosted_runner_from_repo(
                self._repo.owner, self._repo.name, runner_id
            )

    def run_status(self, run_id: str) -> str:
        """`queued`, `in_progress`, `completed`, …, of a workflow run."""
        what = f"read workflow run {run_id} of {self.repository}"
        # The id comes from an instance tag: input, checked before it goes into a path.
        if not re.fullmatch(r"[0-9]{1,20}", run_id):
            raise ServiceError(f"{what}: the run id is not a number")
        with api_errors(what, hints=HINTS):
            response = self._client.rest.actions.get_workflow_run(
                self._repo.owner, self._repo.name, int(run_id), exclude_pull_requests=True
            )
        status = as_dict(response).get("status")
        return status if isinstance(status, str) and status else "unknown"


def _runner(data: Any, what: str) -> Runner:
    """A runner object GitHub answered, checked field by field."""
    if not isinstance(data, dict):
        raise ServiceError(f"{what}: GitHub answered a runner that is not an object")
    runner_id, name, status = data.get("id"), data.get("name"), data.get("status")
    labels = data.get("labels", [])
    if (
        not isinstance(runner_id, int)
        or isinstance(runner_id, bool)
        or not isinstance(name, str)
        or not isinstance(status, str)
        or not isinstance(labels, list)
        or not all(
            isinstance(label, dict) and isinstance(label.get("name"), str) for label in labels
        )
    ):
        raise ServiceError(f"{what}: GitHub answered a runner without id, name, status or labels")
    return Runner(
        id=runner_id,
        name=name,
        status=status,
        busy=data.get("busy") is True,
        labels=tuple(label["name"] for label in labels),
    )
