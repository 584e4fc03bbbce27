"""Spot checkpoints on a real S3 API (moto server): one run's prefix, pulled by its re-run."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from modelops.checkpoints import synced
from modelops.errors import ServiceError
from modelops.localstack import CREDENTIALS, Stack

pytestmark = pytest.mark.integration


@pytest.fixture
def s3_env(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MODELOPS_S3_ENDPOINT_URL", stack.s3_url)
    monkeypatch.setenv("MODELOPS_CHECKPOINT_SYNC_S", "0.1")


def test_checkpoints_survive_the_instance_on_s3(stack: Stack, s3_env: None, tmp_path: Path) -> None:
    """Pushed under the run's prefix while training; the re-run pulls exactly those files."""
    import boto3

    run = uuid.uuid4().hex[:8]
    uri = f"s3://{stack.bucket}/checkpoints/main/{run}/digits"
    other = f"checkpoints/main/{run}0/digits/checkpoint-00099.json"  # another run's prefix
    s3 = boto3.client("s3", endpoint_url=stack.s3_url)
    s3.put_object(Bucket=stack.bucket, Key=other, Body=b"another run")

    first = tmp_path / "a"
    with synced(uri, first, resume=True):
        (first / "checkpoint-00002.json").write_text('{"epoch": 2}')
        deadline = time.monotonic() + 10
        key = f"checkpoints/main/{run}/digits/checkpoint-00002.json"
        while time.monotonic() < deadline:
            listed = s3.list_objects_v2(Bucket=stack.bucket, Prefix=key).get("KeyCount", 0)
            if listed:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the checkpoint never reached S3 while training ran")
        (first / "checkpoint-00004.json").write_text('{"epoch": 4}')

    second = tmp_path / "b"
    with synced(uri, second, resume=True) as pulled:
        assert pulled == ["checkpoint-00002.json", "checkpoint-00004.json"]
    assert (second / "checkpoint-00004.json").read_text() == '{"epoch": 4}'


def test_an_unreachable_store_is_a_service_error(
    s3_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Resuming from a store nobody answers for ends with a ServiceError, not a traceback."""
    monkeypatch.setenv("MODELOPS_S3_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens
    with (
        pytest.raises(ServiceError),
        synced("s3://bucket/checkpoints/x", tmp_path / "c", resume=True),
    ):
        pass
