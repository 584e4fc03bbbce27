"""The shared registry: MLflow on PostgreSQL with basic auth, and least privilege per CI user.

`modelops-pr` (PR pipelines, which run the PR's code) may log runs and read the
registry; `modelops-deploy` (main, deploy, release) may also register and move
aliases. The toolkit logs in through MLFLOW_TRACKING_USERNAME/PASSWORD only.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from sharedserver import cli, commit, job_env, ok, result, toy_project, unique

from modelops.localstack import Stack

pytestmark = pytest.mark.integration


def _client(stack: Stack, role: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """An MlflowClient of the session's server, logged in as `role`."""
    from mlflow import MlflowClient

    for key, value in stack.credentials(role).items():
        monkeypatch.setenv(key, value)
    return MlflowClient(tracking_uri=stack.mlflow_url, registry_uri=stack.mlflow_url)


def test_tracking_and_registry_live_in_postgresql(stack: Stack) -> None:
    """The server's tracking and registry tables are in the PostgreSQL cluster, not in sqlite."""
    import psycopg

    assert stack.postgres is not None
    url = stack.postgres.url("mlflow").replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        tables = {
            row[0]
            for row in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            )
        }
    assert {"experiments", "runs", "registered_models", "model_versions"} <= tables
    assert not list(stack.workdir.glob("*.db"))


def test_the_toolkit_without_credentials_is_refused(stack: Stack, tmp_path: Path) -> None:
    """No MLFLOW_TRACKING_USERNAME: train ends with exit 4 and a one-line error, no traceback."""
    model = unique("anon")
    root = toy_project(tmp_path / "proj", [model])
    env = job_env(stack, unique("anon"), "deploy")
    del env["MLFLOW_TRACKING_USERNAME"], env["MLFLOW_TRACKING_PASSWORD"]
    proc = cli(root, env, "train", model)
    assert proc.returncode == 4, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "401" in proc.stderr or "authenticated" in proc.stderr


def test_pr_user_logs_runs_but_cannot_edit_the_registry(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """modelops-pr trains and evaluates, but register and an alias move are refused; deploy can."""
    model = unique("least")
    root = toy_project(tmp_path / "proj", [model])
    prefix = unique("auth")
    deploy_env = job_env(stack, prefix, "deploy")
    pr_env = job_env(stack, prefix, "pr")

    # main: the deploy user registers version 1 (it creates the registered model).
    for step in ("train", "evaluate", "register"):
        ok(cli(root, deploy_env, step, model))
    assert result(root, model, "register")["version"] == 1

    # A PR pipeline in its own checkout: runs logged into the same experiment, champion read.
    pr_root = tmp_path / "pr"
    subprocess.run(["git", "clone", "-q", str(root), str(pr_root)], check=True)
    ok(cli(pr_root, pr_env, "train", model))
    ok(cli(pr_root, pr_env, "evaluate", model))
    pr_run = result(pr_root, model, "train")["run_id"]
    refused = cli(pr_root, pr_env, "register", model)
    assert refused.returncode == 4, refused.stderr
    assert "Traceback" not in refused.stderr

    deployer = _client(stack, "deploy", monkeypatch)
    versions = deployer.search_model_versions(f"name = '{model}'")
    assert [int(v.version) for v in versions] == [1]
    experiment = deployer.get_experiment_by_name(f"modelops/{model}")  # created by deploy
    assert deployer.get_run(pr_run).info.experiment_id == experiment.experiment_id

    # The registry edit itself, straight through MLflow's client: 403 for modelops-pr.
    from mlflow.exceptions import MlflowException

    pr_client = _client(stack, "pr", monkeypatch)
    assert pr_client.get_registered_model(model).name == model  # reading is allowed
    with pytest.raises(MlflowException, match="403") as denied:
        pr_client.set_registered_model_alias(model, "dev", "1")
    assert denied.value.error_code == "PERMISSION_DENIED"

    # deploy dev as the PR user: the alias move is refused (exit 4) and the alias stays unset.
    ok(cli(root, pr_env, "promote", model, "--to", "dev", "--version", "1"))
    commit(root, f"dev: {model} v1")
    proc = cli(root, pr_env, "deploy", "dev")
    assert proc.returncode == 4, proc.stderr
    assert "Traceback" not in proc.stderr
    deployer = _client(stack, "deploy", monkeypatch)
    assert "dev" not in deployer.get_registered_model(model).aliases

    # The same deploy as modelops-deploy converges: the alias follows the manifest.
    ok(cli(root, deploy_env, "deploy", "dev"))
    assert deployer.get_model_version_by_alias(model, "dev").version == "1"


def test_another_projects_deploy_leaves_this_projects_alias_alone(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two teams share the server: team B's `deploy dev` keeps team A's model's dev alias."""
    teams = []
    for team in ("teama", "teamb"):
        model = unique(team)
        root = toy_project(tmp_path / team, [model])
        env = job_env(stack, unique(team), "deploy")  # each team its own store
        for step in ("train", "evaluate", "register"):
            ok(cli(root, env, step, model))
        ok(cli(root, env, "promote", model, "--to", "dev", "--version", "1"))
        commit(root, f"dev: {model} v1")
        teams.append((root, model, env))
    for root, _, env in teams:
        ok(cli(root, env, "deploy", "dev"))
    deployer = _client(stack, "deploy", monkeypatch)
    for _, model, _ in teams:
        assert dict(deployer.get_registered_model(model).aliases) == {"dev": "1"}, model
