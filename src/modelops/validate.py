"""`modelops validate`: every spec, environment and manifest against its schema and the others.

Beyond the JSON Schemas it checks what only the project can tell: the entrypoint
implements the model contract (train, predict, save, load), the data schema
reference resolves to a pandera DataFrameSchema, the data file exists, the target,
id column and drift features are columns of that schema. The entrypoint and the
schema are imported, as training will import them, and only for the models being
checked. All problems in all files are collected and printed as
`file: field: message`, then one SpecError (exit 2) gives the count. Nothing is
written on failure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from modelops import spec as specs
from modelops.errors import InputError, ModelopsError, SpecError
from modelops.modelapi import import_object, load_model_module
from modelops.project import Project
from modelops.results import CommandResult
from modelops.store import store_overlaps


def _imported_references(
    project: Project, pipeline: specs.PipelineSpec
) -> tuple[list[ModelopsError], set[str] | None]:
    """Import the entrypoint and the schema; the schema's column names when it is one."""
    problems: list[ModelopsError] = []
    file = pipeline.path
    try:
        load_model_module(project, pipeline.entrypoint, file=file)
    except ModelopsError as err:
        problems.append(err)
    try:
        schema = import_object(project, pipeline.data_schema, file=file, field_name="data.schema")
    except ModelopsError as err:
        return [*problems, err], None
    columns = getattr(schema, "columns", None)
    if not isinstance(columns, dict):
        kind = type(schema).__name__
        problems.append(
            pipeline.field_error(
                "data.schema",
                f"'{pipeline.data_schema}' is a {kind}, not a pandera DataFrameSchema",
                hint="point it at a pandera.DataFrameSchema object",
            )
        )
        return problems, None
    return problems, set(columns)


def check_pipeline(project: Project, model: str) -> list[ModelopsError]:
    """All problems of one pipeline spec; an empty list when it is sound."""
    try:
        pipeline = specs.load_pipeline(project, model)
    except ModelopsError as err:
        return err.problems  # the shape is wrong: cross-references cannot be read reliably
    problems, columns = _imported_references(project, pipeline)
    if not pipeline.is_remote_data and not pipeline.data_file(project).is_file():
        problems.append(
            pipeline.field_error(
                "data.path",
                f"data file '{pipeline.data_path}' does not exist",
                hint="paths are relative to the project root",
            )
        )
    if columns is not None:
        hint = f"schema columns: {', '.join(sorted(columns))}"
        for field_name, column in [("data.target", pipeline.target)] + (
            [("data.id_column", pipeline.id_column)] if pipeline.id_column else []
        ):
            if column not in columns:
                problems.append(
                    pipeline.field_error(
                        field_name,
                        f"column '{column}' is not in the schema {pipeline.data_schema}",
                        hint=hint,
                    )
                )
        for i, feature in enumerate(pipeline.drift.features if pipeline.drift else ()):
            if feature not in columns:
                problems.append(
                    pipeline.field_error(
                        f"drift.features[{i}]",
                        f"'{feature}' is not a column of the schema {pipeline.data_schema}",
                        hint=hint,
                    )
                )
    return problems


def check_environments(project: Project) -> tuple[list[ModelopsError], int]:
    """Problems of environment files and manifests, and how many files were read."""
    problems: list[ModelopsError] = []
    checked = 0
    root = project.environments_dir
    for env_dir in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        checked += 1
        problems += _collect(partial(specs.load_environment, project, env_dir.name))
        models_dir = env_dir / "models"
        for path in sorted(models_dir.glob("*.yaml")) if models_dir.is_dir() else []:
            checked += 1
            problems += _collect(partial(specs.load_manifest, project, env_dir.name, path.stem))
    problems += store_overlaps(project)
    return problems, checked


def _collect(check: Callable[[], Any]) -> list[ModelopsError]:
    try:
        check()
    except ModelopsError as err:
        return err.problems
    return []


@dataclass
class ValidateResult(CommandResult):
    """What `validate_project` checked: the models and how many environment files."""

    @property
    def models(self) -> list[str]:
        return list(self.data["models"])


def validate_project(project: Project, models: Sequence[str] = ()) -> ValidateResult:
    """Check the named models (default: all), then every environment and manifest.

    Every problem found is in the raised SpecError's `details`, one line each.
    """
    models = list(models) or specs.list_models(project)
    if not models:
        raise InputError(
            "no pipeline specs found",
            file=project.relative(project.pipelines_dir),
            hint="add pipelines/<model>.yaml",
        )
    problems: list[ModelopsError] = []
    for model in models:
        problems += check_pipeline(project, model)
    env_problems, env_files = check_environments(project)
    problems += env_problems
    if problems:
        files = sorted({err.file or "?" for err in problems})
        raise SpecError(
            f"{len(problems)} problem(s) in {len(files)} file(s): {', '.join(files)}",
            hint="fix the problems listed above and run `modelops validate` again",
            details=[f"{err}" + (f" (hint: {err.hint})" if err.hint else "") for err in problems],
        )
    return ValidateResult(
        "validate",
        "project",
        {"models": models, "environment_files": env_files, "problems": []},
        [f"ok: {len(models)} pipeline spec(s) and {env_files} environment file(s) are valid"],
    )
