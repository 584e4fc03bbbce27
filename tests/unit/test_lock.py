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


def test_expired_remote_lock_is_taken_over(tmp_path: Path) -> None:
    """A lock object left by a crashed deployer is taken over once its expiry has passed."""
    store = LocalStore(tmp_path)
    store.create_exclusive(
        "deploy.lock", json.dumps({"host": "gone", "expires": time.time() - 1}).encode()
    )
    said: list[str] = []
    with remote_lock(store, "deploy.lock", what="store lock", timeout=1, on_wait=said.append):
        holder = json.loads(store.read_key("deploy.lock") or b"{}")
        assert holder["host"] != "gone"
    assert "expired" in said[0]


def test_lock_of_a_dead_process_on_this_host_is_taken_over(tmp_path: Path) -> None:
    """A lock object whose holder on this host has exited is taken over without waiting."""
    import socket

    store = LocalStore(tmp_path)
    holder = {"host": socket.gethostname(), "pid": _dead_pid(), "expires": time.time() + 999}
    store.create_exclusive("deploy.lock", json.dumps(holder).encode())
    said: list[str] = []
    with remote_lock(store, "deploy.lock", what="store lock", timeout=0.5, on_wait=said.append):
        pass
    assert "is gone" in said[0]


def _dead_pid() -> int:
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid
