"""Fixtures shared by the unit tests of the PR path."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from githubapi import GitHubStandIn, OpenAPI, openapi_description, serve
from toyproject import git_commit_all, write_toy

from modelops.project import Project

STANDIN_TOKEN = "ghs_standin_token"


@pytest.fixture
def toy_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    """The toy project as a committed git repository, cwd set to it."""
    root = write_toy(tmp_path / "proj")
    (root / ".gitignore").write_text(".modelops/\n__pycache__/\n")
    git_commit_all(root)
    monkeypatch.chdir(root)
    yield Project(root)
    for name in [m for m in sys.modules if m == "models" or m.startswith("models.")]:
        del sys.modules[name]


@pytest.fixture(scope="session")
def openapi() -> OpenAPI:
    """GitHub's OpenAPI description (fetched once per machine), parsed once per session."""
    return OpenAPI(openapi_description())


@pytest.fixture
def gh(openapi: OpenAPI, monkeypatch: pytest.MonkeyPatch) -> Iterator[GitHubStandIn]:
    """The GitHub stand-in on a free loopback port, the token and API base in the environment;
    no request or response may break GitHub's description."""
    standin = GitHubStandIn(openapi, STANDIN_TOKEN)
    running = serve(standin)
    server = next(running)
    monkeypatch.setenv("GITHUB_API_URL", server.url)
    monkeypatch.setenv("GH_TOKEN", STANDIN_TOKEN)
    for name in ("GITHUB_TOKEN", "GITHUB_ACTIONS", "GITHUB_REPOSITORY"):
        monkeypatch.delenv(name, raising=False)
    yield standin
    running.close()
    assert standin.violations == [], "\n".join(standin.violations)
