"""Data pinned on S3 (a real S3 API: moto server): downloaded once, verified by sha256."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from modelops.cli import main
from modelops.fsutil import sha256_file
from modelops.localstack import CREDENTIALS, Stack

pytestmark = pytest.mark.integration


@pytest.fixture
def remote_spec(
    project_copy: Path, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, str, str]:
    """The churn spec pointed at a fresh S3 key holding the bundled CSV, pinned by digest."""
    import boto3

    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MODELOPS_S3_ENDPOINT_URL", stack.s3_url)
    local = project_copy / "data" / "churn" / "customers.csv"
    key = f"datasets/{uuid.uuid4().hex[:8]}/customers.csv"
    boto3.client("s3", endpoint_url=stack.s3_url).put_object(
        Bucket=stack.bucket, Key=key, Body=local.read_bytes()
    )
    digest = sha256_file(local)
    spec = project_copy / "pipelines" / "churn.yaml"
    spec.write_text(
        spec.read_text().replace(
            "  path: data/churn/customers.csv\n",
            f"  path: s3://{stack.bucket}/{key}\n  sha256: {digest}\n",
        )
    )
    local.unlink()  # nothing local to fall back on
    return project_copy, key, digest


def test_remote_data_is_fetched_verified_and_cached(
    remote_spec: tuple[Path, str, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """data-test downloads the pinned object, checks it, and a rerun reads the cache offline."""
    root, _, digest = remote_spec
    assert main(["data-test", "churn"]) == 0
    out = capsys.readouterr().out
    assert "checks passed" in out
    cached = root / ".modelops" / "data" / digest / "customers.csv"
    assert sha256_file(cached) == digest

    monkeypatch.setenv("MODELOPS_S3_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens
    assert main(["data-test", "churn"]) == 0


def test_remote_data_with_another_digest_is_refused(
    remote_spec: tuple[Path, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """An object whose bytes differ from data.sha256 is refused and not cached."""
    root, _, digest = remote_spec
    spec = root / "pipelines" / "churn.yaml"
    spec.write_text(spec.read_text().replace(digest, "ab" * 32))
    assert main(["data-test", "churn"]) == 2
    err = capsys.readouterr().err
    assert "field 'data.sha256'" in err
    assert "Traceback" not in err
    assert not any((root / ".modelops" / "data").rglob("*.csv"))


def test_missing_remote_object_is_bad_input(
    remote_spec: tuple[Path, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A spec naming an S3 key that does not exist exits 2 naming data.path."""
    root, key, _ = remote_spec
    spec = root / "pipelines" / "churn.yaml"
    spec.write_text(spec.read_text().replace(key, "datasets/none/customers.csv"))
    assert main(["data-test", "churn"]) == 2
    err = capsys.readouterr().err
    assert "field 'data.path'" in err
    assert "data object not found" in err


def test_unreachable_endpoint_is_a_service_failure(
    remote_spec: tuple[Path, str, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """When S3 cannot be reached the command exits 4 (service), not 2 (input), no traceback."""
    monkeypatch.setenv("MODELOPS_S3_ENDPOINT_URL", "http://127.0.0.1:9")
    assert main(["data-test", "churn"]) == 4
    err = capsys.readouterr().err
    assert "downloading the data failed" in err
    assert "Traceback" not in err
