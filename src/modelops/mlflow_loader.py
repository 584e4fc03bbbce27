"""MLflow's loader for modelops bundles: `mlflow.pyfunc.load_model` calls `_load_pyfunc` here.

A registered version is an MLflow pyfunc model whose `loader_module` is this module
of the installed toolkit and whose data is the bundle (`data/bundle/`):

```
MLmodel               flavors.python_function: loader_module modelops.mlflow_loader,
                      data data/bundle; signature; metadata.modelops:
                      sha256 (the bundle's), entrypoint (the spec's)
input_example.json    written by MLflow from the bundle's example rows
requirements.txt, python_env.yaml, conda.yaml
data/bundle/          the bundle, byte for byte (same tree digest as the run's bundle/)
```

Nothing in the artifact is executed or unpickled: the loader checks the bundle's
tree digest against the one in `MLmodel` (and against `MODELOPS_EXPECTED_SHA256`
when the caller pins one, e.g. from a manifest) before reading any other file,
refuses pickles and a bundle naming another entrypoint than the one `register` took
from the spec and recorded in `MLmodel` (`metadata.modelops.entrypoint`), then
imports the team's model package by that entrypoint from the installed Python path
(never from the artifact folder) and calls its own `load`.
"""

from __future__ import annotations

import importlib
import os
import re
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from modelops.errors import IntegrityError, SpecError

if TYPE_CHECKING:
    import pandas as pd

LOADER_MODULE = "modelops.mlflow_loader"
METADATA_KEY = "modelops"
BUNDLE_DATA_NAME = "bundle"
# A caller that holds a trusted digest (a manifest's) pins it here; the loader then
# refuses a model whose MLmodel records another one.
PIN_ENV = "MODELOPS_EXPECTED_SHA256"

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_ENTRYPOINT = re.compile(r"^[A-Za-z_][\w.]*$")


class BundleModel:
    """A loaded bundle behind pyfunc's `predict`: the team's `predict` on the bundle's features."""

    def __init__(self, module: ModuleType, model: Any, meta: dict[str, Any], sha256: str) -> None:
        self.module = module
        self.model = model
        self.meta = meta
        self.sha256 = sha256
        self.features: list[str] = [str(f) for f in meta["features"]]

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """Score a DataFrame (or records): `prediction` and one `proba_<label>` per class."""
        import pandas as pd

        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        missing = [f for f in self.features if f not in frame.columns]
        if missing:
            raise SpecError(
                f"input lacks the feature column(s) {missing}",
                field=missing[0],
                hint=f"the model reads {self.features}",
            )
        scored: pd.DataFrame = self.module.predict(self.model, frame[self.features])
        return scored

    def input_example(self, directory: Path) -> pd.DataFrame:
        """The bundle's example rows as a frame with the dtypes recorded at training."""
        import pandas as pd

        from modelops.bundle import read_input_example

        frame = pd.DataFrame.from_records(read_input_example(directory), columns=self.features)
        for column, dtype in (self.meta.get("signature") or {}).items():
            if column in frame.columns:
                try:
                    frame[column] = frame[column].astype(dtype)
                except (TypeError, ValueError):  # e.g. an int column holding a missing value
                    continue
        return frame


def _sha256_of(value: Any, *, file: Path, field: str) -> str:
    if not isinstance(value, str) or not _SHA256.fullmatch(value):
        raise IntegrityError(
            "not a sha256 (64 lowercase hex digits)",
            file=file,
            field=field,
            hint="this MLflow model was not written by `modelops register`",
        )
    return value


def import_entrypoint(entrypoint: Any, *, artifact_root: Path, file: Path) -> ModuleType:
    """The team's model package as installed on sys.path; never a module inside the artifact."""
    from modelops.modelapi import REQUIRED

    if not isinstance(entrypoint, str) or not _ENTRYPOINT.fullmatch(entrypoint):
        raise SpecError(f"invalid entrypoint {entrypoint!r}", file=file, field="entrypoint")
    try:
        module = importlib.import_module(entrypoint)
    except ImportError as exc:
        raise SpecError(
            f"cannot import the model package '{entrypoint}' ({exc})",
            file=file,
            field="entrypoint",
            hint="install the team's repository (its src/ holds the model packages) "
            "next to modelops; the artifact carries no code",
        ) from None
    root = artifact_root.resolve()
    locations = [getattr(module, "__file__", None), *getattr(module, "__path__", [])]
    if any(loc and Path(loc).resolve().is_relative_to(root) for loc in locations):
        raise IntegrityError(
            f"'{entrypoint}' resolved to code inside the model artifact",
            file=file,
            field="entrypoint",
            hint="code is never taken from an artifact; check sys.path",
        )
    missing = [name for name in REQUIRED if not callable(getattr(module, name, None))]
    if missing:
        raise SpecError(
            f"model package '{entrypoint}' lacks {', '.join(missing)}",
            file=file,
            field="entrypoint",
        )
    return module


