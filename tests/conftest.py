"""Shared fixtures: scratch projects (the sample or the toy model) with their own embedded state."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# Toolkit tests never read the repository's own pipelines/, environments/, src/models/ or
# data/ (a fork changes them): they build projects from this sample or the toy model.
SAMPLE = Path(__file__).resolve().parent / "fixtures" / "sample"


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
        "GITHUB_OUTPUT",
        "AWS_PROFILE",
    ):
        monkeypatch.delenv(var, raising=False)


def copy_project(source: Path, dest: Path) -> Path:
    """Copy the project at `source` into `dest` and `git init` it (one commit)."""
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns("__pycache__", "README.md"))
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


@pytest.fixture(scope="session")
def sample_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/fixtures/sample with its data generated: built once, never written to by tests."""
    root = tmp_path_factory.mktemp("sample") / "proj"
    shutil.copytree(SAMPLE, root, ignore=shutil.ignore_patterns("__pycache__"))
    src = root / "src"
    # The sample's own packages first: the repository's src/models must not answer.
    path = os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")])
    for module, output in (
        ("models.churn.generate", root / "data" / "churn" / "customers.csv"),
        ("models.digits.export", root / "data" / "digits" / "digits.csv"),
    ):
        output.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", module, str(output)],
            cwd=src,
            env={**os.environ, "PYTHONPATH": path},
            check=True,
            capture_output=True,
        )
    return root


@pytest.fixture
def project_copy(
    sample_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """A git repository holding a copy of the sample project; cwd is set to it."""
    root = copy_project(sample_project, tmp_path / "proj")
    monkeypatch.chdir(root)
    yield root
    # Model packages imported from this copy must not leak into the next test.
    for name in [m for m in sys.modules if m == "models" or m.startswith("models.")]:
        del sys.modules[name]
