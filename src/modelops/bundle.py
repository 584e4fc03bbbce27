"""The model bundle: what training writes and every later stage moves, verifies and loads.

```
bundle/
  bundle.json         model, entrypoint, format, features, target, classes, signature
  input_example.json  a few input rows (records)
  training.json       params and a profile of the training data (rows, target, feature bins),
                      so a later challenger's report can say what changed against this one
  model/              written by the model package's save(): skops / safetensors / JSON
```

Its identity is `fsutil.tree_digest(bundle)`. Nothing in a bundle is deserialised
before that digest has been checked against the one recorded for it, and a bundle
that holds a pickle is refused when written and when loaded.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from modelops import __version__
from modelops.errors import IntegrityError, SpecError
from modelops.fsutil import atomic_directory, read_text, tree_digest

if TYPE_CHECKING:
    from modelops.project import Project
    from modelops.spec import PipelineSpec

BUNDLE_JSON = "bundle.json"
INPUT_EXAMPLE_JSON = "input_example.json"
TRAINING_JSON = "training.json"
MODEL_DIR = "model"
BUNDLE_FORMAT_VERSION = 1

# Files a pickle-based saver leaves behind; refused whatever their content.
_PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".pt", ".pth", ".ckpt")
# A pickle stream with protocol >= 2 starts with PROTO (0x80) and its version byte.
_PICKLE_MAGIC = tuple(bytes([0x80, proto]) for proto in range(2, 6))
_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = b"PK\x03\x04"


def _is_pickle_stream(fh: Any) -> bool:
    """The stream parses as a whole pickle (any protocol, 0 and 1 included), up to STOP.

    `pickletools.genops` only decodes opcodes, it never runs them. Text that is not a
    pickle (JSON, CSV) fails at its first byte that is not an opcode.
    """
    import pickletools

    try:
        for opcode, _arg, _pos in pickletools.genops(fh):
            if opcode.name == "STOP":
                return True
    except Exception:
        return False
    return False


def _npy_holds_objects(fh: Any) -> bool:
    """A `.npy` array (whatever the file is called) of dtype object: it is pickled."""
    from numpy.lib import format as npformat

    try:
        version = npformat.read_magic(fh)
        reader = {(1, 0): npformat.read_array_header_1_0, (2, 0): npformat.read_array_header_2_0}
        _shape, _order, dtype = reader.get(version, npformat.read_array_header_2_0)(fh)
    except Exception:
        return True
    return bool(dtype.hasobject)


def _holds_pickle(fh: Any, name: str, depth: int = 0) -> bool:
    """One file (or zip member) is or contains a pickle."""
    import io
    import zipfile

    if name.lower().endswith(_PICKLE_SUFFIXES):
        return True
    head = fh.read(8)
    fh.seek(0)
    if head[:2] in _PICKLE_MAGIC:
        return True
    if head.startswith(_NPY_MAGIC):
        return _npy_holds_objects(fh)
    if head.startswith(_ZIP_MAGIC):
        # torch.save archives (`*/data.pkl`), .npz files, skops archives: scan every member.
        if depth > 1:
            return True  # a zip inside a zip inside a zip: refuse rather than dig
        try:
            with zipfile.ZipFile(fh) as archive:
                for info in archive.infolist():
                    with archive.open(info) as member:
                        data = io.BytesIO(member.read())
                    if _holds_pickle(data, info.filename, depth + 1):
                        return True
        except (zipfile.BadZipFile, OSError, ValueError):
            return True  # looks like a zip but does not read as one: refuse
        return False
    return _is_pickle_stream(fh)


def pickle_files(directory: Path) -> list[str]:
    """Relative paths of files under `directory` that are, hold, or are named like pickles.

    Caught: pickle streams of every protocol (0 and 1 have no magic bytes: the file is
    decoded opcode by opcode, never run), zip archives with a pickle member (torch.save,
    .npz), `.npy` arrays of dtype object, and the usual pickle file suffixes.
    """
    found = []
    for file in sorted(p for p in directory.rglob("*") if p.is_file()):
        with file.open("rb") as fh:
            if _holds_pickle(fh, file.name):
                found.append(file.relative_to(directory).as_posix())
    return found


def _model_format(model_dir: Path) -> str:
    """The storage format, from what save() wrote (recorded so readers know what to expect)."""
    suffixes = {p.suffix.lower() for p in model_dir.rglob("*") if p.is_file()}
    for suffix, name in ((".skops", "skops"), (".safetensors", "safetensors")):
        if suffix in suffixes:
            return name
    return "json"


def _json_safe(value: Any) -> Any:
    """Plain JSON values: numpy scalars unwrapped, NaN as null (JSON has no NaN)."""
    if hasattr(value, "item") and not isinstance(value, list | dict | str):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_bundle(
    directory: Path,
    *,
    module: ModuleType,
    model: Any,
    spec: PipelineSpec,
    features: list[str],
    classes: list[Any],
    input_example: Any,
    training: dict[str, Any] | None = None,
) -> str:
    """Write a bundle into `directory` (which must not exist yet); return its tree digest.

    `input_example` is a pandas DataFrame of a few input rows. The folder appears
    only when it is complete, so a crash never leaves half a bundle.
    """
    if directory.exists():
        raise SpecError(
            "bundle folder already exists",
            file=directory,
            hint="a bundle is immutable; write to a new folder",
        )
    example = input_example[features]
    signature = {column: str(dtype) for column, dtype in example.dtypes.items()}
    records = [
        {column: _json_safe(value) for column, value in row.items()}
        for row in example.to_dict(orient="records")
    ]
    with atomic_directory(directory) as scratch:
        model_dir = scratch / MODEL_DIR
        model_dir.mkdir()
        module.save(model, model_dir)
        pickles = pickle_files(model_dir)
        if pickles:
            raise SpecError(
                f"the model package saved pickle files: {', '.join(pickles)}",
                file=spec.path,
                field="train.entrypoint",
                hint="save with skops (scikit-learn) or safetensors (torch): "
                "a pickle runs code when loaded",
            )
        meta = {
            "bundle_format": BUNDLE_FORMAT_VERSION,
            "model": spec.name,
            "entrypoint": spec.entrypoint,
            "format": _model_format(model_dir),
            "features": list(features),
            "target": spec.target,
            "classes": [_json_safe(c) for c in classes],
            "signature": signature,
            "created_by": f"modelops {__version__}",
        }
        (scratch / BUNDLE_JSON).write_text(
            json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
        (scratch / INPUT_EXAMPLE_JSON).write_text(
            json.dumps(records, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
        if training is not None:
            (scratch / TRAINING_JSON).write_text(
                json.dumps(training, sort_keys=True, default=str) + "\n", encoding="utf-8"
            )
    return tree_digest(directory)


def verify(directory: Path, expected_sha256: str, *, source: str) -> None:
    """Raise IntegrityError unless the bundle's tree digest equals `expected_sha256`."""
    if not (directory / BUNDLE_JSON).is_file():
        raise IntegrityError(
            "not a model bundle (no bundle.json)",
            file=directory,
            hint=f"the bundle from {source} is missing or incomplete",
        )
    actual = tree_digest(directory)
    if actual != expected_sha256:
        raise IntegrityError(
            f"bundle digest {actual} differs from the recorded {expected_sha256}",
            file=directory,
            hint=f"the bundle from {source} was changed after it was recorded; "
            "nothing was loaded from it",
        )


