"""The few GitHub REST calls the runners need, over urllib (no extra dependency).

The API base comes from `GITHUB_API_URL` (set by Actions; GitHub Enterprise
Server sets its own), so tests point it at a local stand-in server. The token
comes from the environment only, never from a command-line argument where it
would show in the process list, and it never appears in a message.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from modelops.errors import InputError, ServiceError

DEFAULT_API = "https://api.github.com"
TIMEOUT_S = 30


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
        if repository.count("/") != 1 or not all(repository.split("/")):
            raise InputError(
                f"repository must be OWNER/NAME, got '{repository}'", field="--repository"
            )
        self.repository = repository
        self._token = token
        self.api_url = (api_url or os.environ.get("GITHUB_API_URL") or DEFAULT_API).rstrip("/")

    @classmethod
    def from_env(cls, repository: str, *, required: bool = True) -> GitHub | None:
        """A client using `GITHUB_TOKEN` (a GitHub App installation token or the job token)."""
        token = os.environ.get("GITHUB_TOKEN", "")
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

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        url = f"{self.api_url}/repos/{self.repository}{path}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)  # noqa: S310
        request.add_header("Accept", "application/vnd.github+json")
        request.add_header("Authorization", f"Bearer {self._token}")
        request.add_header("X-GitHub-Api-Version", "2022-11-28")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310
                payload = response.read()
        except urllib.error.HTTPError as exc:
            detail = _error_message(exc)
            raise ServiceError(
                f"GitHub {method} {path} failed: HTTP {exc.code} {detail}",
                hint=_hint(exc.code),
            ) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ServiceError(
                f"GitHub {method} {path} failed: {reason}",
                hint=f"is {self.api_url} reachable?",
            ) from None
        return json.loads(payload) if payload else None

    def generate_jitconfig(self, name: str, labels: list[str]) -> JitConfig:
        """Register a single-use runner; its config is valid for one job only."""
        payload = self._request(
            "POST",
            "/actions/runners/generate-jitconfig",
            {"name": name, "runner_group_id": 1, "labels": labels, "work_folder": "_work"},
        )
        return JitConfig(
            runner_id=int(payload["runner"]["id"]),
            name=str(payload["runner"]["name"]),
            encoded=str(payload["encoded_jit_config"]),
        )

    def list_runners(self) -> list[Runner]:
        runners: list[Runner] = []
        page = 1
        while True:
            payload = self._request("GET", f"/actions/runners?per_page=100&page={page}")
            batch = payload.get("runners", [])
            runners.extend(
                Runner(
                    id=int(r["id"]),
                    name=str(r["name"]),
                    status=str(r.get("status", "offline")),
                    busy=bool(r.get("busy", False)),
                    labels=tuple(str(label["name"]) for label in r.get("labels", [])),
                )
                for r in batch
            )
            if len(batch) < 100:
                return runners
            page += 1

    def find_runner(self, name: str) -> Runner | None:
        return next((r for r in self.list_runners() if r.name == name), None)

    def delete_runner(self, runner_id: int) -> None:
        self._request("DELETE", f"/actions/runners/{runner_id}")

    def run_status(self, run_id: str) -> str:
        """`queued`, `in_progress`, `completed`, …, of a workflow run."""
        quoted = urllib.parse.quote(run_id, safe="")
        payload = self._request("GET", f"/actions/runs/{quoted}")
        return str(payload.get("status", "unknown"))


def _error_message(exc: urllib.error.HTTPError) -> str:
    try:
        message = json.loads(exc.read() or b"{}").get("message", "")
    except (ValueError, OSError):
        message = ""
    return str(message)[:200]


def _hint(code: int) -> str | None:
    if code in (401, 403):
        return (
            "the token needs administration:write on the repository (a GitHub App "
            "installation token); the job's GITHUB_TOKEN usually lacks it"
        )
    if code == 404:
        return "check the repository name and that the token can see it"
    return None
