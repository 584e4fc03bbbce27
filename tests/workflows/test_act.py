"""Run every workflow end to end with `act` on the host, offline, in a fork-like copy.

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

import hashlib
import json
import os
import re
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
    fork: Path,
    standins: Standins,
    event: str,
    workflow: str,
    payload: dict[str, Any],
    state: Path,
    *extra: str,
    require_jobs: bool = True,
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
        *extra,
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MODELOPS_"))}
    # The recording `gh` first on PATH: the runs never reach GitHub.
    env["PATH"] = f"{standins.bin}{os.pathsep}{env.get('PATH', '')}"
    proc = subprocess.run(
        cmd, cwd=fork, env=env, capture_output=True, text=True, timeout=ACT_TIMEOUT_S, check=False
    )
    log = fork.parent / f"act-{workflow}.log"
    with log.open("a", encoding="utf-8") as fh:  # a test may run a workflow twice
        fh.write(proc.stdout + proc.stderr)
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
    assert results or not require_jobs, proc.stdout[-3000:] + proc.stderr[-3000:]
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
    # Each job missed the (empty) cache, installed from the lock and saved its venv under
    # one key: the lock's hash, the Python version, the OS and the torch build.
    saved = (standins.root / "records" / "cache-keys").read_text("utf-8").splitlines()
    keys = {line.split()[0] for line in saved}
    assert len(saved) == 3 and len(keys) == 1, saved
    assert re.fullmatch(r"modelops-venv-Linux-X64-py3\.\d+\.\d+-torch-cpu-[0-9a-f]{64}", *keys)

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
    for argv in (["train", "churn"], ["evaluate", "churn"], ["register", "churn"],
                 ["promote", "churn", "--to", "dev"]):  # fmt: skip
        modelops_cli(fork, state, *argv)
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
    # A deploy never restores or saves a cache: it installed from the lock.
    assert not (standins.root / "records" / "cache-keys").exists()


# -- main, promote, release, drift, runner-janitor ------------------------------------


def modelops_cli(fork: Path, state: Path, *argv: str) -> None:
    """Run the CLI in the fork against the run's state, as a person on a laptop would."""
    # Only the run's state: an earlier test's MLFLOW_TRACKING_URI (mlflow.set_tracking_uri
    # exports it) must not send these registrations elsewhere.
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MODELOPS_"))}
    env = {**clean, "MODELOPS_HOME": str(state), **GIT_ENV}
    proc = subprocess.run(
        [str(BIN / "modelops"), *argv], cwd=fork, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]


def with_origin(fork: Path) -> Path:
    """A local bare repository as `origin` (what the runs push to), holding main."""
    origin = fork.parent / "origin.git"
    git(fork.parent, "init", "-q", "--bare", str(origin))
    git(fork, "remote", "set-url", "origin", str(origin))
    git(fork, "push", "-q", "origin", "main")
    git(fork, "fetch", "-q", "origin")
    return origin


def only_churn(fork: Path) -> None:
    """The fork keeps one example model (the torch one would train for minutes under act)."""
    others = sorted(p.name for p in (fork / "pipelines").glob("*.yaml") if p.name != "churn.yaml")
    if others:
        git(fork, "rm", "-q", *(f"pipelines/{name}" for name in others))
        git(fork, "commit", "-qm", "this team trains churn only")


def push_payload(before: str, after: str, ref: str = "refs/heads/main") -> dict[str, Any]:
    return {
        "ref": ref,
        "before": before,
        "after": after,
        "repository": {"full_name": "acme/churn-models", "name": "churn-models",
                       "default_branch": "main"},
    }  # fmt: skip


def back_to_main(fork: Path) -> None:
    """Undo what a run did to the working tree (a promotion switches to its branch)."""
    git(fork, "checkout", "-q", "-f", "main")


@pytest.fixture(scope="module")
def prod_fork(tmp_path_factory: pytest.TempPathFactory, sample_project: Path) -> tuple[Path, Path]:
    """A fork (churn only) whose churn v1 runs in dev, staging and prod; its state folder."""
    root = tmp_path_factory.mktemp("prod-fork")
    fork = fork_copy(root / "fork", sample_project)
    only_churn(fork)
    state = root / "state"
    for argv in (["train", "churn"], ["evaluate", "churn"], ["register", "churn"]):
        modelops_cli(fork, state, *argv)
    for env in ("dev", "staging", "prod"):
        modelops_cli(fork, state, "promote", "churn", "--to", env)
        git(fork, "add", "environments")
        git(fork, "commit", "-qm", f"Promote churn to {env}")
    with_origin(fork)
    return fork, state