def check_entrypoint(meta: Any, entrypoint: str, *, file: Path) -> None:
    """Refuse a bundle whose bundle.json names another module than `entrypoint`.

    `entrypoint` is the spec's `train.entrypoint` (recorded in MLmodel by `register`):
    a digest proves only that the bundle is unchanged, not that the code it names is
    the model's (the rule of `bundle.load_verified`).
    """
    named = meta.get("entrypoint") if isinstance(meta, dict) else None
    if named != entrypoint:
        raise IntegrityError(
            f"bundle.json names the entrypoint {named!r}, the model's is {entrypoint!r}",
            file=file,
            field="entrypoint",
            hint="refusing to import it: a bundle is loaded only by its model's own package",
        )


def load_bundle(
    directory: Path, expected_sha256: str, *, artifact_root: Path, entrypoint: str
) -> BundleModel:
    """Verify the digest, refuse pickles and a foreign entrypoint, import the package, load it."""
    from modelops.bundle import BUNDLE_JSON, MODEL_DIR, pickle_files, read_meta, verify

    verify(directory, expected_sha256, source=str(artifact_root))
    pickles = pickle_files(directory)
    if pickles:
        raise IntegrityError(
            f"bundle holds pickle files: {', '.join(pickles)}",
            file=directory,
            hint="refusing to load it; retrain with a safe format",
        )
    meta = read_meta(directory)
    check_entrypoint(meta, entrypoint, file=directory / BUNDLE_JSON)
    module = import_entrypoint(
        entrypoint, artifact_root=artifact_root, file=directory / BUNDLE_JSON
    )
    return BundleModel(module, module.load(directory / MODEL_DIR), meta, expected_sha256)


def _mlmodel_of(data_path: Path) -> Path:
    """The MLmodel file whose python_function data is `data_path` (`<root>/data/bundle`)."""
    for parent in data_path.parents[:3]:
        if (parent / "MLmodel").is_file():
            return parent / "MLmodel"
    raise IntegrityError(
        "no MLmodel file above the model data", file=data_path, hint="not an MLflow model folder"
    )


def _load_pyfunc(data_path: str, model_config: dict[str, Any] | None = None) -> BundleModel:
    """pyfunc's entry point: `data_path` is the bundle inside the downloaded MLflow model."""
    from mlflow.models import Model

    bundle_dir = Path(data_path)
    mlmodel_file = _mlmodel_of(bundle_dir)
    recorded = (Model.load(str(mlmodel_file)).metadata or {}).get(METADATA_KEY) or {}
    expected = _sha256_of(recorded.get("sha256"), file=mlmodel_file, field="metadata.modelops")
    pinned = os.environ.get(PIN_ENV)
    if pinned and pinned != expected:
        raise IntegrityError(
            f"the MLflow model records bundle sha256 {expected[:12]}…, "
            f"but {PIN_ENV} pins {pinned[:12]}…",
            file=mlmodel_file,
            field="metadata.modelops.sha256",
            hint="the model or the pin is not the one you meant; nothing was loaded",
        )
    entrypoint = recorded.get("entrypoint")
    if not isinstance(entrypoint, str) or not _ENTRYPOINT.fullmatch(entrypoint):
        raise IntegrityError(
            f"invalid entrypoint {entrypoint!r}",
            file=mlmodel_file,
            field="metadata.modelops.entrypoint",
            hint="this MLflow model was not written by `modelops register`",
        )
    return load_bundle(
        bundle_dir, expected, artifact_root=mlmodel_file.parent, entrypoint=entrypoint
    )
