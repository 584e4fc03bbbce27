"""The serving store of an environment: a local folder, or S3 through boto3.

Layout under the environment's root (`<store>/<env>/`):

```
bundles/<model>/<sha256>/...   immutable bundles, named by their tree digest
live.json                      {model: {version, sha256, deployed_at}}: what serves
verified.json                  {"<model>/<sha256>": {file: [size, mtime_ns, ctime_ns]}}
                               (S3: [size, ETag]) when each bundle was last verified
deploy.lock                    the deploy lock: `flock`ed in a folder store, a lock
                               object on S3; it belongs to the store, so every
                               checkout deploying there takes the same one
```

Checking a stored bundle has two depths. `verify=True` re-hashes every file (S3:
downloads it) and compares the tree digest. The default is a cheap check: the
bundle's file list with sizes and modification times (S3: sizes and ETags) is
compared with the stamp `verified.json` recorded when the bundle was last fully
verified; only when they differ (or there is no stamp) is the bundle re-hashed.
A deleted file, an added one, or a rewritten one (new mtime and ctime / ETag) is
therefore always re-hashed; an edit that hides from this check must forge the
inode change time (raw disk access, a clock set back), which `--verify` catches.
The stamp is a cache, never a trust anchor: predict always verifies the full
digest before deserialising anything.

A bundle is written first and verified after it lands; `live.json` is replaced
last, in one write (an atomic rename locally, a single PUT on S3), so an
environment switches all-or-nothing and a failure part-way leaves it as it was.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from modelops.errors import InputError, IntegrityError, ServiceError, SpecError
from modelops.fsutil import (
    atomic_directory,
    atomic_write_bytes,
    atomic_write_json,
    sha256_bytes,
    tree_digest,
)
from modelops.project import Project
from modelops.spec import MODEL_NAME

SHA256 = re.compile(r"[0-9a-f]{64}")
LIVE = "live.json"
LOCK = "deploy.lock"
STAMPS = "verified.json"
ALTERED = "bundle in the store was altered (digest differs)"
MISSING = "bundle missing from the store"
SYMLINK = "bundle in the store holds a symlink (refused)"


class Store(Protocol):
    """What deploy, status and predict need from a serving store."""

    uri: str

    def read_live(self) -> dict[str, Any]: ...
    def write_live(self, live: dict[str, Any]) -> None: ...
    def bundle_problem(self, model: str, sha256: str, *, verify: bool = False) -> str | None: ...
    def save_stamps(self) -> None: ...
    def put_bundle(self, model: str, sha256: str, source: Path) -> None: ...
    def fetch_bundle(self, model: str, sha256: str, dest: Path) -> Path: ...
    def create_exclusive(self, key: str, data: bytes) -> str | None: ...
    def read_versioned(self, key: str) -> tuple[bytes, str] | None: ...
    def replace_if_match(self, key: str, data: bytes, etag: str) -> str | None: ...
    def read_key(self, key: str) -> bytes | None: ...
    def delete_key(self, key: str) -> None: ...
    def delete_if_match(self, key: str, etag: str) -> bool: ...
    def describe_key(self, key: str) -> str: ...


def _parse_live(raw: bytes, where: str) -> dict[str, Any]:
    try:
        live = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise IntegrityError(
            f"pointer document is not valid JSON ({exc.msg})",
            file=where,
            hint="restore it from the store's versioning, or delete it and redeploy",
        ) from None
    from modelops.spec import validate_document

    try:
        checked = validate_document(live, "live", Path(where))
    except SpecError as exc:
        raise IntegrityError(
            f"pointer document is corrupt: {exc.message}",
            file=where,
            field=exc.field,
            hint="`modelops deploy` rewrites it from git",
        ) from None
    return checked


def _digest_or_none(folder: Path) -> str | None:
    """The tree digest, or None for a tree it refuses (a symlink, a control character)."""
    try:
        return tree_digest(folder)
    except IntegrityError:
        return None


def bundle_key(model: str, sha256: str) -> str:
    """`bundles/<model>/<sha256>`, refusing names that could leave the store."""
    if not MODEL_NAME.fullmatch(model) or not SHA256.fullmatch(sha256):
        raise IntegrityError(
            f"refusing the bundle name {model!r}/{sha256!r}: not a model name and a sha256",
            hint="a model name is [a-z][a-z0-9_-]*, a digest 64 lowercase hex characters",
        )
    return f"bundles/{model}/{sha256}"


Listing = dict[str, list[Any]]


class _Stamps:
    """The `verified.json` cache: each bundle's file listing when it was last fully verified.

    Read once per store object, on first use; updated in memory as bundles are fully
    verified and written back only by `save_stamps` (deploy, under its lock, and
    put_bundle), so `status` stays read-only.
    """

    def __init__(self, read: Callable[[], bytes | None]) -> None:
        self._read = read
        self._loaded: dict[str, Listing] | None = None
        self.dirty = False

    @property
    def all(self) -> dict[str, Listing]:
        if self._loaded is None:
            raw = self._read()
            try:
                loaded = json.loads(raw) if raw else {}
            except json.JSONDecodeError:
                loaded = {}  # a broken cache only costs a re-hash
            self._loaded = loaded if isinstance(loaded, dict) else {}
        return self._loaded

    def matches(self, key: str, listing: Listing) -> bool:
        return bool(listing) and self.all.get(key) == listing

    def record(self, key: str, listing: Listing) -> None:
        if self.all.get(key) != listing:
            self.all[key] = listing
            self.dirty = True


class LocalStore:
    """A folder on this machine (the embedded default)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.uri = str(root)
        self._stamps = _Stamps(lambda: self.read_key(STAMPS))

    def describe_key(self, key: str) -> str:
        return str(self.root / key)

    def read_live(self) -> dict[str, Any]:
        path = self.root / LIVE
        if path.is_symlink():
            raise IntegrityError(
                "pointer document is a symlink (refused)",
                file=str(path),
                hint="`modelops deploy` rewrites it from git",
            )
        if not path.is_file():
            return {}
        return _parse_live(path.read_bytes(), str(path))

    def write_live(self, live: dict[str, Any]) -> None:
        atomic_write_json(self.root / LIVE, live)

    def _listing(self, folder: Path) -> Listing | None:
        """Every file under `folder` with size, mtime_ns and ctime_ns (stat only, no reads).

        None when anything under it is a symlink (or not a plain file or folder).
        """
        # Plain strings, not Path objects: status runs this for every model × environment.
        found: Listing = {}
        base = str(folder)
        stack = [base]
        while stack:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    if entry.is_symlink():
                        return None
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    elif not entry.is_file(follow_symlinks=False):
                        return None
                    else:
                        st = entry.stat(follow_symlinks=False)
                        rel = entry.path[len(base) + 1 :].replace(os.sep, "/")
                        # ctime too: restoring an mtime by hand (os.utime) moves ctime.
                        found[rel] = [st.st_size, st.st_mtime_ns, st.st_ctime_ns]
        return found

    def bundle_problem(self, model: str, sha256: str, *, verify: bool = False) -> str | None:
        key = bundle_key(model, sha256)
        folder = self.root / key
        if any(p.is_symlink() for p in (folder.parent.parent, folder.parent, folder)):
            return SYMLINK
        if not folder.is_dir():
            return MISSING
        listing = self._listing(folder)
        if listing is None:
            return SYMLINK
        if not verify and self._stamps.matches(key, listing):
            return None
        if _digest_or_none(folder) != sha256:
            return ALTERED
        self._stamps.record(key, listing)
        return None

    def save_stamps(self) -> None:
        if self._stamps.dirty:
            atomic_write_json(self.root / STAMPS, self._stamps.all)
            self._stamps.dirty = False

    def put_bundle(self, model: str, sha256: str, source: Path) -> None:
        final = self.root / bundle_key(model, sha256)
        for link in (final.parent.parent, final.parent, final):
            if link.is_symlink():
                link.unlink()  # a symlink where a folder belongs: removed, never followed
        if final.exists():
            # An altered copy under an immutable name: replace it whole (the name is
            # the digest, so nothing live can differ from the new copy).
            shutil.rmtree(final)
        with atomic_directory(final) as scratch:
            shutil.copytree(source, scratch, dirs_exist_ok=True)
        problem = self.bundle_problem(model, sha256, verify=True)
        if problem:
            raise IntegrityError(f"{problem} right after the copy", file=final)
        self.save_stamps()

    def fetch_bundle(self, model: str, sha256: str, dest: Path) -> Path:
        folder = self.root / bundle_key(model, sha256)
        if not folder.is_dir():
            raise IntegrityError(
                "the live bundle is missing from the store",
                file=folder,
                hint="run `modelops deploy` for this environment to restore it",
            )
        target = dest / "bundle"
        # Links are copied as links (never followed): verify then refuses them.
        shutil.copytree(folder, target, symlinks=True)
        return target

    @contextmanager
    def _cas(self, key: str) -> Iterator[Path]:
        """Compare-and-swap on `key` under an flock of its sidecar (`<key>.cas`)."""
        import fcntl

        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path.parent / f".{path.name}.cas", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield path
        finally:
            os.close(fd)

    def create_exclusive(self, key: str, data: bytes) -> str | None:
        """Write `key` only if it does not exist; its ETag (sha256 of the content), or None."""
        with self._cas(key) as path:
            if path.exists() or path.is_symlink():
                return None
            atomic_write_bytes(path, data)
        return sha256_bytes(data)

    def read_versioned(self, key: str) -> tuple[bytes, str] | None:
        with self._cas(key) as path:
            if not path.is_file() or path.is_symlink():
                return None
            data = path.read_bytes()
        return data, sha256_bytes(data)

    def replace_if_match(self, key: str, data: bytes, etag: str) -> str | None:
        """Replace `key` only if its ETag is still `etag`; the new ETag, or None."""
        with self._cas(key) as path:
            if not path.is_file() or sha256_bytes(path.read_bytes()) != etag:
                return None
            atomic_write_bytes(path, data)
        return sha256_bytes(data)

    def read_key(self, key: str) -> bytes | None:
        path = self.root / key
        return path.read_bytes() if path.is_file() else None

    def delete_key(self, key: str) -> None:
        (self.root / key).unlink(missing_ok=True)

    def delete_if_match(self, key: str, etag: str) -> bool:
        """Delete `key` only if its ETag is still `etag`; False when it changed or is gone."""
        with self._cas(key) as path:
            if not path.is_file() or sha256_bytes(path.read_bytes()) != etag:
                return False
            path.unlink()
        return True


