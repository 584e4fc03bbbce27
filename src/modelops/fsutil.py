"""Files: atomic writes, sha256 digests and YAML reading with precise errors."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from modelops.errors import InputError

_CHUNK = 1 << 20


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, payload: Any) -> None:
    atomic_write_text(path, json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")


@contextmanager
def atomic_directory(final: Path) -> Iterator[Path]:
    """Yield a scratch directory that becomes `final` only if the block succeeds.

    `final` must not exist yet; on failure the scratch directory is removed.
    """
    import shutil

    final.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.", suffix=".tmp"))
    try:
        yield scratch
        scratch.replace(final)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tree_digest(directory: Path) -> str:
    """sha256 of a directory: of the sorted lines `<sha256 of file>  <relative path>`.

    Stable across machines (POSIX separators, no timestamps or permissions), so
    a bundle copied to S3 and back has the same digest.
    """
    lines = []
    for file in sorted(p for p in directory.rglob("*") if p.is_file()):
        rel = file.relative_to(directory).as_posix()
        lines.append(f"{sha256_file(file)}  {rel}\n")
    return sha256_bytes("".join(lines).encode("utf-8"))


def read_text(path: Path, *, what: str = "file") -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{what} not found", file=path, hint="check the path") from None
    except IsADirectoryError:
        raise InputError(f"{what} is a directory, expected a file", file=path) from None
    except PermissionError:
        raise InputError(f"{what} is not readable (permission denied)", file=path) from None
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{what} is not UTF-8 text ({exc.reason} at byte {exc.start})", file=path
        ) from None


def _load_yaml(text: str) -> Any:
    """`yaml.safe_load` with libyaml's C parser when PyYAML was built with it."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader


def read_yaml(path: Path, *, what: str = "YAML file") -> Any:
    """Parse a YAML file safely; a syntax error names the file and line."""
    import yaml

    text = read_text(path, what=what)
    try:
        return _load_yaml(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or str(exc)
        raise InputError(
            f"malformed YAML: {problem}",
            file=path,
            line=line,
            hint="fix the YAML syntax (indentation, quotes, colons)",
        ) from None
    except yaml.YAMLError as exc:
        raise InputError(f"malformed YAML: {exc}", file=path) from None


def dump_yaml(payload: Any) -> str:
    """YAML as people review it in a diff: block style, keys in the order given."""
    import yaml

    return yaml.safe_dump(payload, sort_keys=False, default_flow_style=False, allow_unicode=True)