def read_meta(directory: Path) -> dict[str, Any]:
    """bundle.json of a bundle (call `verify` first if the bundle is not your own)."""
    path = directory / BUNDLE_JSON
    try:
        meta: dict[str, Any] = json.loads(read_text(path, what="bundle metadata"))
    except json.JSONDecodeError as exc:
        raise IntegrityError(f"bundle.json is not valid JSON ({exc.msg})", file=path) from None
    return meta


def read_training(directory: Path) -> dict[str, Any] | None:
    """training.json of a verified bundle (params, data profile), or None for an older bundle."""
    path = directory / TRAINING_JSON
    if not path.is_file():
        return None
    try:
        training = json.loads(read_text(path, what="training profile"))
    except json.JSONDecodeError as exc:
        raise IntegrityError(f"training.json is not valid JSON ({exc.msg})", file=path) from None
    return training if isinstance(training, dict) else None


def read_input_example(directory: Path) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = json.loads(
        read_text(directory / INPUT_EXAMPLE_JSON, what="input example")
    )
    return records


def load_verified(
    project: Project, directory: Path, expected_sha256: str, *, entrypoint: str
) -> tuple[ModuleType, Any, dict[str, Any]]:
    """Verify the digest, then import the bundle's model package and load its model.

    `entrypoint` is the spec's `train.entrypoint`: a bundle naming any other module is
    refused before anything is imported (a recorded digest proves only that the bundle
    is unchanged, not that the code it names is the model's).
    """
    from modelops.modelapi import load_model_module

    verify(directory, expected_sha256, source=str(directory))
    pickles = pickle_files(directory)
    if pickles:  # unreachable for bundles we wrote; a recorded digest can still name a bad one
        raise IntegrityError(
            f"bundle holds pickle files: {', '.join(pickles)}",
            file=directory,
            hint="refusing to load it; retrain with a safe format",
        )
    meta = read_meta(directory)
    named = meta.get("entrypoint") if isinstance(meta, dict) else None
    if named != entrypoint:
        raise IntegrityError(
            f"bundle.json names the entrypoint {named!r}, the spec's is {entrypoint!r}",
            file=directory / BUNDLE_JSON,
            field="entrypoint",
            hint="refusing to import it: a bundle is loaded only by its model's own package",
        )
    module = load_model_module(project, entrypoint, file=directory / BUNDLE_JSON)
    model = module.load(directory / MODEL_DIR)
    return module, model, meta
