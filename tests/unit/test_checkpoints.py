"""Spot checkpoints in the store under one run's prefix: pulled on resume, pushed while training."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from modelops.checkpoints import CheckpointStore, synced
from modelops.cli import main
from modelops.errors import InputError
from modelops.project import Project


class Reclaimed(Exception):
    """Stands in for a spot instance reclaimed in the middle of training."""


def _wait_for(path: Path, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return True
        time.sleep(0.02)
    return False


def test_a_reclaimed_instance_is_resumed_from_the_stores_checkpoints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checkpoints reach the store while training and at the end; a new instance pulls them."""
    monkeypatch.setenv("MODELOPS_CHECKPOINT_SYNC_S", "0.05")
    store = tmp_path / "store" / "main" / "1234" / "digits"
    first = tmp_path / "instance-a" / "ckpt"
    with pytest.raises(Reclaimed), synced(str(store), first, resume=True) as pulled:
        assert pulled == [], "the first attempt finds nothing to resume"
        (first / "checkpoint-00002.json").write_text('{"epoch": 2}')
        assert _wait_for(store / "checkpoint-00002.json"), "pushed while training goes on"
        (first / "checkpoint-00004.json").write_text('{"epoch": 4}')
        raise Reclaimed
    assert sorted(p.name for p in store.iterdir()) == [
        "checkpoint-00002.json",
        "checkpoint-00004.json",
    ], "the last checkpoint is pushed even when training is cut short"

    second = tmp_path / "instance-b" / "ckpt"
    with synced(str(store), second, resume=True) as pulled:
        assert pulled == ["checkpoint-00002.json", "checkpoint-00004.json"]
        assert (second / "checkpoint-00004.json").read_text() == '{"epoch": 4}'


def test_without_resume_nothing_is_pulled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh run (no --resume) never reads what the store holds."""
    monkeypatch.setenv("MODELOPS_CHECKPOINT_SYNC_S", "0.05")
    store = tmp_path / "store"
    store.mkdir()
    (store / "checkpoint-00009.json").write_text("old")
    local = tmp_path / "ckpt"
    with synced(str(store), local, resume=False) as pulled:
        assert pulled == []
    assert not (local / "checkpoint-00009.json").exists()


def test_only_plain_checkpoint_files_are_pushed(tmp_path: Path) -> None:
    """Unchanged files are not sent again; symlinks and odd names never leave the instance."""
    store = CheckpointStore(str(tmp_path / "store"))
    local = tmp_path / "ckpt"
    local.mkdir()
    (local / "checkpoint-00001.json").write_text("1")
    (local / "secret").mkdir()
    (local / "link.json").symlink_to(tmp_path / "elsewhere.json")
    (tmp_path / "elsewhere.json").write_text("not a checkpoint")
    assert store.push(local) == ["checkpoint-00001.json"]
    assert store.push(local) == [], "nothing changed"
    (local / "checkpoint-00001.json").write_text("1 and more")
    assert store.push(local) == ["checkpoint-00001.json"]


@pytest.mark.parametrize(
    "uri",
    ["relative/folder", "/abs/../escape", "s3://Bad_Bucket/x", "s3://bucket", "s3://bucket/a/../b"],
)
def test_a_bad_store_uri_is_an_input_error(uri: str) -> None:
    """A store URI that is not an absolute folder or an s3://bucket/prefix is refused."""
    with pytest.raises(InputError) as err:
        CheckpointStore(uri)
    assert err.value.field == "--checkpoint-store"


def test_train_refuses_a_bad_checkpoint_store_before_training(
    toy_repo: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """`modelops train --checkpoint-store relative` ends with one error, exit 2, no run."""
    assert main(["train", "toy", "--checkpoint-store", "relative/dir"]) == 2
    assert "--checkpoint-store" in capsys.readouterr().err
    assert not (toy_repo.state_dir / "results" / "toy" / "train.json").exists()
