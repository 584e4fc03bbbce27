"""The GitOps loop against a real `mlflow server` and a real S3 API (moto server).

train (churn, through the CLI) → register → promote → deploy to S3 → score; then
the S3 endpoint goes away between two models' uploads: the environment stays on
its previous versions, and a rerun once the endpoint is back converges.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gitopsproject import commit, forget_models, modelops, register_version
from netlink import Link
from toyproject import git_commit_all, write_toy

from modelops import registry
from modelops.localstack import Stack
from modelops.project import Project
from modelops.store import S3Store

pytestmark = pytest.mark.integration


@pytest.fixture
def project(
    project_copy: Path, stack: Stack, s3_link: Link, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Project]:
    """The sample project's models plus the toy one, pointed at the stack through a fresh prefix."""
    write_toy(project_copy)
    git_commit_all(project_copy, "add toy model")
    prefix = f"t-{uuid.uuid4().hex[:8]}"
    for key, value in stack.env(prefix).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MODELOPS_S3_ENDPOINT_URL", s3_link.url)
    monkeypatch.setenv("MODELOPS_LOCK_TIMEOUT", "30")  # a leaked lock fails fast, not in 10 min
    yield Project(project_copy)
    forget_models()


def _live(stack: Stack, env: str) -> dict[str, Any]:
    """live.json read straight from moto (not through the link, which a test may cut)."""
    import boto3

    s3 = boto3.client("s3", endpoint_url=stack.s3_url)
    try:
        body = s3.get_object(Bucket=stack.bucket, Key=f"{_prefix()}/{env}/live.json")["Body"]
    except s3.exceptions.NoSuchKey:
        return {}
    live: dict[str, Any] = json.loads(body.read())
    return live


def _prefix() -> str:
    import os

    return os.environ["MODELOPS_STORE"].split("/", 3)[3]


