"""One deploy per environment at a time: a local file lock, plus a lock object in a shared S3 store.

The lock belongs to the serving store, not to a checkout. A folder store is locked
with `fcntl.flock` on its own `deploy.lock`, so two checkouts sharing the folder take
the same lock; the kernel drops it when the process dies, so it never goes stale.
An S3 store is locked with a lock object: created with a conditional put
(`If-None-Match: *`, the first writer wins), held as a lease that a heartbeat renews
with conditional puts on its own ETag (`If-Match`). A lock whose holder crashed or lost
the store stops changing and is taken over within a lease (30 s) plus a poll; the
taken-over holder's next renewal fails, and deploy renews (`Lease.fence`) right before
it switches `live.json`, so a holder that lost its lease never switches anything. A
store that ignores conditional writes is refused.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from modelops.errors import InputError, PromotionError, ServiceError

DEFAULT_TIMEOUT_S = 600.0
# The lease of a remote lock: renewed every third of it; a lock object left unrenewed
# this long (by this process's clock) is taken over.
LEASE_S = 30.0
_POLL_S = 0.2
# Lock objects this process held but could not delete (the store was unreachable), by
# key, with the ETag it wrote last: while that ETag is unchanged, the lock is provably
# this process's own leftover and is taken back at once.
_ORPHANED: dict[str, str] = {}


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
    """What a remote lock needs from a store: conditional writes (compare-and-swap by ETag)."""

    def create_exclusive(self, key: str, data: bytes) -> str | None: ...
    def read_versioned(self, key: str) -> tuple[bytes, str] | None: ...
    def replace_if_match(self, key: str, data: bytes, etag: str) -> str | None: ...
    def delete_key(self, key: str) -> None: ...
    def delete_if_match(self, key: str, etag: str) -> bool: ...
    def describe_key(self, key: str) -> str: ...


class Lease:
    """A held lock object: renewed by a heartbeat, lost when someone else replaced it.

    Every renewal is a conditional write on the ETag this holder wrote last, so once a
    waiter has taken the lock over, the old holder's next renewal fails and it knows.
    `fence()` renews synchronously: call it right before a write that needs the lock.
    """

    def __init__(
        self,
        store: ExclusiveStore,
        key: str,
        body: dict[str, object],
        etag: str,
        *,
        lease_s: float,
        what: str,
    ) -> None:
        import threading

        self.store, self.key, self.body, self.etag = store, key, body, etag
        self.lease_s, self.what = lease_s, what
        self.lost: str | None = None
        self._mutex = threading.Lock()
        self._stop = threading.Event()
        self._last_ok = time.monotonic()
        self._thread = threading.Thread(target=self._beat, name="modelops-lease", daemon=True)
        self._thread.start()

    def _renew(self) -> None:
        with self._mutex:
            if self.lost:
                return
            beat = int(str(self.body.get("beat", 0))) + 1
            body = {**self.body, "beat": beat, "renewed": _now_iso()}
            try:
                etag = self.store.replace_if_match(self.key, json.dumps(body).encode(), self.etag)
            except ServiceError as exc:
                if time.monotonic() - self._last_ok > self.lease_s:
                    self.lost = f"could not renew it for {self.lease_s:.0f}s ({exc.message})"
                return
            if etag is None:
                self.lost = "another deployer took it over (its lease had run out)"
                return
            self.body, self.etag, self._last_ok = body, etag, time.monotonic()

    def _beat(self) -> None:
        while not self._stop.wait(self.lease_s / 3):
            self._renew()

    def fence(self) -> None:
        """Renew now; raise ServiceError if this holder no longer holds the lock."""
        self._renew()
        if self.lost:
            raise ServiceError(
                f"lost {self.what}: {self.lost}; nothing was switched",
                file=self.store.describe_key(self.key),
                hint="another deploy runs now; rerun this one afterwards",
            )

    def release(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        with self._mutex:
            if self.lost:
                return
            # Conditional: a holder that took the lock over after our last renewal keeps it.
            self.store.delete_if_match(self.key, self.etag)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _refuse_unconditional(store: ExclusiveStore, key: str) -> None:
    raise PromotionError(
        "the store does not honour conditional writes (If-None-Match / If-Match): "
        "two deployers could both believe they hold the lock",
        file=store.describe_key(key),
        hint="use AWS S3 or an S3-compatible store that supports conditional writes",
    )


@contextmanager
def remote_lock(
    store: ExclusiveStore,
    key: str,
    *,
    what: str,
    timeout: float,
    on_wait: Callable[[str], None] = print,
    ttl: float = LEASE_S,
) -> Iterator[Lease]:
    """Hold a lock object in the store: a lease with an owner and a heartbeat.

    Created only if absent (`If-None-Match: *`); renewed every `ttl / 3` seconds by a
    conditional write on its own ETag (`If-Match`). A lock object whose ETag has not
    changed for `ttl` seconds of this process's clock has lost its holder (crashed, or
    cut off from the store) and is taken over with a conditional write on that ETag, so
    of several waiters exactly one wins. A store that ignores the conditions is refused.
    """
    deadline = time.monotonic() + timeout
    told = False
    body: dict[str, object] = {**_owner(), "owner": uuid.uuid4().hex, "lease_s": ttl, "beat": 0}
    data = json.dumps(body).encode()
    seen: tuple[str, float] | None = None  # (ETag, when this process first saw it)
    while True:
        etag = store.create_exclusive(key, data)
        if etag is not None:
            # The same conditional create again must be refused now: proof the store honours it.
            if store.create_exclusive(key, data) is not None:
                store.delete_key(key)
                _refuse_unconditional(store, key)
            break
        current = store.read_versioned(key)
        if current is None:
            continue  # released in between: try again at once
        raw, current_etag = current
        holder = _holder(raw)
        now = time.monotonic()
        own_leftover = _ORPHANED.get(store.describe_key(key)) == current_etag
        if seen is None or seen[0] != current_etag:
            seen = (current_etag, now)
        if own_leftover or now - seen[1] > _lease_of(holder, ttl) + 1.0:
            taken = store.replace_if_match(key, data, current_etag)
            if taken is not None:
                on_wait(
                    f"took over the lock for {what}: "
                    + (
                        "left by an earlier deploy of this process that could not release it"
                        if own_leftover
                        else f"its holder {_who(holder)} stopped renewing it "
                        f"{now - seen[1]:.0f}s ago"
                    )
                )
                etag = taken
                break
            seen = None  # someone else changed it first: watch the new one
            continue
        if not told:
            on_wait(f"waiting for {what}: held by {_who(holder)}")
            told = True
        if time.monotonic() >= deadline:
            raise ServiceError(
                f"timed out after {timeout:.0f}s waiting for {what}",
                file=store.describe_key(key),
                hint="another deploy is still running (its lease is being renewed); retry later",
            )
        time.sleep(_POLL_S)
    _ORPHANED.pop(store.describe_key(key), None)
    lease = Lease(store, key, body, etag, lease_s=ttl, what=what)
    try:
        yield lease
    finally:
        try:
            lease.release()
        except ServiceError as exc:
            _ORPHANED[store.describe_key(key)] = lease.etag
            # The store is gone (the likely reason we are failing): keep the original error.
            # Without heartbeats the lease runs out and the next deploy takes it over.
            on_wait(
                f"could not release the lock for {what} ({exc.message}); "
                f"it is taken over once its lease ({ttl:.0f}s) runs out"
            )


def _lease_of(holder: dict[str, object], default: float) -> float:
    """The holder's lease in seconds, bounded: a forged huge lease cannot block for long."""
    try:
        lease = float(str(holder.get("lease_s", default)))
    except ValueError:
        return default
    return min(max(lease, 0.0), LEASE_S) if lease == lease else default


def _holder(raw: bytes) -> dict[str, object]:
    try:
        holder = json.loads(raw)
    except ValueError:
        return {}
    return holder if isinstance(holder, dict) else {}


def _who(holder: dict[str, object]) -> str:
    if not holder:
        return "an unknown deployer"
    return (
        f"{holder.get('host', '?')} pid {holder.get('pid', '?')} since {holder.get('since', '?')}"
    )
