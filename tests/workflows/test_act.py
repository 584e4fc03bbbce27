"""Run pr.yml and deploy.yml end to end with `act` on the host, offline, in a fork-like copy.

The copy is what a forking team has: the tracked files of the template (its team
part, pipelines/, environments/, src/models/ and data/, taken from the sample
project of tests/fixtures, never from this repository's own, which a fork
changes), its own git history (a base commit on main and a branch that tunes
the churn model), and an `origin` on GitHub. Remote actions are replaced by the stand-ins of
`standins.py`; actions/checkout is act's own (it copies the working tree). The
embedded MLflow and serving store live in one state folder (MODELOPS_HOME) so
the test can read what the run did.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from standins import Standins, remote_actions, write_standins

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
GIT_ENV = {
    "GIT_AUTHOR_NAME": "dev",
    "GIT_AUTHOR_EMAIL": "dev@example.com",
    "GIT_COMMITTER_NAME": "dev",
    "GIT_COMMITTER_EMAIL": "dev@example.com",
}
# A fork's own unit tests: the template's suite is not what its PR job should rerun here.
KEPT_TESTS = ("tests/conftest.py", "tests/unit/test_changes.py")
# The team part: from the sample project, so that a fork's own models and manifests
# (or deleted examples) change nothing here.
TEAM_PART = ("pipelines", "environments", "src/models", "data")
ACT_TIMEOUT_S = 480

pytestmark = [pytest.mark.workflows, pytest.mark.slow]


def git(root: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", *args],
        cwd=root,
        env={**os.environ, **GIT_ENV},
        check=True,
        capture_output=True,
        text=True,
    )
    return proc.stdout.strip()


def fork_copy(dest: Path, sample: Path) -> Path:
    """The template's toolkit files (tests trimmed to a fork's own) and the sample project's
    team part, in a new repository."""
    tracked = git(REPO, "ls-files", "-z").split("\0")
    for rel in tracked:
        if not rel or (rel.startswith("tests/") and rel not in KEPT_TESTS):
            continue
        if rel.startswith(tuple(f"{part}/" for part in TEAM_PART)):
            continue
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    for part in TEAM_PART:
        shutil.copytree(sample / part, dest / part, ignore=shutil.ignore_patterns("__pycache__"))
    git(dest, "init", "-q", "-b", "main")
    git(dest, "remote", "add", "origin", "https://github.com/acme/churn-models.git")
    git(dest, "add", "-A")
    git(dest, "commit", "-qm", "template")
    return dest


@pytest.fixture
def fork(tmp_path: Path, sample_project: Path) -> Path:
    return fork_copy(tmp_path / "fork", sample_project)


@pytest.fixture
def standins(tmp_path: Path) -> Standins:
    return write_standins(tmp_path / "standins")


def act(
    fork: Path, standins: Standins, event: str, workflow: str, payload: dict[str, Any], state: Path
) -> dict[str, str]:
    """Run one workflow with act on the host; return each job's result (success/failure)."""
    event_file = fork.parent / f"{event}.json"
    event_file.write_text(json.dumps(payload), "utf-8")
    refs = remote_actions(fork / ".github", fork / "actions")
    cmd = [
        str(BIN / "act"), event, "--json",
        "-W", f".github/workflows/{workflow}",
        "-e", str(event_file),
        # Run on this machine, no Docker: the job's shell is the host's.
        "-P", "ubuntu-latest=-self-hosted",
        "--action-cache-path", str(fork.parent / "act-cache"),
        "--env", f"MODELOPS_HOME={state}",
        # The stand-in Python sees the project's packages: pip must not reach an index.
        "--env", "PIP_NO_INDEX=1",
        "--env", "PIP_NO_BUILD_ISOLATION=0",
        "-s", "GITHUB_TOKEN=offline-test-token",
        *standins.act_args(refs),
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MODELOPS_"))}
    proc = subprocess.run(
        cmd, cwd=fork, env=env, capture_output=True, text=True, timeout=ACT_TIMEOUT_S, check=False
    )
    (fork.parent / f"act-{workflow}.log").write_text(proc.stdout + proc.stderr, "utf-8")
    results: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if record.get("jobResult"):
            # A matrix or reusable-workflow job reports once per row: keep the worst result.
            job = record["jobID"]
            if results.get(job) in (None, "success"):
                results[job] = record["jobResult"]
    assert results, proc.stdout[-3000:] + proc.stderr[-3000:]
    return results


def pr_payload(fork: Path, base: str, head: str) -> dict[str, Any]:
    repo = {"full_name": "acme/churn-models", "name": "churn-models", "owner": {"login": "acme"}}
    return {
        "action": "synchronize",
        "number": 7,
        "pull_request": {
            "number": 7,
            "base": {"sha": base, "ref": "main", "repo": repo},
            "head": {"sha": head, "ref": "tune-churn", "repo": repo},
        },
        "repository": repo,
    }


def test_pr_workflow_trains_the_touched_model_and_posts_its_report(
    fork: Path, standins: Standins, tmp_path: Path
) -> None:
    """A PR tuning churn: checks pass, only churn trains, one CML comment with its metrics."""
    state = tmp_path / "state"
    base = git(fork, "rev-parse", "HEAD")
    git(fork, "switch", "-q", "-c", "tune-churn")
    spec = fork / "pipelines" / "churn.yaml"
    spec.write_text(spec.read_text("utf-8").replace("max_iter: 150", "max_iter: 120"), "utf-8")
    git(fork, "commit", "-qam", "churn: fewer boosting rounds")
    head = git(fork, "rev-parse", "HEAD")

    jobs = act(fork, standins, "pull_request", "pr.yml", pr_payload(fork, base, head), state)

    assert jobs.get("changed") == "success", jobs
    assert jobs.get("train") == "success", jobs
    assert "start-runner" not in jobs, "no GPU runner without a provider"

    comments = [json.loads(p.read_text()) for p in sorted(standins.comments.glob("*.json"))]
    assert len(comments) == 1, "one comment per touched model (digits is untouched)"
    argv, body = comments[0]["argv"], comments[0]["body"]
    assert argv[:2] == ["comment", "create"]
    assert "--publish=false" in argv and "--update" in argv
    assert argv[argv.index("--watermark-title") + 1] == "modelops-report:churn"
    assert argv[argv.index("--target") + 1] == "pr/7"
    assert comments[0]["env"] == {"REPO_TOKEN": "offline-test-token", "ITERATIVE_DO_NOT_TRACK": "1"}
    assert "churn" in body and "| metric |" in body and "roc\\_auc" in body
    assert "Plots and the full report: [artifact](file://" in body
    assert (standins.root / "records" / "cml-version").read_text().strip() == "0.20.6"
    uploaded = {p.name for p in (standins.artifacts / "modelops-report-churn").iterdir()}
    assert {"report.md", "roc.png"} <= uploaded, "plots travel as a workflow artifact"

    train = json.loads((state / "results" / "churn" / "train.json").read_text())
    assert train["params"]["max_iter"] == 120, "the PR's spec was trained"
    assert not (state / "results" / "digits").exists(), "an untouched model never trains"
    run_tags = _mlflow_run_tags(state, train["run_id"])
    assert run_tags["modelops.sha256"] == train["sha256"]

    # Last, so that the checks above still speak when the lint job fails on the code itself.
    assert jobs.get("checks") == "success", f"lint/unit job failed: see {tmp_path}/act-pr.yml.log"
    assert jobs.get("all-green") == "success", jobs


def _mlflow_run_tags(state: Path, run_id: str) -> dict[str, str]:
    """Tags of an MLflow run in the embedded store, read in a subprocess (mlflow is heavy)."""
    code = (
        "import json, sys, mlflow; "
        "mlflow.set_tracking_uri(sys.argv[1]); "
        "print(json.dumps(mlflow.get_run(sys.argv[2]).data.tags))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, f"sqlite:///{state / 'mlflow.db'}", run_id],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    tags: dict[str, str] = json.loads(out.strip().splitlines()[-1])
    return tags


def test_deploy_workflow_reconciles_dev_and_only_plans_prod(
    fork: Path, standins: Standins, tmp_path: Path
) -> None:
    """A merged promotion into dev: deploy.yml makes dev serve it; prod gets a plan only."""
    state = tmp_path / "state"
    env = {**os.environ, "MODELOPS_HOME": str(state), **GIT_ENV}
    for argv in (["train", "churn"], ["evaluate", "churn"], ["register", "churn"],
                 ["promote", "churn", "--to", "dev"]):  # fmt: skip
        subprocess.run(
            [str(BIN / "modelops"), *argv], cwd=fork, env=env, check=True, capture_output=True
        )
    before = git(fork, "rev-parse", "HEAD")
    git(fork, "add", "environments/dev")
    git(fork, "commit", "-qm", "Promote churn to dev")
    after = git(fork, "rev-parse", "HEAD")
    manifest = yaml.safe_load((fork / "environments/dev/models/churn.yaml").read_text())
    payload = {
        "ref": "refs/heads/main",
        "before": before,
        "after": after,
        "repository": {"full_name": "acme/churn-models", "name": "churn-models"},
    }

    jobs = act(fork, standins, "push", "deploy.yml", payload, state)

    assert set(jobs.values()) == {"success"}, jobs
    serving = {p.relative_to(state): json.loads(p.read_text()) for p in state.rglob("live.json")}
    with_churn = {path: live["churn"] for path, live in serving.items() if "churn" in live}
    assert len(with_churn) == 1, f"only dev serves churn (prod only plans): {serving}"
    ((path, churn),) = with_churn.items()
    assert "dev" in path.parts
    assert (churn["version"], churn["sha256"]) == (manifest["version"], manifest["sha256"])
    prod = json.loads((state / "results" / "prod" / "deploy.json").read_text())
    assert prod["dry_run"] is True