def test_promote_workflow_opens_the_pr_with_the_app_token_and_supersedes_older_ones(
    fork: Path, standins: Standins, tmp_path: Path
) -> None:
    """promote.yml: the PR is pushed and opened with the App's token; a newer one closes it."""
    only_churn(fork)
    origin = with_origin(fork)
    state = tmp_path / "state"
    for argv in (["train", "churn"], ["evaluate", "churn"], ["register", "churn"]):
        modelops_cli(fork, state, *argv)
    repository = {"full_name": "acme/churn-models", "name": "churn-models"}
    payload = {"inputs": {"model": "churn", "to": "dev"}, "repository": repository}

    jobs = act(fork, standins, "workflow_dispatch", "promote.yml", payload, state)
    back_to_main(fork)

    assert jobs == {"promote": "success"}, jobs
    (first,) = standins.github_state()["pulls"]
    assert first["title"] == "Promote churn to dev" and first["base"] == "main"
    assert first["head"].startswith("modelops/promote/dev/churn/")
    # The App's token, asking for exactly what the job needs; never the job token.
    assert first["token"] == "app-token:contents=write,pull-requests=write,administration=,actions="
    pushed = git(origin, "show", f"{first['head']}:environments/dev/models/churn.yaml")
    assert yaml.safe_load(pushed)["version"] == 1
    assert first["body"].startswith("## Promote churn v1 to dev"), "the CLI's PR body"

    # A newer version of churn: its promotion gets its own PR and supersedes the first.
    spec = fork / "pipelines" / "churn.yaml"
    spec.write_text(spec.read_text("utf-8").replace("max_iter: 150", "max_iter: 120"), "utf-8")
    git(fork, "commit", "-qam", "churn: fewer rounds")
    git(fork, "push", "-q", "origin", "main")
    for argv in (["train", "churn"], ["evaluate", "churn"], ["register", "churn"]):
        modelops_cli(fork, state, *argv)
    payload["inputs"] = {"model": "churn", "to": "dev"}

    jobs = act(fork, standins, "workflow_dispatch", "promote.yml", payload, state)
    back_to_main(fork)

    assert jobs == {"promote": "success"}, jobs
    old, new = standins.github_state()["pulls"]
    assert new["state"] == "open" and new["head"] != old["head"]
    assert (
        yaml.safe_load(git(origin, "show", f"{new['head']}:environments/dev/models/churn.yaml"))[
            "version"
        ]
        == 2
    )
    assert old["state"] == "closed", "the older open promotion is superseded"
    assert old["comments"] == [
        f"Superseded by #{new['number']}, a newer promotion of churn to dev."
    ]
    assert old["closed_with"].startswith("app-token:")


def test_release_refuses_a_tag_off_main_and_deploys_one_on_main(
    prod_fork: tuple[Path, Path], standins: Standins
) -> None:
    """release.yml: a prod-* tag off main is refused before any deploy; one on main deploys."""
    fork, state = prod_fork
    main_sha = git(fork, "rev-parse", "HEAD")
    git(fork, "switch", "-q", "-c", "hotfix")
    (fork / "docs" / "hotfix.md").write_text("a change never reviewed on main\n", "utf-8")
    git(fork, "add", "docs/hotfix.md")
    git(fork, "commit", "-qm", "hotfix")
    git(fork, "tag", "prod-hotfix")
    side = git(fork, "rev-parse", "HEAD")
    live = state / "serving" / "prod" / "live.json"

    jobs = act(
        fork,
        standins,
        "push",
        "release.yml",
        push_payload(main_sha, side, "refs/tags/prod-hotfix"),
        state,
    )
    back_to_main(fork)
    assert jobs.get("on-main") == "failure", jobs
    assert jobs.get("deploy-prod") in (None, "skipped"), jobs
    assert not live.exists(), "nothing deployed from a tag off main"
    log = (fork.parent / "act-release.yml.log").read_text("utf-8")
    assert "is not on main" in log

    git(fork, "tag", "prod-2026.11.29", main_sha)
    git(fork, "checkout", "-q", "prod-2026.11.29")
    jobs = act(
        fork,
        standins,
        "push",
        "release.yml",
        push_payload(main_sha, main_sha, "refs/tags/prod-2026.11.29"),
        state,
    )
    back_to_main(fork)
    assert jobs == {"on-main": "success", "deploy-prod": "success"}, jobs
    manifest = yaml.safe_load((fork / "environments/prod/models/churn.yaml").read_text())
    served = json.loads(live.read_text())["churn"]
    assert (served["version"], served["sha256"]) == (manifest["version"], manifest["sha256"])
    assert served["commit"] == main_sha, "live.json records what was deployed"


