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


def tree_files(directory: Path) -> list[Path]:
    """The plain files under `directory`, sorted; refuses symlinks and unsafe names.

    A symlink (to a file or a folder), a device or a fifo, and a name holding a control
    character (a newline would let two trees share one digest) raise IntegrityError.
    """
    from modelops.errors import IntegrityError

    if directory.is_symlink():
        raise IntegrityError("is a symlink (refused)", file=directory)
    found = []
    for current, dirs, files in os.walk(directory, followlinks=False):
        for name in [*dirs, *files]:
            path = Path(current) / name
            if path.is_symlink():
                raise IntegrityError(
                    "holds a symlink (refused: a link can point anywhere)",
                    file=path,
                    hint="bundles and stores hold plain files only",
                )
            if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
                raise IntegrityError(
                    f"file name {name!r} holds a control character (refused)", file=path
                )
            if name in files and not path.is_file():
                raise IntegrityError("is not a plain file (refused)", file=path)
            if name in files:
                found.append(path)
    return sorted(found)


def tree_digest(directory: Path) -> str:
    """sha256 of a directory: of the sorted lines `<sha256 of file>  <relative path>`.

    Stable across machines (POSIX separators, no timestamps or permissions), so
    a bundle copied to S3 and back has the same digest. Injective: no name holds a
    newline or another control character, and no symlink is followed (`tree_files`).
    """
    lines = []
    for file in tree_files(directory):
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


# More nodes than this once aliases are expanded is an alias bomb ("billion laughs"),
# not a spec: refused before any Python object is built from it.
MAX_YAML_NODES = 100_000


class YamlBombError(ValueError):
    """A YAML document whose aliases expand past MAX_YAML_NODES."""


def _expanded_size(root: Any) -> int:
    """Nodes in the document with every alias expanded, computed without expanding it."""
    import yaml

    sizes: dict[int, int] = {}
    # Post-order over the node graph (aliases share node objects), iterative: no recursion limit.
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in sizes:
            continue
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        else:
            sizes[id(node)] = 1
            continue
        if done:
            total = 1 + sum(sizes.get(id(c), 1) for c in children)
            sizes[id(node)] = total
            if total > MAX_YAML_NODES:
                raise YamlBombError(
                    f"the document expands to more than {MAX_YAML_NODES} nodes through its "
                    "aliases (an alias bomb)"
                )
        else:
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in sizes)
    return sizes.get(id(root), 1)


def load_yaml_text(text: str) -> Any:
    """`yaml.safe_load` (libyaml's C parser when PyYAML has it), alias bombs refused.

    The document is composed into nodes first; its size with aliases expanded is
    counted (on the shared nodes, cheaply) before anything is constructed.
    """
    import yaml

    loader_class = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def read_yaml(path: Path, *, what: str = "YAML file") -> Any:
    """Parse a YAML file safely; a syntax error names the file and line."""
    import yaml

    text = read_text(path, what=what)
    try:
        return load_yaml_text(text)
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
    except YamlBombError as exc:
        raise InputError(
            f"refused YAML: {exc}",
            file=path,
            hint="write the values out; anchors and aliases may not multiply the document",
        ) from None


def dump_yaml(payload: Any) -> str:
    """YAML as people review it in a diff: block style, keys in the order given."""
    import yaml

    return yaml.safe_dump(payload, sort_keys=False, default_flow_style=False, allow_unicode=True)
