"""`modelops retrain` with labelled snapshots on S3 (a real S3 API: moto server on loopback)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from gitopsproject import commit, forget_models, make_project, modelops, register_version

from modelops.fsutil import sha256_file
from modelops.localstack import CREDENTIALS, Stack
from modelops.project import Project
from modelops.spec import load_pipeline

pytestmark = pytest.mark.integration


@pytest.fixture
def project(tmp_path: Path, stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    """The toy project with v1 in dev, S3 credentials and endpoint pointing at the moto server."""
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MODELOPS_S3_ENDPOINT_URL", stack.s3_url)
    proj = make_project(tmp_path / "proj")
    monkeypatch.chdir(proj.root)
    register_version(proj, tmp_path)
    assert modelops(proj, "promote", "toy", "--to", "dev") == 0
    commit(proj, "dev v1")
    yield proj
    forget_models()


def _put(stack: Stack, body: bytes) -> str:
    import boto3

    key = f"labelled/{uuid.uuid4().hex[:8]}/2026-11-01.csv"
    boto3.client("s3", endpoint_url=stack.s3_url).put_object(
        Bucket=stack.bucket, Key=key, Body=body
    )
    return f"s3://{stack.bucket}/{key}"


def test_an_s3_snapshot_is_downloaded_hashed_and_pinned(project: Project, stack: Stack) -> None:
    """A newer object: the spec names its URI and the sha256 of its bytes."""
    data = (project.root / "data" / "toy" / "toy.csv").read_bytes() + b"0.5000,1\n"
    uri = _put(stack, data)
    assert modelops(project, "retrain", "toy", "--env", "dev", "--snapshot", uri) == 0
    result = json.loads((project.results_dir("toy") / "retrain.json").read_text())
    assert result["action"] == "pr"
    spec = load_pipeline(project, "toy")
    scratch = project.root / "check.csv"
    scratch.write_bytes(data)
    assert (spec.data_path, spec.data_sha256) == (uri, sha256_file(scratch))


def test_the_champions_own_data_on_s3_is_no_reason_for_a_pr(project: Project, stack: Stack) -> None:
    """The same bytes the champion trained on, uploaded: action issue, spec untouched."""
    spec_file = project.pipeline_path("toy")
    before = spec_file.read_bytes()
    uri = _put(stack, (project.root / "data" / "toy" / "toy.csv").read_bytes())
    assert modelops(project, "retrain", "toy", "--env", "dev", "--snapshot", uri) == 0
    result = json.loads((project.results_dir("toy") / "retrain.json").read_text())
    assert result["action"] == "issue" and spec_file.read_bytes() == before