MONITOR_SECTION = """
monitor:
  window: 7d
  min_rows: 50
  max_drop: {accuracy: 0.1}
"""
APP_TOKEN = "app-token:contents=write,pull-requests=write,administration=,actions=,issues=write"


def _labelled_stream(fork: Path, state: Path, *, wrong_every: int) -> None:
    """100 rows churn's prod version scored (all "stays"), and labels that came later:
    every `wrong_every`-th customer churned after all (0 for none)."""
    manifest = yaml.safe_load((fork / "environments/prod/models/churn.yaml").read_text())
    scored = fork / "data" / "churn" / "predictions" / "2026-11-20.csv"
    scored.parent.mkdir(parents=True, exist_ok=True)
    header = "customer_id,prediction,proba_0,proba_1,model_version,model_sha256,scored_at"
    rows = [
        f"C{i:04d},0,0.7,0.3,{manifest['version']},{manifest['sha256']},2026-11-20T10:00:00+00:00"
        for i in range(100)
    ]
    scored.write_text("\n".join([header, *rows]) + "\n", "utf-8")
    labels = [f"C{i:04d},{1 if wrong_every and i % wrong_every == 0 else 0}" for i in range(100)]
    (fork / "data" / "churn" / "labels.csv").write_text(
        "\n".join(["customer_id,churned", *labels]) + "\n", "utf-8"
    )


def _github_standin(fork: Path) -> Any:
    """GitHub's REST API stand-in (tests/unit/githubapi.py) holding the fork's main, which
    accepts only the App token the workflow should mint."""
    sys.path.insert(0, str(REPO / "tests" / "unit"))
    from githubapi import GitHubStandIn, OpenAPI, openapi_description, serve

    standin = GitHubStandIn(OpenAPI(openapi_description()), APP_TOKEN)
    standin.add_repo("acme/churn-models")
    spec = "pipelines/churn.yaml"
    standin.add_branch("acme/churn-models", "main", {spec: (fork / spec).read_bytes()})
    return standin, serve(standin)


def test_monitor_workflow_opens_a_retraining_pr_on_a_performance_drop_only(
    prod_fork: tuple[Path, Path], standins: Standins
) -> None:
    """monitor.yml: a clean labelled stream opens nothing; a planted drop opens one PR
    (App token) that points churn's spec at the newest labelled snapshot."""
    fork, state = prod_fork
    spec = fork / "pipelines" / "churn.yaml"
    spec.write_text(spec.read_text("utf-8") + MONITOR_SECTION, "utf-8")
    _labelled_stream(fork, state, wrong_every=0)
    git(fork, "add", "-A")
    git(fork, "commit", "-qm", "churn: watch performance; labels of November")
    standin, running = _github_standin(fork)
    server = next(running)
    payload = {
        "inputs": {"models": "churn"},
        "repository": {
            "full_name": "acme/churn-models",
            "name": "churn-models",
            "default_branch": "main",
        },
    }
    extra = ("--env", f"GITHUB_API_URL={server.url}",
             "--env", "GITHUB_REPOSITORY=acme/churn-models",
             "--var", "MODELOPS_APP_ID=12345")  # fmt: skip
    try:
        jobs = act(fork, standins, "workflow_dispatch", "monitor.yml", payload, state, *extra)
        back_to_main(fork)
        assert jobs == {"due": "success", "watch": "success"}, jobs
        watched = json.loads((state / "results" / "churn" / "watch.json").read_text())
        assert watched["checks"]["monitor"]["status"] == "clean", watched
        assert watched["checks"]["drift"]["status"] == "skipped", "no recent data committed"
        assert standin.calls == [], "a clean stream opens nothing"
        assert not standins.app_tokens.exists(), "and mints no App token"

        # Labels that came later say 1 in 2 customers the model kept did churn.
        _labelled_stream(fork, state, wrong_every=2)
        customers = (fork / "data" / "churn" / "customers.csv").read_text("utf-8")
        snapshot = fork / "data" / "churn" / "snapshots" / "2026-11-20.csv"
        snapshot.parent.mkdir(parents=True)
        snapshot.write_text(customers.rsplit("\n", 2)[0] + "\n", "utf-8")  # one row fewer
        git(fork, "add", "-A")
        git(fork, "commit", "-qm", "labels and a labelled snapshot")

        jobs = act(fork, standins, "workflow_dispatch", "monitor.yml", payload, state, *extra)
        back_to_main(fork)
    finally:
        running.close()
    assert jobs == {"due": "success", "watch": "success"}, jobs
    assert standin.violations == [], standin.violations
    watched = json.loads((state / "results" / "churn" / "watch.json").read_text())
    assert watched["trigger"] == "monitor", watched
    (pr,) = standin.repos["acme/churn-models"].pulls
    assert (pr["head"], pr["base"], pr["state"]) == ("modelops/retrain-churn", "main", "open")
    assert pr["title"] == "Retrain churn on 2026-11-20.csv"
    assert "<!-- modelops: retrain:churn -->" in pr["body"] and "accuracy" in pr["body"]
    pushed = yaml.safe_load(standin.files_at("acme/churn-models", "modelops/retrain-churn")[
        "pipelines/churn.yaml"])  # fmt: skip
    digest = hashlib.sha256(snapshot.read_bytes()).hexdigest()
    assert pushed["data"]["path"] == "data/churn/snapshots/2026-11-20.csv"
    assert pushed["data"]["sha256"] == digest
    assert standin.repos["acme/churn-models"].issues == []
    assert standins.app_tokens.read_text("utf-8").splitlines() == [APP_TOKEN]


