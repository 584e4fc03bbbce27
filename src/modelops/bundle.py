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


def pickle_files(directory: Path) -> list[str]:
    """Relative paths of files under `directory` that are, or are named like, pickles."""
    found = []
    for file in sorted(p for p in directory.rglob("*") if p.is_file()):
        with file.open("rb") as fh:
            head = fh.read(2)
        if file.suffix.lower() in _PICKLE_SUFFIXES or head in _PICKLE_MAGIC:
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
    project: Project, directory: Path, expected_sha256: str
) -> tuple[ModuleType, Any, dict[str, Any]]:
    """Verify the digest, then import the bundle's model package and load its model."""
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
    module = load_model_module(project, meta["entrypoint"], file=directory / BUNDLE_JSON)
    model = module.load(directory / MODEL_DIR)
    return module, model, meta
