"""One deploy per environment at a time: a local file lock, plus a lock object in a shared S3 store.

The lock belongs to the serving store, not to a checkout. A folder store is locked
with `fcntl.flock` on its own `deploy.lock`, so two checkouts sharing the folder take
the same lock; the kernel drops it when the process dies, so it never goes stale.
Deploys from different machines only share the serving store, so an S3 store also
gets a lock object created with a conditional put (`If-None-Match: *`): the first
writer wins, the others wait. It carries an expiry so a crashed deployer cannot
block the environment for ever.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from modelops.errors import InputError, ServiceError

DEFAULT_TIMEOUT_S = 600.0
# A remote lock older than this is taken over: no deploy of one environment runs this long.
REMOTE_LOCK_TTL_S = 1800.0
_POLL_S = 0.2
# Lock objects this process held but could not delete (the store was unreachable).
_ORPHANED: set[str] = set()


def lock_timeout() -> float:
    """Seconds to wait for the lock: `MODELOPS_LOCK_TIMEOUT`, default 600."""
    raw = os.environ.get("MODELOPS_LOCK_TIMEOUT")
    if raw is None:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        raise InputError(
            f"not a number: {raw!r}", field="MODELOPS_LOCK_TIMEOUT", hint="seconds, e.g. 600"
        ) from None
    if value < 0:
        raise InputError("must not be negative", field="MODELOPS_LOCK_TIMEOUT")
    return value


def _owner() -> dict[str, object]:
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "since": datetime.now(UTC).isoformat(timespec="seconds"),
    }


@contextmanager
def file_lock(
    path: Path, *, what: str, timeout: float, on_wait: Callable[[str], None] = print
) -> Iterator[None]:
    """Hold an exclusive `flock` on `path`; wait up to `timeout` seconds, saying who holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not told:
                    holder = path.read_text(encoding="utf-8").strip() or "another process"
                    on_wait(f"waiting for {what}: held by {holder} (up to {timeout:.0f}s)")
                    told = True
                if time.monotonic() >= deadline:
                    raise ServiceError(
                        f"timed out after {timeout:.0f}s waiting for {what}",
                        file=path,
                        hint="another deploy is still running; retry later, or raise "
                        "MODELOPS_LOCK_TIMEOUT",
                    ) from None
                time.sleep(_POLL_S)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(_owner()).encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


class ExclusiveStore(Protocol):
    """The part of a serving store a remote lock needs."""

    def create_exclusive(self, key: str, data: bytes) -> bool: ...
    def read_key(self, key: str) -> bytes | None: ...
    def delete_key(self, key: str) -> None: ...
    def describe_key(self, key: str) -> str: ...


@contextmanager
def remote_lock(
    store: ExclusiveStore,
    key: str,
    *,
    what: str,
    timeout: float,
    on_wait: Callable[[str], None] = print,
    ttl: float = REMOTE_LOCK_TTL_S,
) -> Iterator[None]:
    """Hold a lock object in the store, created only if absent; taken over once expired."""
    deadline = time.monotonic() + timeout
    told = False
    body = {**_owner(), "expires": time.time() + ttl}
    while not store.create_exclusive(key, json.dumps(body).encode()):
        raw = store.read_key(key)
        holder = json.loads(raw) if raw else {}
        stale = _stale(holder, orphaned=store.describe_key(key) in _ORPHANED)
        if stale:
            on_wait(f"taking over the lock for {what}: {stale}")
            store.delete_key(key)
            continue
        if not told:
            on_wait(f"waiting for {what}: held by {holder or 'another deployer'}")
            told = True
        if time.monotonic() >= deadline:
            raise ServiceError(
                f"timed out after {timeout:.0f}s waiting for {what}",
                file=store.describe_key(key),
                hint="another deploy is still running; if it crashed, delete the lock object",
            )
        time.sleep(_POLL_S)
    try:
        yield
    finally:
        try:
            store.delete_key(key)
            _ORPHANED.discard(store.describe_key(key))
        except ServiceError as exc:
            _ORPHANED.add(store.describe_key(key))
            # The store is gone (the likely reason we are failing): keep the original error.
            # The next deploy from this host takes the orphan over; others wait for its expiry.
            on_wait(
                f"could not release the lock for {what} ({exc.message}); it expires in {ttl:.0f}s"
            )


def _stale(holder: dict[str, object], *, orphaned: bool) -> str | None:
    """Why a lock object can be taken over, or None while its holder may still be working."""
    if not holder:
        return None
    if float(str(holder.get("expires", 0))) < time.time():
        return f"expired (held by {holder.get('host')})"
    if holder.get("host") == socket.gethostname():
        pid = int(str(holder.get("pid", 0)))
        if pid == os.getpid() and orphaned:
            return "left by an earlier deploy of this process that could not release it"
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return f"its holder (pid {pid} on this host) is gone"
        except PermissionError:
            return None  # alive, another user's
    return None