def test_main_workflow_trains_registers_and_opens_the_dev_promotion(
    fork: Path, standins: Standins, tmp_path: Path
) -> None:
    """main.yml: churn (never registered) trains, registers, and its dev PR opens via the App."""
    only_churn(fork)
    origin = with_origin(fork)
    state = tmp_path / "state"
    head = git(fork, "rev-parse", "HEAD")

    jobs = act(fork, standins, "push", "main.yml", push_payload(head + "~1", head), state)
    back_to_main(fork)

    assert jobs.get("changed") == "success", jobs
    assert jobs.get("train") == "success", jobs
    assert jobs.get("promote") == "success", jobs
    assert jobs.get("warm-cache") == "success", jobs
    # Only the credential-free warm-cache job saves a venv (for pull requests to restore);
    # the jobs that read the registry, register or promote install from the lock.
    (saved,) = (standins.root / "records" / "cache-keys").read_text("utf-8").splitlines()
    assert saved.startswith("modelops-venv-Linux-X64-py3."), saved
    registered = json.loads((state / "results" / "churn" / "register.json").read_text())
    assert registered["version"] == 1
    (pr,) = standins.github_state()["pulls"]
    assert pr["title"] == "Promote churn to dev"
    assert pr["token"].startswith("app-token:contents=write,pull-requests=write")
    manifest = yaml.safe_load(
        git(origin, "show", f"{pr['head']}:environments/dev/models/churn.yaml")
    )
    assert manifest["version"] == 1 and manifest["sha256"] == registered["sha256"]


def test_runner_janitor_starts_only_with_gpu_runners_and_mints_its_own_token(
    fork: Path, standins: Standins, tmp_path: Path
) -> None:
    """runner-janitor.yml: idle without a GPU provider; with one, it mints its App token."""
    state = tmp_path / "state"
    payload = {"schedule": "17 * * * *"}
    jobs = act(fork, standins, "schedule", "runner-janitor.yml", payload, state, require_jobs=False)
    assert jobs == {}, "no GPU provider: the janitor job does not run"
    assert not standins.app_tokens.exists(), "no App token is minted for nothing"

    jobs = act(fork, standins, "schedule", "runner-janitor.yml", payload, state,
               "--var", "MODELOPS_GPU_PROVIDER=aws", "--var", "MODELOPS_APP_ID=12345")  # fmt: skip
    # Offline, AWS cannot be reached: the run stops at the OIDC role, after the token.
    assert jobs == {"janitor": "failure"}, jobs
    tokens = standins.app_tokens.read_text("utf-8").splitlines()
    assert tokens == ["app-token:contents=,pull-requests=,administration=write,actions=read"]
    log = (fork.parent / "act-runner-janitor.yml.log").read_text("utf-8")
    assert "cannot reach" in log
