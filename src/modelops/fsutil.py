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


_STR, _SEQ, _MAP, _MERGE = (f"tag:yaml.org,2002:{t}" for t in ("str", "seq", "map", "merge"))


class _Unusual(Exception):
    """An alias, merge key or explicit tag: build this document the standard way."""


def _load_yaml(text: str) -> Any:
    """`yaml.safe_load` with libyaml's parser when PyYAML has it, and a lean builder.

    libyaml parses about eight times faster than the pure-Python parser; building
    plain dicts, lists and strings directly (instead of through the generic
    constructor's per-node dispatch) takes another third off, which matters when
    `validate` reads thousands of specs and manifests. Every other scalar (int,
    float, bool, null, timestamp) still goes through PyYAML's safe constructor,
    and a document with anything unusual (an alias, a `<<` merge, a custom tag,
    a key that cannot be a dict key) is built entirely the standard way, so the
    result is always what `yaml.safe_load` returns.
    """
    import yaml

    loader_class = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        seen: set[int] = set()

        def build(node: Any) -> Any:
            if id(node) in seen:  # an alias: shared (maybe recursive) structure
                raise _Unusual
            seen.add(id(node))
            kind = type(node)
            if kind is yaml.ScalarNode:
                return node.value if node.tag == _STR else loader.construct_object(node, deep=True)
            if kind is yaml.SequenceNode and node.tag == _SEQ:
                return [build(item) for item in node.value]
            if kind is yaml.MappingNode and node.tag == _MAP:
                mapping = {}
                for key_node, value_node in node.value:
                    if key_node.tag == _MERGE:
                        raise _Unusual
                    key = build(key_node)
                    if not isinstance(key, str | int | float | bool | None):
                        raise _Unusual  # e.g. a list: the standard error names the line
                    mapping[key] = build(value_node)
                return mapping
            raise _Unusual

        if node is None:
            return None
        try:
            return build(node)
        except _Unusual:
            return yaml.load(text, Loader=loader_class)  # noqa: S506 - a safe loader
    finally:
        loader.dispose()


def read_yaml(path: Path, *, what: str = "YAML file") -> Any:
    """Parse a YAML file as `yaml.safe_load` would; a syntax error names the file and line."""
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
