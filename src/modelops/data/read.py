"""Reading a model's data: the file (local or `s3://`, digest-checked), as a frame, its sha256.

`train`, `evaluate` and `data-test` all read through `load_data`/`load_frame`, so
every command reads the same rows.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelops.errors import DataError, InputError
from modelops.fsutil import sha256_file

if TYPE_CHECKING:
    import pandas as pd

    from modelops.project import Project
    from modelops.spec import PipelineSpec

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def resolve_data_path(project: Project, spec: PipelineSpec, override: Path | None = None) -> Path:
    """The data file a command reads: `--data PATH` (relative to cwd) or the spec's path.

    `s3://` data is downloaded once into the state folder and verified against
    the spec's `data.sha256` (required for remote data) before anything reads it.
    """
    if override is not None:
        return override.resolve()
    if spec.is_remote_data:
        return fetch_remote(project, spec)
    return spec.data_file(project)


def fetch_remote(project: Project, spec: PipelineSpec) -> Path:
    """`.modelops/data/<sha256>/<name>`: the S3 object, downloaded and digest-checked.

    The cache is keyed by the pinned digest, so a later run reads the same bytes
    without the network; a download whose sha256 differs is discarded, never cached.
    Endpoint: `MODELOPS_S3_ENDPOINT_URL` or `AWS_ENDPOINT_URL` (S3-compatible stores).
    """
    import tempfile

    from modelops.errors import IntegrityError

    expected = spec.data_sha256 or ""
    bucket, _, key = spec.data_path.removeprefix("s3://").partition("/")
    cached = project.state_dir / "data" / expected / (Path(key).name or "data")
    if cached.is_file() and sha256_file(cached) == expected:
        return cached
    cached.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=cached.parent, prefix=f".{cached.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            _download(bucket, key, fh, spec)
        got = sha256_file(tmp)
        if got != expected:
            raise IntegrityError(
                f"downloaded object has sha256 {got[:12]}…, the spec pins {expected[:12]}…",
                file=spec.data_path,
                field="data.sha256",
                hint=f"the object changed; if that is intended, update data.sha256 in {spec.path}",
            )
        tmp.replace(cached)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return cached


def _download(bucket: str, key: str, fh: Any, spec: PipelineSpec) -> None:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    from modelops.errors import ServiceError

    endpoint = os.environ.get("MODELOPS_S3_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL")
    # Fail fast when the endpoint is gone: a CI job should report, not hang.
    config = Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 2})
    client = boto3.client("s3", endpoint_url=endpoint, config=config)
    try:
        client.download_fileobj(bucket, key, fh)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", "?"))
        if code in ("404", "NoSuchKey", "NoSuchBucket"):
            raise InputError(
                "data object not found",
                file=spec.data_path,
                field="data.path",
                hint="check the bucket and key in the spec",
            ) from None
        raise ServiceError(
            f"downloading the data failed ({code})",
            file=spec.data_path,
            hint="check the credentials and the bucket policy",
        ) from None
    except BotoCoreError as exc:
        raise ServiceError(
            f"downloading the data failed: {exc}",
            file=spec.data_path,
            hint="is the S3 endpoint reachable? "
            "(MODELOPS_S3_ENDPOINT_URL selects an S3-compatible store)",
        ) from None


def load_frame(
    path: Path, *, display: str | None = None, allow_empty: bool = False
) -> pd.DataFrame:
    """Read a CSV or Parquet file; every way it can fail becomes one clear error.

    `display` is how the file is named in messages (e.g. relative to the project).
    """
    import pandas as pd

    name = display or str(path)
    kind = FORMATS.get(path.suffix.lower())
    _check_readable(path, name)
    if kind is None:
        raise InputError(
            f"unsupported file type '{path.suffix or '(none)'}'",
            file=name,
            hint=f"use one of {', '.join(sorted(FORMATS))}",
        )
    if path.stat().st_size == 0:
        raise DataError("file is empty", file=name, hint="expected a header row and data rows")
    try:
        frame = pd.read_csv(path) if kind == "csv" else pd.read_parquet(path)
    except pd.errors.EmptyDataError:
        raise DataError(
            "file has no columns (blank)", file=name, hint="expected a header row and data rows"
        ) from None
    except pd.errors.ParserError as exc:
        text = str(exc).strip()
        match = re.search(r"(?:line|row) (\d+)", text)
        raise DataError(
            f"does not parse as CSV: {text.splitlines()[-1]}",
            file=name,
            line=int(match.group(1)) if match else None,
            hint="every row needs as many fields as the header; quote fields with commas",
        ) from None
    except UnicodeDecodeError as exc:
        raise DataError(
            f"is not UTF-8 text ({exc.reason} at byte {exc.start})",
            file=name,
            hint="save the file as UTF-8 CSV",
        ) from None
    except Exception as exc:  # pyarrow raises several unrelated classes for a bad Parquet file
        if kind == "csv":
            raise
        raise DataError(
            f"does not read as Parquet: {type(exc).__name__}: {exc}", file=name
        ) from None
    if kind == "csv" and len(frame.columns) == 1:
        header = str(frame.columns[0])
        for sep, label in ((";", "semicolons"), ("\t", "tabs"), ("|", "pipes")):
            if sep in header:
                raise DataError(
                    f"the header is one column separated by {label}, expected commas",
                    file=name,
                    line=1,
                    hint="save the file as comma-separated CSV",
                )
    if frame.empty and not allow_empty:
        raise DataError("file has a header but no data rows", file=name)
    return frame


def _check_readable(path: Path, name: str) -> None:
    try:
        with path.open("rb"):
            pass
    except FileNotFoundError:
        raise InputError("data file not found", file=name, hint="check the path") from None
    except IsADirectoryError:
        raise InputError("is a directory, expected a data file", file=name) from None
    except NotADirectoryError:
        raise InputError(
            "path goes through a file as if it were a folder", file=name, hint="check the path"
        ) from None
    except PermissionError:
        raise InputError(
            "data file is not readable (permission denied)",
            file=name,
            hint="check the file's permissions",
        ) from None
    if not path.is_file():  # a FIFO or device: reading it could block forever
        raise InputError("is not a regular file", file=name)


def data_digest(path: str | Path) -> str:
    """sha256 of the file's bytes (what `data.sha256` pins and runs record)."""
    if str(path).startswith("s3://"):
        raise InputError(
            "cannot digest remote data in place",
            file=str(path),
            hint="fetch it first (resolve_data_path) and digest the local copy",
        )
    return sha256_file(Path(path))


def load_data(project: Project, spec: PipelineSpec) -> tuple[pd.DataFrame, str]:
    """The spec's data and its sha256, refusing data that differs from a pinned digest."""
    path = resolve_data_path(project, spec)
    frame = load_frame(path, display=spec.data_path)
    digest = data_digest(path)
    check_pinned_digest(spec, digest, display=spec.data_path)
    return frame, digest


def check_pinned_digest(spec: PipelineSpec, digest: str, *, display: str) -> None:
    """Refuse data whose sha256 differs from the spec's pinned `data.sha256`."""
    if spec.data_sha256 and digest != spec.data_sha256:
        raise DataError(
            f"sha256 {digest[:12]}… differs from the pinned {spec.data_sha256[:12]}…",
            file=display,
            field="data.sha256",
            hint=f"if the change is intended, update data.sha256 in {spec.path}",
        )


def frame_digest(frame: pd.DataFrame) -> str:
    """sha256 of a DataFrame's values and index; equal splits have equal digests."""
    import hashlib

    import pandas as pd

    hashed = pd.util.hash_pandas_object(frame, index=True).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()
