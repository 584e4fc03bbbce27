"""The contract between the toolkit and a team's model package (`src/models/<name>/`).

A model package is a Python module that exposes:

    train(data, params, context) -> model
        `data`: the training split as a pandas DataFrame, target column included.
        `params`: the spec's train.params. `context`: a TrainContext (seed, target,
        device, metric logging, checkpoint folder).
    predict(model, data) -> DataFrame
        one row per input row, same index: `prediction` (the label) and one
        `proba_<label>` column per class, in the order of the model's classes.
    save(model, directory) -> None
        writes only safe formats (skops, safetensors, JSON); never a pickle.
    load(directory) -> model
        reads what `save` wrote, refusing anything it does not trust.

and a pandera schema (`schema.py`, referenced by the spec's `data.schema`).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from modelops.errors import SpecError
from modelops.project import Project

REQUIRED = ("train", "predict", "save", "load")


@dataclass
class TrainContext:
    """What the toolkit hands to a model's `train`."""

    seed: int
    target: str
    device: str = "cpu"
    checkpoint_dir: Path | None = None
    log_metric: Callable[[str, float, int], None] = field(default=lambda k, v, s: None)
    # Extra facts the model may record (e.g. the AMP dtype); they end up as run tags.
    facts: dict[str, str] = field(default_factory=dict)


def _ensure_on_path(project: Project, module_name: str) -> None:
    """Make `module_name` resolve inside this project's src/, not a copy loaded earlier.

    One process may work on two checkouts (the demo's scratch copy, tests): a
    `models` package imported from the other one must not answer for this one.
    """
    src = project.models_src.resolve()
    if sys.path[:1] != [str(src)]:
        if str(src) in sys.path:
            sys.path.remove(str(src))
        sys.path.insert(0, str(src))
    top = module_name.split(".")[0]
    loaded = sys.modules.get(top)
    if loaded is None:
        return
    locations = [getattr(loaded, "__file__", None), *getattr(loaded, "__path__", [])]
    if not any(loc and Path(loc).resolve().is_relative_to(src) for loc in locations):
        for name in [m for m in sys.modules if m == top or m.startswith(f"{top}.")]:
            del sys.modules[name]
        importlib.invalidate_caches()


def import_object(project: Project, reference: str, *, file: Path, field_name: str) -> Any:
    """Import `module` or `module:attr` from the project's src/; errors name the spec field."""
    module_name, _, attr = reference.partition(":")
    _ensure_on_path(project, module_name)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise SpecError(
            f"cannot import '{module_name}' ({exc.msg})",
            file=file,
            field=field_name,
            hint=f"expected a package under {project.relative(project.models_src)}/",
        ) from None
    except (Exception, SystemExit) as exc:  # an error inside the team's module: report
        raise SpecError(
            f"importing '{module_name}' failed: {type(exc).__name__}: {exc}",
            file=file,
            field=field_name,
        ) from None
    if not attr:
        return module
    try:
        return getattr(module, attr)
    except AttributeError:
        raise SpecError(
            f"module '{module_name}' has no attribute '{attr}'",
            file=file,
            field=field_name,
        ) from None


def load_model_module(project: Project, entrypoint: str, *, file: Path) -> ModuleType:
    """Import a model package and check that it implements the contract."""
    module = import_object(project, entrypoint, file=file, field_name="train.entrypoint")
    missing = [name for name in REQUIRED if not callable(getattr(module, name, None))]
    if missing:
        raise SpecError(
            f"model package '{entrypoint}' lacks {', '.join(missing)}",
            file=file,
            field="train.entrypoint",
            hint="a model package exposes train, predict, save and load (see modelops.modelapi)",
        )
    return module  # type: ignore[no-any-return]
