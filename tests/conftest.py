"""Shared fixtures: a scratch copy of the project with its own embedded state."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the developer's MLflow server, store or GitHub variables."""
    for var in (
        "MLFLOW_TRACKING_URI",
        "MLFLOW_TRACKING_USERNAME",
        "MLFLOW_TRACKING_PASSWORD",
        "MODELOPS_STORE",
        "MODELOPS_HOME",
        "MODELOPS_PROJECT",
        "GITHUB_ACTIONS",
        "GITHUB_STEP_SUMMARY",
        "AWS_PROFILE",
    ):
        monkeypatch.delenv(var, raising=False)


def copy_project(dest: Path) -> Path:
    """Copy the parts of the repository a model loop needs into `dest` and `git init` it."""
    for name in ("pipelines", "environments", "data"):
        if (REPO / name).exists():
            shutil.copytree(REPO / name, dest / name)
    if (REPO / "src" / "models").exists():
        shutil.copytree(
            REPO / "src" / "models",
            dest / "src" / "models",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=dest, check=True)
    subprocess.run(["git", "add", "-A"], cwd=dest, check=True)
    subprocess.run(["git", "commit", "-qm", "init"], cwd=dest, check=True, env=env)
    return dest


@pytest.fixture
def project_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A git repository holding a copy of the project; cwd is set to it."""
    root = copy_project(tmp_path / "proj")
    monkeypatch.chdir(root)
    yield root
    # Model packages imported from this copy must not leak into the next test.
    for name in [m for m in sys.modules if m == "models" or m.startswith("models.")]:
        del sys.modules[name]
