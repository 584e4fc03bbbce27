"""Scratch projects that share the session's MLflow server, driven through the `modelops` CLI.

Each project gets its own toy models (named so no two tests or pipelines share a
registered model), the repository's environment folders, and its own store prefix
on the moto server. Commands run as child processes with a chosen MLflow user, as
CI jobs do.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from toyproject import TOY_SPEC, git_commit_all, write_toy

from modelops.localstack import Stack

REPO = Path(__file__).resolve().parents[2]


def unique(stem: str) -> str:
    """A model or prefix name no other test of the session uses."""
    return f"{stem}-{uuid.uuid4().hex[:8]}"


def toy_project(root: Path, models: list[str]) -> Path:
    """A git project at `root` with the toy model under each name in `models`."""
    write_toy(root)
    (root / "pipelines" / "toy.yaml").unlink()
    for name in models:
        spec = TOY_SPEC.replace("name: toy\n", f"name: {name}\n", 1)
        (root / "pipelines" / f"{name}.yaml").write_text(spec)
    shutil.copytree(REPO / "environments", root / "environments")
    git_commit_all(root, "toy models")
    return root


def job_env(stack: Stack, prefix: str, role: str, **extra: str) -> dict[str, str]:
    """A CI job's environment: the stack as MLflow user `role`, nothing of the developer's."""
    drop = {"MLFLOW_TRACKING_URI", "MODELOPS_STORE", "MODELOPS_HOME", "MODELOPS_PROJECT"}
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("GITHUB_")}
    env.update(stack.env(prefix, role=role))
    env.update(MODELOPS_LOCK_TIMEOUT="120")
    env.update(extra)
    return env


def cli(
    root: Path, env: dict[str, str], *argv: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """`modelops -C root ARGV...` in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "modelops", "-C", str(root), *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        timeout=timeout,
        check=False,
    )


def ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    """`proc`, asserting it exited 0 (its output in the failure message)."""
    assert proc.returncode == 0, f"{proc.args[3:]} exited {proc.returncode}:\n{proc.stderr}"
    return proc


def commit(root: Path, message: str) -> None:
    git_commit_all(root, message)


def result(root: Path, model: str, command: str) -> dict[str, Any]:
    """The JSON result a command wrote for `model`."""
    import json

    data: dict[str, Any] = json.loads(
        (root / ".modelops" / "results" / model / f"{command}.json").read_text()
    )
    return data
