"""`modelops validate`: every spec, environment and manifest against its schema and the others.

Beyond the JSON Schemas it checks what only the project can tell: the entrypoint
implements the model contract (train, predict, save, load), the data schema
reference resolves to a pandera DataFrameSchema, the data file exists, the target,
id column and drift features are columns of that schema. All problems in all
files are collected and printed as `file: field: message`, then one SpecError
(exit 2) gives the count. Nothing is written on failure.

The cross-references are read from the source (`modelops.pysource`), not
imported: validate runs no team code (a spec in a pull request cannot make it
execute anything) and loads neither pandera nor pandas, so it takes a fraction
of a second at hundreds of models. Column names that the source builds in a way
the static reader cannot follow are reported as unchecked, never guessed;
`--import` runs the full check by importing each model package and schema.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from modelops import spec as specs
from modelops.errors import InputError, ModelopsError, SpecError
from modelops.modelapi import REQUIRED, import_object, load_model_module
from modelops.project import Project
from modelops.pysource import Binding, SourceError, SourceIndex, schema_columns
from modelops.results import CommandResult

# Expressions whose value is never callable: `train = None` does not implement train.
_LITERALS = (ast.Constant, ast.List, ast.Tuple, ast.Dict, ast.Set, ast.JoinedStr)


def _schema_columns(schema: Any) -> set[str] | None:
    """Column names a pandera DataFrameSchema declares (None when it is not one)."""
    columns = getattr(schema, "columns", None)
    return set(columns) if isinstance(columns, dict) else None


def _imported_references(
    project: Project, pipeline: specs.PipelineSpec
) -> tuple[list[ModelopsError], set[str] | None]:
    """`--import`: import the entrypoint and the schema, as training will."""
    problems: list[ModelopsError] = []
    file = pipeline.path
    try:
        load_model_module(project, pipeline.entrypoint, file=file)
    except ModelopsError as err:
        problems.append(err)
    columns: set[str] | None = None
    try:
        schema = import_object(project, pipeline.data_schema, file=file, field_name="data.schema")
        columns = _schema_columns(schema)
        if columns is None:
            problems.append(_not_a_schema(pipeline, type(schema).__name__))
    except ModelopsError as err:
        problems.append(err)
    return problems, columns


def _not_a_schema(pipeline: specs.PipelineSpec, kind: str) -> SpecError:
    return pipeline.field_error(
        "data.schema",
        f"'{pipeline.data_schema}' is a {kind}, not a pandera DataFrameSchema",
        hint="point it at a pandera.DataFrameSchema object",
    )


def _no_module(
    project: Project, pipeline: specs.PipelineSpec, field: str, module: str
) -> SpecError:
    return pipeline.field_error(
        field,
        f"cannot import '{module}' (No module named '{module}')",
        hint=f"expected a package under {project.relative(project.models_src)}/",
    )


def _may_be_callable(binding: Binding) -> bool:
    """False only when the source shows a non-callable (a module, a literal)."""
    if binding.kind == "module":
        return False
    return binding.kind != "value" or not isinstance(binding.node, _LITERALS)


def _static_contract(
    project: Project, index: SourceIndex, pipeline: specs.PipelineSpec
) -> list[ModelopsError]:
    """The entrypoint defines train, predict, save and load at top level (read, not run)."""
    field, module = "train.entrypoint", pipeline.entrypoint  # a dotted module: the schema says
    try:
        if index.find(module) is None:
            return [_no_module(project, pipeline, field, module)]
        missing = [
            name
            for name in REQUIRED
            if (found := index.resolve(module, name)) is None or not _may_be_callable(found)
        ]
    except SourceError as exc:
        return [pipeline.field_error(field, f"importing '{module}' failed: {exc}")]
    if not missing:
        return []
    return [
        pipeline.field_error(
            field,
            f"model package '{module}' lacks {', '.join(missing)}",
            hint="a model package exposes train, predict, save and load (see modelops.modelapi)",
        )
    ]


def _static_schema(
    project: Project, index: SourceIndex, pipeline: specs.PipelineSpec
) -> tuple[list[ModelopsError], set[str] | None, str | None]:
    """The data schema reference resolves to a DataFrameSchema; its columns when readable."""
    field = "data.schema"
    module, _, attr = pipeline.data_schema.partition(":")  # `module:attr`: the schema says
    try:
        if index.find(module) is None:
            return [_no_module(project, pipeline, field, module)], None, None
        binding = index.resolve(module, attr)
        if binding is None:
            msg = f"module '{module}' has no attribute '{attr}'"
            return [pipeline.field_error(field, msg)], None, None
        columns = schema_columns(index, binding)
    except SourceError as exc:
        return [pipeline.field_error(field, f"importing '{module}' failed: {exc}")], None, None
    except TypeError as exc:  # plainly not a schema: a function, a class, a literal
        return [_not_a_schema(pipeline, str(exc))], None, None
    if columns is None:
        why = f"{field}: the columns of '{pipeline.data_schema}' are not readable from its source"
        return [], None, why
    return [], columns, None


def check_pipeline(
    project: Project,
    model: str,
    *,
    run_imports: bool = False,
    index: SourceIndex | None = None,
    unchecked: list[str] | None = None,
) -> list[ModelopsError]:
    """All problems of one pipeline spec; an empty list when it is sound.

    Statically by default (`index` caches parsed sources across models); with
    `run_imports` the entrypoint and schema are imported instead. What the
    static reader could not check is appended to `unchecked`.
    """
    try:
        pipeline = specs.load_pipeline(project, model)
    except ModelopsError as err:
        return [err]  # the shape is wrong: cross-references cannot be read reliably
    problems: list[ModelopsError] = []
    if run_imports:
        problems, columns = _imported_references(project, pipeline)
    else:
        index = index or SourceIndex(project.models_src)
        schema_problems, columns, skipped = _static_schema(project, index, pipeline)
        problems = _static_contract(project, index, pipeline) + schema_problems
        if skipped and unchecked is not None:
            unchecked.append(f"{pipeline.path}: {skipped}")
    if not pipeline.is_remote_data:
        data_file = pipeline.data_file(project)
        if not data_file.is_file():
            problems.append(
                pipeline.field_error(
                    "data.path",
                    f"data file '{pipeline.data_path}' does not exist",
                    hint="paths are relative to the project root",
                )
            )
    if columns is not None:
        for field_name, column in [("data.target", pipeline.target)] + (
            [("data.id_column", pipeline.id_column)] if pipeline.id_column else []
        ):
            if column not in columns:
                problems.append(
                    pipeline.field_error(
                        field_name,
                        f"column '{column}' is not in the schema {pipeline.data_schema}",
                        hint=f"schema columns: {', '.join(sorted(columns))}",
                    )
                )
        for i, feature in enumerate(pipeline.drift.features if pipeline.drift else ()):
            if feature not in columns:
                problems.append(
                    pipeline.field_error(
                        f"drift.features[{i}]",
                        f"'{feature}' is not a column of the schema {pipeline.data_schema}",
                        hint=f"schema columns: {', '.join(sorted(columns))}",
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
        # Names as strings: sorting thousands of Path objects costs more than reading them.
        names = [p.name for p in models_dir.iterdir()] if models_dir.is_dir() else []
        for name in sorted(n for n in names if n.endswith(".yaml") and not n.startswith(".")):
            checked += 1
            problems += _collect(partial(specs.load_manifest, project, env_dir.name, name[:-5]))
    return problems, checked


def _collect(check: Callable[[], Any]) -> list[ModelopsError]:
    try:
        check()
    except ModelopsError as err:
        return [err]
    return []


@dataclass
class ValidateResult(CommandResult):
    """What `validate_project` checked: models, environment files, what it left unchecked."""

    @property
    def models(self) -> list[str]:
        return list(self.data["models"])


def validate_project(
    project: Project, models: Sequence[str] = (), *, run_imports: bool = False
) -> ValidateResult:
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
    index = SourceIndex(project.models_src)  # one parse per module, shared by all models
    unchecked: list[str] = []
    for model in models:
        problems += check_pipeline(
            project, model, run_imports=run_imports, index=index, unchecked=unchecked
        )
    env_problems, env_files = check_environments(project)
    problems += env_problems
    if problems:
        files = sorted({err.file or "?" for err in problems})
        raise SpecError(
            f"{len(problems)} problem(s) in {len(files)} file(s): {', '.join(files)}",
            hint="fix the problems listed above and run `modelops validate` again",
            details=[f"{err}" + (f" (hint: {err.hint})" if err.hint else "") for err in problems],
        )
    summary = [f"ok: {len(models)} pipeline spec(s) and {env_files} environment file(s) are valid"]
    summary += [f"note: not checked without --import: {line}" for line in unchecked]
    return ValidateResult(
        "validate",
        "project",
        {
            "models": models,
            "environment_files": env_files,
            "problems": [],
            "imports": run_imports,
            "unchecked": unchecked,
        },
        summary,
    )
