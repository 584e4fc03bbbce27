"""Deploy locks: the local file lock and the conditional-put lock object."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from modelops.errors import ServiceError
from modelops.lock import file_lock, remote_lock
from modelops.store import LocalStore


def test_file_lock_times_out_naming_the_holder(tmp_path: Path) -> None:
    """A second holder of the same lock waits, says who holds it, then gives up with exit 4."""
    path = tmp_path / "dev.lock"
    said: list[str] = []
    # flock is per open file description: a second open in this process contends too.
    with (
        file_lock(path, what="the deploy lock", timeout=5),
        pytest.raises(ServiceError) as err,
        file_lock(path, what="the deploy lock", timeout=0.3, on_wait=said.append),
    ):
        pass
    assert err.value.exit_code == 4
    assert said and '"pid"' in said[0]
    with file_lock(path, what="the deploy lock", timeout=0.1):
        pass  # released: taken at once


def test_remote_lock_is_exclusive_and_released(tmp_path: Path) -> None:
    """The lock object is created only if absent and deleted on release."""
    store = LocalStore(tmp_path)
    with remote_lock(store, "deploy.lock", what="store lock", timeout=1):
        assert store.read_key("deploy.lock") is not None
        with (
            pytest.raises(ServiceError),
            remote_lock(
                store, "deploy.lock", what="store lock", timeout=0.2, on_wait=lambda _: None
            ),
        ):
            pass
    assert store.read_key("deploy.lock") is None


def test_unrenewed_lock_is_taken_over_within_its_lease(tmp_path: Path) -> None:
    """A lock object nobody renews (its holder crashed) is taken over once its lease runs out."""
    store = LocalStore(tmp_path)
    crashed = {"host": "gone", "pid": 1, "owner": "crashed", "lease_s": 0.5}
    store.create_exclusive("deploy.lock", json.dumps(crashed).encode())
    said: list[str] = []
    started = time.monotonic()
    with remote_lock(
        store, "deploy.lock", what="store lock", timeout=10, on_wait=said.append, ttl=0.5
    ):
        holder = json.loads(store.read_key("deploy.lock") or b"{}")
        assert holder["owner"] != "crashed"
    assert time.monotonic() - started < 5
    assert any("took over" in line and "gone" in line for line in said), said
    assert store.read_key("deploy.lock") is None


def test_a_renewed_lease_is_never_taken_over(tmp_path: Path) -> None:
    """While the holder's heartbeat renews the lease, a waiter waits and times out."""
    store = LocalStore(tmp_path)
    with remote_lock(store, "deploy.lock", what="store lock", timeout=1, ttl=0.3):
        with (
            pytest.raises(ServiceError, match="timed out"),
            remote_lock(
                store,
                "deploy.lock",
                what="store lock",
                timeout=1.5,
                ttl=0.3,
                on_wait=lambda _: None,
            ),
        ):
            pass
        assert store.read_key("deploy.lock") is not None


def test_a_holder_whose_lease_was_taken_over_is_fenced(tmp_path: Path) -> None:
    """Once someone else replaced the lock object, the old holder's fence() refuses to go on."""
    store = LocalStore(tmp_path)
    with remote_lock(store, "deploy.lock", what="store lock", timeout=1, ttl=30) as lease:
        lease.fence()  # still ours
        current = store.read_versioned("deploy.lock")
        assert current is not None
        assert store.replace_if_match("deploy.lock", b'{"owner": "other"}', current[1])
        with pytest.raises(ServiceError, match="lost"):
            lease.fence()
    # The other holder's lock object is left alone on release.
    assert store.read_key("deploy.lock") == b'{"owner": "other"}'


def test_release_deletes_only_its_own_lock_object(tmp_path: Path) -> None:
    """The release is a conditional delete: a stale ETag leaves the newer holder's object."""
    store = LocalStore(tmp_path)
    ours = store.create_exclusive("deploy.lock", b'{"owner": "us"}')
    assert ours is not None
    theirs = store.replace_if_match("deploy.lock", b'{"owner": "them"}', ours)
    assert theirs is not None
    assert store.delete_if_match("deploy.lock", ours) is False
    assert store.read_key("deploy.lock") == b'{"owner": "them"}'
    assert store.delete_if_match("deploy.lock", theirs) is True
    assert store.read_key("deploy.lock") is None
    assert store.delete_if_match("deploy.lock", theirs) is False  # already gone


class _UnconditionalStore(LocalStore):
    """A folder store that, like some S3-compatible servers, ignores If-None-Match."""

    def create_exclusive(self, key: str, data: bytes) -> str | None:
        (self.root / key).write_bytes(data)
        return "etag"


def test_a_store_without_conditional_writes_is_refused(tmp_path: Path) -> None:
    """A store that lets a second conditional create succeed is refused (exit 2), not trusted."""
    from modelops.errors import PromotionError

    store = _UnconditionalStore(tmp_path)
    with (
        pytest.raises(PromotionError, match="conditional writes") as err,
        remote_lock(store, "deploy.lock", what="store lock", timeout=1),
    ):
        pass
    assert err.value.exit_code == 2
    assert store.read_key("deploy.lock") is None
