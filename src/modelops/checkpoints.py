"""Spot checkpoints kept in the store, under a prefix of one workflow run alone.

A spot instance can be reclaimed with two minutes' notice, and its disk goes
with it. With `modelops train --resume --checkpoint-store URI` the checkpoint
folder is filled from URI before training, copied back to URI every
`MODELOPS_CHECKPOINT_SYNC_S` seconds (default 60) while the model trains, and
once more when training ends or fails. A re-run of the same workflow run (a new
instance) then resumes where the reclaimed one stopped.

The workflows name URI after the run (`<store>/<main|pull-requests>/<run id>/<model>`),
so no run ever reads another run's checkpoints, and the instances of pull
requests may write only under `pull-requests/` (infra/aws): a pull request's
code cannot poison a later training on main. URI is an `s3://bucket/prefix`
(boto3; endpoint from MODELOPS_S3_ENDPOINT_URL or AWS_ENDPOINT_URL) or a local folder.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelops.errors import InputError, ServiceError

_S3 = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/((?:[\w.=-]+/)*[\w.=-]+)/?$")
_NAME = re.compile(r"^[\w.=-]+$")
FIELD = "--checkpoint-store"


@dataclass
class CheckpointStore:
    """Where one run's checkpoints live: an S3 prefix or a local folder."""

    uri: str
    _pushed: dict[str, tuple[int, int]] = field(default_factory=dict)
    _client: Any = None

    def __post_init__(self) -> None:
        if self.uri.startswith("s3://"):
            if not _S3.match(self.uri) or "/../" in f"{self.uri}/":
                raise InputError(f"not an s3://bucket/prefix URI: '{self.uri}'", field=FIELD)
        elif not Path(self.uri).is_absolute() or ".." in Path(self.uri).parts:
            raise InputError(
                f"a local checkpoint store must be an absolute path: '{self.uri}'", field=FIELD
            )

    # -- the two backends, file by file ------------------------------------------------

    def _s3(self) -> tuple[Any, str, str]:
        match = _S3.match(self.uri)
        assert match is not None  # checked in __post_init__
        if self._client is None:
            import boto3
            from botocore.config import Config

            # The same endpoint rule as the serving store (modelops.store.S3Store).
            endpoint = os.environ.get("MODELOPS_S3_ENDPOINT_URL") or os.environ.get(
                "AWS_ENDPOINT_URL"
            )
            config = Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 3})
            self._client = boto3.client("s3", endpoint_url=endpoint, config=config)
        return self._client, match[1], match[2].rstrip("/") + "/"

    def _names(self) -> list[str]:
        if not self.uri.startswith("s3://"):
            root = Path(self.uri)
            return sorted(p.name for p in root.iterdir() if p.is_file()) if root.is_dir() else []
        client, bucket, prefix = self._s3()
        names = []
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            names += [obj["Key"][len(prefix) :] for obj in page.get("Contents", [])]
        return sorted(n for n in names if _NAME.match(n))

    def _get(self, name: str, dest: Path) -> None:
        if not self.uri.startswith("s3://"):
            shutil.copyfile(Path(self.uri) / name, dest)
            return
        client, bucket, prefix = self._s3()
        client.download_file(bucket, prefix + name, str(dest))

    def _put(self, source: Path) -> None:
        if not self.uri.startswith("s3://"):
            root = Path(self.uri)
            root.mkdir(parents=True, exist_ok=True)
            partial = root / f".{source.name}.partial"
            shutil.copyfile(source, partial)
            partial.replace(root / source.name)  # readers never see half a file
            return
        client, bucket, prefix = self._s3()
        client.upload_file(str(source), bucket, prefix + source.name)

    # -- what train uses -----------------------------------------------------------------

    def pull(self, local: Path) -> list[str]:
        """Copy this run's stored checkpoints into `local`; the names copied."""
        local.mkdir(parents=True, exist_ok=True)
        try:
            names = self._names()
            for name in names:
                self._get(name, local / name)
        except Exception as exc:  # OSError locally, botocore's errors on S3
            raise ServiceError(f"cannot read checkpoints from {self.uri}: {exc}") from None
        self._pushed = {n: _stamp(local / n) for n in names}
        return names

    def push(self, local: Path) -> list[str]:
        """Copy new or changed checkpoint files of `local` to the store; the names copied."""
        if not local.is_dir():
            return []
        sent = []
        for path in sorted(local.iterdir()):
            if not path.is_file() or path.is_symlink() or not _NAME.match(path.name):
                continue
            stamp = _stamp(path)
            if self._pushed.get(path.name) == stamp:
                continue
            try:
                self._put(path)
            except FileNotFoundError:
                continue  # the model rotated it away meanwhile
            self._pushed[path.name] = stamp
            sent.append(path.name)
        return sent


def _stamp(path: Path) -> tuple[int, int]:
    info = path.stat()
    return info.st_size, info.st_mtime_ns


def sync_interval_s() -> float:
    raw = os.environ.get("MODELOPS_CHECKPOINT_SYNC_S", "60")
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= 3600:
        raise InputError(
            f"MODELOPS_CHECKPOINT_SYNC_S must be seconds in (0, 3600], got '{raw}'",
            field="MODELOPS_CHECKPOINT_SYNC_S",
        )
    return value


@contextmanager
def synced(uri: str | None, local: Path, *, resume: bool) -> Iterator[list[str]]:
    """Around training: pull (when resuming), push periodically, push once more at the end.

    Yields the names pulled (empty without a store). The last push runs even when
    training fails or is interrupted, so a re-run finds the newest checkpoint.
    """
    if not uri:
        yield []
        return
    store = CheckpointStore(uri)
    interval = sync_interval_s()
    pulled = store.pull(local) if resume else []
    stop = threading.Event()
    errors: list[BaseException] = []

    def loop() -> None:
        while not stop.wait(interval):
            try:
                store.push(local)
            except Exception as exc:  # reported after training; training goes on
                errors.append(exc)

    thread = threading.Thread(target=loop, name="modelops-checkpoint-sync", daemon=True)
    thread.start()
    try:
        yield pulled
    finally:
        stop.set()
        thread.join()
        store.push(local)  # raises if the store is unreachable at the end
        if errors:
            print(
                f"warning: {len(errors)} periodic checkpoint sync(s) to {uri} failed "
                f"(last: {errors[-1]}); the final one succeeded",
                file=sys.stderr,
            )