class S3Store:
    """`s3://bucket/prefix/<env>`; endpoint from AWS_ENDPOINT_URL or MODELOPS_S3_ENDPOINT_URL."""

    def __init__(self, bucket: str, prefix: str) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.uri = f"s3://{bucket}/{self.prefix}"
        endpoint = os.environ.get("MODELOPS_S3_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL")
        # Fail fast when the endpoint is gone: a deploy must report, not hang.
        config = Config(
            connect_timeout=5, read_timeout=30, retries={"max_attempts": 2, "mode": "standard"}
        )
        self.client = boto3.client("s3", endpoint_url=endpoint, config=config)
        self._stamps = _Stamps(lambda: self._get(STAMPS))

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def describe_key(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    @contextmanager
    def _calling(self, what: str, key: str) -> Iterator[None]:
        """Turn boto errors into ServiceError naming the object."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "?")
            raise ServiceError(
                f"S3 {what} failed ({code}: {exc.response.get('Error', {}).get('Message', '')})",
                file=self.describe_key(key),
                hint="check the bucket, the prefix and the credentials",
            ) from None
        except BotoCoreError as exc:
            raise ServiceError(
                f"S3 {what} failed: {exc}",
                file=self.describe_key(key),
                hint="is the S3 endpoint reachable? the environment was left as it was",
            ) from None

    def _get(self, key: str) -> bytes | None:
        found = self.read_versioned(key)
        return None if found is None else found[0]

    def _list(self, key: str) -> list[str]:
        """Keys under `key/`, relative to it."""
        return list(self._listing(key))

    def _listing(self, key: str) -> Listing:
        """Keys under `key/`, relative to it, with size and ETag (an MD5 of a one-part upload)."""
        base = self._key(key) + "/"
        found: Listing = {}
        with self._calling("list", key):
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=base):
                for obj in page.get("Contents", []):
                    found[obj["Key"][len(base) :]] = [obj["Size"], obj["ETag"]]
        return found

    def read_live(self) -> dict[str, Any]:
        raw = self._get(LIVE)
        return {} if raw is None else _parse_live(raw, self.describe_key(LIVE))

    def write_live(self, live: dict[str, Any]) -> None:
        body = (json.dumps(live, indent=2, sort_keys=True) + "\n").encode()
        with self._calling("write", LIVE):
            # One PUT: S3 replaces the object atomically, readers see old or new.
            self.client.put_object(
                Bucket=self.bucket, Key=self._key(LIVE), Body=body, ContentType="application/json"
            )

    def _download_tree(self, key: str, dest: Path) -> bool:
        names = self._list(key)
        if not names:
            return False
        for name in names:
            target = dest / name
            if ".." in Path(name).parts:
                raise IntegrityError("object name escapes the bundle", file=self.describe_key(key))
            target.parent.mkdir(parents=True, exist_ok=True)
            with self._calling("download", f"{key}/{name}"):
                self.client.download_file(self.bucket, self._key(f"{key}/{name}"), str(target))
        return True

    def bundle_problem(self, model: str, sha256: str, *, verify: bool = False) -> str | None:
        key = bundle_key(model, sha256)
        listing = self._listing(key)
        if not listing:
            return MISSING
        if not verify and self._stamps.matches(key, listing):
            return None
        with tempfile.TemporaryDirectory(prefix="modelops-verify-") as tmp:
            if not self._download_tree(key, Path(tmp)):
                return MISSING
            if _digest_or_none(Path(tmp)) != sha256:
                return ALTERED
        self._stamps.record(key, listing)
        return None

    def save_stamps(self) -> None:
        if self._stamps.dirty:
            body = (json.dumps(self._stamps.all, sort_keys=True) + "\n").encode()
            with self._calling("write", STAMPS):
                self.client.put_object(Bucket=self.bucket, Key=self._key(STAMPS), Body=body)
            self._stamps.dirty = False

    def put_bundle(self, model: str, sha256: str, source: Path) -> None:
        key = bundle_key(model, sha256)
        wanted = {p.relative_to(source).as_posix() for p in source.rglob("*") if p.is_file()}
        for name in sorted(wanted):
            with self._calling("upload", f"{key}/{name}"):
                self.client.upload_file(str(source / name), self.bucket, self._key(f"{key}/{name}"))
        # Stray objects from an altered copy would change the digest: remove them.
        for name in set(self._list(key)) - wanted:
            self.delete_key(f"{key}/{name}")
        problem = self.bundle_problem(model, sha256, verify=True)
        if problem:
            raise IntegrityError(f"{problem} right after the upload", file=self.describe_key(key))
        self.save_stamps()

    def fetch_bundle(self, model: str, sha256: str, dest: Path) -> Path:
        target = dest / "bundle"
        if not self._download_tree(bundle_key(model, sha256), target):
            raise IntegrityError(
                "the live bundle is missing from the store",
                file=self.describe_key(bundle_key(model, sha256)),
                hint="run `modelops deploy` for this environment to restore it",
            )
        return target

    def _conditional_put(self, key: str, data: bytes, *, if_match: str | None) -> str | None:
        """PUT with If-Match (or If-None-Match: * when `if_match` is None); the new ETag, or
        None when the condition failed."""
        from botocore.exceptions import ClientError

        with self._calling("lock", key):
            try:
                if if_match is None:
                    response = self.client.put_object(
                        Bucket=self.bucket, Key=self._key(key), Body=data, IfNoneMatch="*"
                    )
                else:
                    response = self.client.put_object(
                        Bucket=self.bucket, Key=self._key(key), Body=data, IfMatch=if_match
                    )
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code")
                if code in ("PreconditionFailed", "ConditionalRequestConflict", "412"):
                    return None
                if code in ("NoSuchKey", "404") and if_match is not None:
                    return None  # deleted meanwhile: not ours to replace
                raise
        etag: str = response["ETag"]
        return etag

    def create_exclusive(self, key: str, data: bytes) -> str | None:
        return self._conditional_put(key, data, if_match=None)

    def replace_if_match(self, key: str, data: bytes, etag: str) -> str | None:
        return self._conditional_put(key, data, if_match=etag)

    def read_versioned(self, key: str) -> tuple[bytes, str] | None:
        from botocore.exceptions import ClientError

        with self._calling("read", key):
            try:
                obj = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                    return None
                raise
            data: bytes = obj["Body"].read()
            return data, str(obj["ETag"])

    def read_key(self, key: str) -> bytes | None:
        return self._get(key)

    def delete_key(self, key: str) -> None:
        with self._calling("delete", key):
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def delete_if_match(self, key: str, etag: str) -> bool:
        """DELETE with If-Match: another holder's newer lock object is never removed."""
        from botocore.exceptions import ClientError

        with self._calling("lock", key):
            try:
                self.client.delete_object(Bucket=self.bucket, Key=self._key(key), IfMatch=etag)
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code")
                if code in ("PreconditionFailed", "ConditionalRequestConflict", "412"):
                    return False
                if code in ("NoSuchKey", "404"):
                    return False
                raise
        return True


def _target(project: Project, env: str, configured: str | None) -> tuple[str, str, str]:
    """(`s3`, bucket, prefix) or (`local`, resolved folder, "") of `env`'s store."""
    uri = configured or os.environ.get("MODELOPS_STORE")
    field = "serving.store" if configured else "MODELOPS_STORE"
    if uri and uri.startswith("s3://"):
        bucket, _, prefix = uri[len("s3://") :].partition("/")
        if not bucket:
            raise InputError(f"no bucket in {uri!r}", field=field, hint="s3://bucket/prefix")
        # A store configured per environment is already that environment's root.
        prefix = prefix.strip("/") if configured else f"{prefix.strip('/')}/{env}".strip("/")
        return "s3", bucket, prefix
    if uri and "://" in uri and not uri.startswith("file://"):
        raise InputError(
            f"unsupported store {uri!r}", field=field, hint="a folder or s3://bucket/prefix"
        )
    if uri and uri.startswith("file://"):
        uri = uri[len("file://") :]
    if configured:
        root = Path(uri or configured)
        root = root if root.is_absolute() else project.root / root
    else:
        root = Path(uri or project.store_uri()) / env
    # Resolved: two spellings of one folder (a symlink, `..`) are one store and one lock.
    return "local", str(root.resolve()), ""


def store_location(project: Project, env: str, configured: str | None = None) -> str:
    """The resolved location of `env`'s store: `s3://bucket/prefix` or an absolute folder."""
    kind, where, prefix = _target(project, env, configured)
    return f"s3://{where}/{prefix}".rstrip("/") if kind == "s3" else where


def _overlap(a: str, b: str) -> bool:
    """One location is the other or lies inside it."""
    a, b = a.rstrip("/") + "/", b.rstrip("/") + "/"
    return a.startswith(b) or b.startswith(a)


def store_overlaps(project: Project, only: str | None = None) -> list[InputError]:
    """Environments whose serving stores overlap (one would overwrite the other's `live.json`).

    `only`: report the overlaps of that environment only. Environment files that do
    not load are skipped here (their own error is reported where they are read).
    """
    from modelops.errors import ModelopsError
    from modelops.spec import load_environment

    root = project.environments_dir
    located: list[tuple[str, str, str]] = []
    for env_dir in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        if not (env_dir / "environment.yaml").is_file():
            continue
        try:
            env = load_environment(project, env_dir.name)
            located.append((env.name, str(env.path), store_location(project, env.name, env.store)))
        except ModelopsError:
            continue
    problems: list[InputError] = []
    for i, (name, path, where) in enumerate(located):
        for other, other_path, other_where in located[i + 1 :]:
            if only not in (None, name, other) or not _overlap(where, other_where):
                continue
            mine, theirs = (name, path, where), (other, other_path, other_where)
            if only == other:
                mine, theirs = theirs, mine
            problems.append(
                SpecError(
                    f"the serving store of '{mine[0]}' ({mine[2]}) overlaps the store of "
                    f"{theirs[1]} ({theirs[2]}): a deploy of one would rewrite the other",
                    file=mine[1],
                    field="serving.store",
                    hint="give every environment its own store (a folder or prefix of its own)",
                )
            )
    return problems


def open_store(project: Project, env: str, configured: str | None = None) -> Store:
    """The serving store of `env`: environment.yaml's serving.store, else MODELOPS_STORE/<env>."""
    kind, where, prefix = _target(project, env, configured)
    if kind == "s3":
        return S3Store(where, prefix)
    return LocalStore(Path(where))
