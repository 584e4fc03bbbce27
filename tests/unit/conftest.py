"""Fixtures shared by the unit tests of the PR path."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from toyproject import git_commit_all, write_toy

from modelops.project import Project


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
