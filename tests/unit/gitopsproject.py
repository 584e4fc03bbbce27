"""A git project with the toy model, the real environment folders and registered versions.

Promotion, deploy, status, predict and drift tests start from here: versions are
real bundles (written by `modelops.bundle`) logged to a real MLflow run and
registered through `modelops.registry`, so every digest is the one production sees.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from toyproject import git_commit_all, write_toy

from modelops import registry
from modelops.bundle import write_bundle
from modelops.fsutil import sha256_file
from modelops.modelapi import TrainContext, load_model_module
from modelops.project import Project
from modelops.spec import load_pipeline

REPO = Path(__file__).resolve().parents[2]


def make_project(root: Path) -> Project:
    """The toy model plus a copy of the repository's environments/, committed."""
    write_toy(root)
    shutil.copytree(REPO / "environments", root / "environments")
    git_commit_all(root, "toy project")
    return Project(root)


def register_version(
    project: Project, workdir: Path, *, bias: float = 0.6, accuracy: float = 0.8
) -> registry.VersionInfo:
    """Train the toy model, write its bundle, log it as an MLflow run and register it."""
    import mlflow
    import pandas as pd

    spec = load_pipeline(project, "toy")
    module = load_model_module(project, spec.entrypoint, file=spec.path)
    data_file = spec.data_file(project)
    frame = pd.read_csv(data_file)
    model = module.train(frame, {"bias": bias}, TrainContext(seed=spec.seed, target=spec.target))
    bundle_dir = workdir / f"bundle-{bias}-{accuracy}"
    digest = write_bundle(
        bundle_dir,
        module=module,
        model=model,
        spec=spec,
        features=["x"],
        classes=[0, 1],
        input_example=frame.head(3),
    )
    experiment = registry.ensure_experiment(project, "toy")
    mlflow.set_tracking_uri(project.tracking_uri())
    with mlflow.start_run(experiment_id=experiment) as run:
        mlflow.log_artifacts(str(bundle_dir), artifact_path=registry.BUNDLE_ARTIFACT_PATH)
    metrics = {"accuracy": accuracy, "roc_auc": accuracy}
    registry.log_evaluation(project, run.info.run_id, metrics)
    tags = {
        "modelops.sha256": digest,
        "modelops.data_sha256": sha256_file(data_file),
        "modelops.commit": project.git("rev-parse", "HEAD"),
        "modelops.metrics": json.dumps(metrics),
    }
    return registry.register_run(project, "toy", run.info.run_id, tags=tags)


def commit(project: Project, message: str) -> None:
    """Commit everything (the manifests promote wrote), as a promotion PR merge would."""
    git_commit_all(project.root, message)


def modelops(project: Project, *argv: str) -> int:
    """Run the CLI in-process against `project`."""
    from modelops.cli import main

    return main(["-C", str(project.root), *argv])


def cli_process(project: Project, *argv: str, env: dict[str, str] | None = None) -> Any:
    """Run the CLI in a child process (for concurrency and crash tests)."""
    return subprocess.run(
        [sys.executable, "-m", "modelops", "-C", str(project.root), *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=project.root,
        check=False,
    )


def forget_models() -> None:
    """Model packages imported from one temp project must not leak into the next."""
    for name in [m for m in sys.modules if m == "models" or m.startswith("models.")]:
        del sys.modules[name]