def test_deploy_to_s3_survives_an_outage_and_converges(
    project: Project, stack: Stack, s3_link: Link, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """S3 gone between two uploads: dev stays on its previous versions; a rerun converges."""
    for step in ("train", "evaluate", "register"):
        assert modelops(project, step, "churn") == 0, step
    register_version(project, tmp_path, bias=0.6)
    register_version(project, tmp_path, bias=0.7)
    assert modelops(project, "promote", "toy", "--to", "dev", "--version", "1") == 0
    commit(project, "dev: toy v1")
    assert modelops(project, "deploy", "dev") == 0
    before = _live(stack, "dev")
    assert before["toy"]["version"] == 1 and "churn" not in before

    assert modelops(project, "promote", "churn", "--to", "dev") == 0
    assert modelops(project, "promote", "toy", "--to", "dev", "--version", "2") == 0
    commit(project, "dev: churn v1, toy v2")

    uploads: list[str] = []
    real_put = S3Store.put_bundle

    def put_then_cut(self: S3Store, model: str, sha256: str, source: Path) -> None:
        real_put(self, model, sha256, source)
        uploads.append(model)
        s3_link.cut()  # the endpoint goes away after the first model's bundle landed

    monkeypatch.setattr(S3Store, "put_bundle", put_then_cut)
    assert modelops(project, "deploy", "dev") == 4
    assert uploads == ["churn"]
    assert _live(stack, "dev") == before
    assert registry.get_alias(project, "toy", "dev") == 1
    assert registry.get_alias(project, "churn", "dev") is None

    monkeypatch.setattr(S3Store, "put_bundle", real_put)
    s3_link.restore()
    assert modelops(project, "deploy", "dev") == 0
    after = _live(stack, "dev")
    assert (after["churn"]["version"], after["toy"]["version"]) == (1, 2)
    assert registry.get_alias(project, "toy", "dev") == 2
    assert registry.get_alias(project, "churn", "dev") == 1
    assert modelops(project, "deploy", "dev") == 0  # and now there is nothing left to do
    assert _live(stack, "dev") == after

    # Score a batch from the S3-served bundle, digest verified on the way.
    import pandas as pd

    batch = tmp_path / "batch.csv"
    pd.read_csv(project.root / "data" / "churn" / "customers.csv").drop(columns=["churned"]).head(
        500
    ).to_csv(batch, index=False)
    out = tmp_path / "scores.csv"
    assert (
        modelops(
            project,
            "predict",
            "churn",
            "--env",
            "dev",
            "--input",
            str(batch),
            "--output",
            str(out),
            "--chunk-size",
            "128",
        )
        == 0
    )
    scores = pd.read_csv(out)
    assert len(scores) == 500 and "customer_id" in scores.columns


def test_tampered_bundle_in_s3_is_reported_and_repaired(
    project: Project, stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An object changed in the S3 store shows in status and is rewritten by deploy."""
    import boto3

    info = register_version(project, tmp_path, bias=0.6)
    assert modelops(project, "promote", "toy", "--to", "dev") == 0
    commit(project, "dev: toy v1")
    assert modelops(project, "deploy", "dev") == 0
    key = f"{_prefix()}/dev/bundles/toy/{info.sha256}/model/model.json"
    s3 = boto3.client("s3", endpoint_url=stack.s3_url)
    s3.put_object(Bucket=stack.bucket, Key=key, Body=b'{"majority": 1}')
    capsys.readouterr()
    assert modelops(project, "status", "--env", "dev") == 3
    assert "altered" in capsys.readouterr().out
    assert modelops(project, "deploy", "dev") == 0
    capsys.readouterr()
    assert modelops(project, "status", "--env", "dev") == 0
    assert "DRIFT" not in capsys.readouterr().out


def test_lock_left_by_a_crashed_deploy_is_taken_over_within_a_minute(
    project: Project,
    stack: Stack,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A lock object nobody renews (its deployer died with S3 cut) is taken over in < 60 s on moto,
    which honours If-None-Match / If-Match (a store that did not would be refused, exit 2)."""
    import time

    import boto3

    info = register_version(project, tmp_path, bias=0.6)
    assert modelops(project, "promote", "toy", "--to", "dev") == 0
    commit(project, "dev: toy")
    s3 = boto3.client("s3", endpoint_url=stack.s3_url)
    crashed = {"host": "ci-runner-7", "pid": 4242, "owner": "crashed", "lease_s": 30}
    s3.put_object(
        Bucket=stack.bucket, Key=f"{_prefix()}/dev/deploy.lock", Body=json.dumps(crashed).encode()
    )
    monkeypatch.setenv("MODELOPS_LOCK_TIMEOUT", "60")
    capsys.readouterr()
    started = time.monotonic()
    assert modelops(project, "deploy", "dev") == 0
    took = time.monotonic() - started
    assert took < 60, took
    assert "took over the lock" in capsys.readouterr().out
    assert _live(stack, "dev")["toy"]["version"] == info.version
    keys = s3.list_objects_v2(Bucket=stack.bucket, Prefix=f"{_prefix()}/dev/deploy.lock")
    assert keys.get("KeyCount", 0) == 0  # released


def test_lock_release_on_s3_never_deletes_a_newer_holders_object(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A release with a stale ETag is a conditional DELETE S3 refuses: the new holder keeps it."""
    monkeypatch.setenv("MODELOPS_S3_ENDPOINT_URL", stack.s3_url)
    for key, value in stack.env(f"t-{uuid.uuid4().hex[:8]}").items():
        monkeypatch.setenv(key, value)
    store = S3Store(stack.bucket, f"{_prefix()}/dev")
    ours = store.create_exclusive("deploy.lock", b'{"owner": "us"}')
    assert ours is not None
    theirs = store.replace_if_match("deploy.lock", b'{"owner": "them"}', ours)
    assert theirs is not None
    assert store.delete_if_match("deploy.lock", ours) is False
    assert store.read_key("deploy.lock") == b'{"owner": "them"}'
    assert store.delete_if_match("deploy.lock", theirs) is True
    assert store.read_key("deploy.lock") is None
