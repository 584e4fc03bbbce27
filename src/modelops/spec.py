"""Pipeline specs, environment files and manifests: JSON Schemas and typed views of them.

Every loader validates against a schema shipped in `modelops/schemas/` and
raises one `SpecError` naming the file and the dotted path of each bad field
(all of them in `SpecError.problems`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from modelops.errors import InputError, PromotionError, SpecError
from modelops.fsutil import read_yaml
from modelops.project import Project
from modelops.schemaversion import check_schema_version

# The pipeline schema's `name` pattern: also what CLI and library calls accept as a model.
MODEL_NAME = re.compile(r"[a-z][a-z0-9_-]{0,62}")

HIGHER_IS_BETTER = {
    "roc_auc": True,
    "accuracy": True,
    "f1": True,
    "precision": True,
    "recall": True,
    "log_loss": False,
    "brier": False,
    "rmse": False,
    "mae": False,
    "r2": True,
    "mape": False,
}
REGRESSION_METRICS = frozenset({"rmse", "mae", "r2", "mape"})
CLASSIFICATION_METRICS = frozenset(HIGHER_IS_BETTER) - REGRESSION_METRICS
# The champion gate that bounds a metric's worsening: a drop where higher is better,
# a rise where lower is better (rmse going up is worse).
WORSENING_GATE = {name: "max_drop" if up else "max_rise" for name, up in HIGHER_IS_BETTER.items()}


@cache
def load_schema(name: str) -> dict[str, Any]:
    """A JSON Schema shipped with the package, e.g. `pipeline`, `environment`, `manifest`."""
    text = resources.files("modelops.schemas").joinpath(f"{name}.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def schema_path(name: str) -> Path:
    """Filesystem path of a shipped schema, for editors (yaml-language-server)."""
    return Path(str(resources.files("modelops.schemas").joinpath(f"{name}.schema.json")))


def _dotted(path: Any) -> str:
    parts = [str(p) if not isinstance(p, int) else f"[{p}]" for p in path]
    return ".".join(parts).replace(".[", "[") or "(top level)"


@cache
def _validator(schema_name: str) -> Any:
    """The compiled validator of a shipped schema: built once per process, not once per file.

    No format checker: the shipped schemas constrain strings with `pattern`, which
    the validator always applies, so `format` stays an annotation as by default.
    """
    from jsonschema import Draft202012Validator

    return Draft202012Validator(load_schema(schema_name))


def raise_all(problems: list[SpecError]) -> None:
    """Raise the problems of one file as one error (the first), carrying all of them."""
    if not problems:
        return
    first = problems[0]
    message = first.message
    if len(problems) > 1:
        message += f" (and {len(problems) - 1} more problem(s); `modelops validate` lists all)"
    raise SpecError(message, file=first.file, field=first.field, hint=first.hint, problems=problems)


def _schema_problem(error: Any, schema_name: str, file: Path) -> SpecError:
    where = list(error.absolute_path)
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        where = [*where, missing]
        message = "required field is missing"
    elif error.validator == "additionalProperties":
        message = f"unknown field: {error.message}"
    else:
        message = error.message
    return SpecError(
        message,
        file=file,
        field=_dotted(where),
        hint=f"see the {schema_name} schema: {schema_path(schema_name)}",
    )


def validate_document(document: Any, schema_name: str, file: Path) -> dict[str, Any]:
    """Check `document` against a shipped schema; raise one SpecError carrying every problem.

    The problems are sorted by field path (`SpecError.problems`); the error itself
    is the first of them.
    """
    if not isinstance(document, dict):
        kind = "empty" if document is None else type(document).__name__
        raise SpecError(
            f"expected a mapping at the top level, found {kind}",
            file=file,
            hint=f"see the {schema_name} schema: {schema_path(schema_name)}",
        )
    # A newer format may rename or add fields: refuse it whole, before "unknown field".
    check_schema_version(document, file, schema_name)
    errors = _validator(schema_name).iter_errors(document)
    problems = [_schema_problem(e, schema_name, file) for e in errors]
    raise_all(sorted(problems, key=lambda p: (p.field or "", p.message)))
    return document


# -- pipeline specs --------------------------------------------------------


@dataclass(frozen=True)
class Gate:
    metric: str
    min: float | None = None
    max: float | None = None
    max_drop: float | None = None
    max_rise: float | None = None


@dataclass(frozen=True)
class Compute:
    type: str = "cpu"
    instance_types: tuple[str, ...] = ()
    spot: bool = True
    on_demand_fallback: bool = True
    max_minutes: int = 60
    max_cost_usd: float | None = None


@dataclass(frozen=True)
class DriftSpec:
    features: tuple[str, ...]
    test: str = "psi"
    threshold: float = 0.2
    min_drifted_features: int = 1
    schedule: str | None = None


@dataclass(frozen=True)
class MonitorSpec:
    """The spec's `monitor` section: windows, the rows a window needs, allowed drops."""

    max_drop: dict[str, float]
    window: str = "7d"
    min_rows: int = 100
    max_label_delay: str | None = None
    schedule: str | None = None


@dataclass(frozen=True)
class PipelineSpec:
    """A validated `pipelines/<model>.yaml`."""

    name: str
    owner: str
    path: Path
    raw: dict[str, Any]
    data_path: str
    data_schema: str
    target: str
    entrypoint: str
    task: str
    metrics: tuple[str, ...]
    primary_metric: str
    gates: tuple[Gate, ...]
    data_sha256: str | None = None
    id_column: str | None = None
    test_fraction: float = 0.2
    split_seed: int = 0
    stratify: bool = True
    params: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    compute: Compute = field(default_factory=Compute)
    drift: DriftSpec | None = None
    monitor: MonitorSpec | None = None
    paths: tuple[str, ...] = ()
    description: str = ""
    # Binary tasks: the positive label as written in the spec (None: the last sorted label).
    positive_class: Any = None

    @property
    def is_regression(self) -> bool:
        return self.task == "regression"

    @property
    def is_remote_data(self) -> bool:
        return self.data_path.startswith("s3://")

    def data_file(self, project: Project) -> Path:
        return project.root / self.data_path

    def model_dir(self, project: Project) -> Path:
        """The model's code folder, from its entrypoint (`models.churn` → src/models/churn)."""
        return project.models_src.joinpath(*self.entrypoint.split("."))

    def field_error(self, field_name: str, message: str, hint: str | None = None) -> SpecError:
        return SpecError(message, file=self.path, field=field_name, hint=hint)


def _relative(project: Project, path: Path) -> Path:
    """`path` relative to the project root, for messages: lexically, as git names it."""
    if path.is_relative_to(project.root):
        return path.relative_to(project.root)
    return Path(project.relative(path))


def cron_problem(expr: str) -> str | None:
    """Why `expr` is not a five-field cron expression (cronsim's words), or None."""
    from cronsim import CronSim, CronSimError

    try:
        CronSim(expr, datetime(2026, 1, 1, tzinfo=UTC))
    except (CronSimError, ValueError) as exc:
        return str(exc) or type(exc).__name__
    return None


def list_models(project: Project) -> list[str]:
    """Model names, from `pipelines/*.yaml`, sorted."""
    if not project.pipelines_dir.is_dir():
        return []
    return sorted(p.stem for p in project.pipelines_dir.glob("*.yaml"))


def check_model_name(model: str) -> str:
    """`model` if it is a valid model name; an InputError otherwise (never a path piece)."""
    if not MODEL_NAME.fullmatch(model):
        raise InputError(
            f"invalid model name {model!r}",
            field="MODEL",
            hint="lowercase letters, digits, '-' and '_', starting with a letter",
        )
    return model


def load_pipeline(project: Project, model: str) -> PipelineSpec:
    """Load and validate `pipelines/<model>.yaml` (shape and internal consistency)."""
    check_model_name(model)
    path = project.pipeline_path(model)
    if not path.is_file():
        known = ", ".join(list_models(project)) or "none"
        raise InputError(
            f"unknown model '{model}'",
            file=project.relative(path),
            hint=f"known models: {known}",
        )
    rel = _relative(project, path)
    try:
        document = read_yaml(path, what="pipeline spec")
    except InputError as exc:  # name the file as the other spec errors do: project-relative
        exc.file = str(rel)
        raise
    doc = validate_document(document, "pipeline", rel)
    return _pipeline_from_doc(doc, rel)


def _pipeline_from_doc(doc: dict[str, Any], path: Path) -> PipelineSpec:
    problems: list[SpecError] = []
    name = doc["name"]
    if name != path.stem:
        problems.append(
            SpecError(
                f"name '{name}' differs from the file name '{path.stem}'",
                file=path,
                field="name",
                hint="rename the file or the model so that both agree",
            )
        )
    data, train, evaluate = doc["data"], doc["train"], doc["evaluate"]
    metrics = tuple(evaluate["metrics"])
    primary = evaluate["primary_metric"]
    if primary not in metrics:
        problems.append(
            SpecError(
                f"primary metric '{primary}' is not one of the metrics {list(metrics)}",
                file=path,
                field="evaluate.primary_metric",
            )
        )
    task = evaluate["task"]
    allowed = REGRESSION_METRICS if task == "regression" else CLASSIFICATION_METRICS
    for i, metric in enumerate(metrics):
        if metric not in allowed:
            problems.append(
                SpecError(
                    f"metric '{metric}' does not apply to the task '{task}'",
                    file=path,
                    field=f"evaluate.metrics[{i}]",
                    hint=f"{task} metrics: {', '.join(sorted(allowed))}",
                )
            )
    if "positive_class" in evaluate and task != "binary_classification":
        problems.append(
            SpecError(
                f"positive_class applies to binary_classification only, not '{task}'",
                file=path,
                field="evaluate.positive_class",
            )
        )
    gates = []
    for metric, bounds in (evaluate.get("gates") or {}).items():
        if metric not in metrics:
            problems.append(
                SpecError(
                    f"gate on '{metric}', which is not computed",
                    file=path,
                    field=f"evaluate.gates.{metric}",
                    hint=f"add it to evaluate.metrics {list(metrics)} or remove the gate",
                )
            )
        right = WORSENING_GATE.get(metric)
        for wrong in ("max_drop", "max_rise"):
            if wrong in bounds and right is not None and wrong != right:
                direction = "higher" if right == "max_drop" else "lower"
                problems.append(
                    SpecError(
                        f"{metric} is better {direction}, so its worsening against the "
                        f"champion is bounded by {right}, not {wrong}",
                        file=path,
                        field=f"evaluate.gates.{metric}.{wrong}",
                        hint=f"write {metric}: {{{right}: {bounds[wrong]}}}",
                    )
                )
        gates.append(
            Gate(
                metric,
                bounds.get("min"),
                bounds.get("max"),
                bounds.get("max_drop"),
                bounds.get("max_rise"),
            )
        )
    if data["path"].startswith("s3://") and "sha256" not in data:
        problems.append(
            SpecError(
                "remote data must be pinned by digest",
                file=path,
                field="data.sha256",
                hint="add the sha256 of the object so training is reproducible",
            )
        )
    split = data.get("split") or {}
    if task == "regression" and split.get("stratify"):
        problems.append(
            SpecError(
                "a regression target is continuous: the split cannot be stratified on it",
                file=path,
                field="data.split.stratify",
                hint="remove data.split.stratify (regression splits are not stratified)",
            )
        )
    compute_doc = train.get("compute") or {"type": "cpu"}
    compute = Compute(
        type=compute_doc["type"],
        instance_types=tuple(compute_doc.get("instance_types", ())),
        spot=compute_doc.get("spot", True),
        on_demand_fallback=compute_doc.get("on_demand_fallback", True),
        max_minutes=compute_doc.get("max_minutes", 60),
        max_cost_usd=compute_doc.get("max_cost_usd"),
    )
    if compute.type == "gpu" and not compute.instance_types:
        problems.append(
            SpecError(
                "a GPU job needs at least one instance type",
                file=path,
                field="train.compute.instance_types",
                hint="e.g. [g5.xlarge, g4dn.xlarge]",
            )
        )
    monitor = None
    if "monitor" in doc:
        m = doc["monitor"]
        for metric in m["max_drop"]:
            if metric not in metrics:
                problems.append(
                    SpecError(
                        f"monitor gate on '{metric}', which is not computed",
                        file=path,
                        field=f"monitor.max_drop.{metric}",
                        hint=f"use one of evaluate.metrics {list(metrics)}",
                    )
                )
        if not data.get("id_column"):
            problems.append(
                SpecError(
                    "monitoring joins predictions with labels by id, but there is no id column",
                    file=path,
                    field="data.id_column",
                    hint="name the column that identifies a row",
                )
            )
        monitor = MonitorSpec(
            max_drop={str(k): float(v) for k, v in m["max_drop"].items()},
            window=m.get("window", "7d"),
            min_rows=m.get("min_rows", 100),
            max_label_delay=m.get("max_label_delay"),
            schedule=m.get("schedule"),
        )
    for section in ("drift", "monitor"):
        cron = (doc.get(section) or {}).get("schedule")
        if cron is not None and (bad := cron_problem(str(cron))) is not None:
            problems.append(
                SpecError(
                    f"'{cron}' is not a cron expression ({bad})",
                    file=path,
                    field=f"{section}.schedule",
                    hint="five fields in UTC, e.g. '0 7 * * *' (daily at 07:00)",
                )
            )
    raise_all(problems)
    drift = None
    if "drift" in doc:
        d = doc["drift"]
        drift = DriftSpec(
            features=tuple(d["features"]),
            test=d.get("test", "psi"),
            threshold=d.get("threshold", 0.2 if d.get("test", "psi") == "psi" else 0.1),
            min_drifted_features=d.get("min_drifted_features", 1),
            schedule=d.get("schedule"),
        )
    return PipelineSpec(
        name=name,
        owner=doc["owner"],
        path=path,
        raw=doc,
        data_path=data["path"],
        data_schema=data["schema"],
        target=data["target"],
        data_sha256=data.get("sha256"),
        id_column=data.get("id_column"),
        test_fraction=split.get("test_fraction", 0.2),
        split_seed=split.get("seed", 0),
        stratify=split.get("stratify", task != "regression"),
        entrypoint=train["entrypoint"],
        params=dict(train.get("params") or {}),
        seed=train.get("seed", 0),
        compute=compute,
        task=task,
        positive_class=evaluate.get("positive_class"),
        metrics=metrics,
        primary_metric=primary,
        gates=tuple(gates),
        drift=drift,
        monitor=monitor,
        paths=tuple(doc.get("paths", ())),
        description=doc.get("description", ""),
    )


# -- environments and manifests -------------------------------------------


@dataclass(frozen=True)
class EnvironmentSpec:
    """A validated `environments/<env>/environment.yaml`."""

    name: str
    path: Path
    store: str | None = None
    alias: str = ""
    auto_promote: bool = False
    require_gates: bool = True
    approvers: tuple[str, ...] = ()


def load_environment(project: Project, env: str) -> EnvironmentSpec:
    path = project.environment_dir(env) / "environment.yaml"
    rel = _relative(project, path)
    if not path.is_file():
        raise InputError(
            f"unknown environment '{env}'",
            file=rel,
            hint="environments are folders under environments/ with an environment.yaml",
        )
    doc = validate_document(read_yaml(path, what="environment file"), "environment", rel)
    if doc["name"] != env:
        raise SpecError(
            f"name '{doc['name']}' differs from the folder name '{env}'", file=rel, field="name"
        )
    serving = doc.get("serving") or {}
    policy = doc.get("policy") or {}
    return EnvironmentSpec(
        name=env,
        path=rel,
        store=serving.get("store"),
        alias=serving.get("alias", env),
        auto_promote=policy.get("auto_promote", False),
        require_gates=policy.get("require_gates", True),
        approvers=tuple(policy.get("approvers", ())),
    )


@dataclass(frozen=True)
class Manifest:
    """A validated `environments/<env>/models/<model>.yaml`: desired state, digest-pinned."""

    env: str
    path: Path
    model: str
    version: int
    sha256: str
    raw: dict[str, Any]

    @property
    def hold(self) -> dict[str, Any] | None:
        hold: dict[str, Any] | None = self.raw.get("hold")
        return hold


def parse_manifest(doc: Any, *, env: str, model: str, file: Path) -> Manifest:
    """Validate a manifest document (from disk or from a git revision)."""
    doc = validate_document(doc, "manifest", file)
    if doc["model"] != model:
        raise SpecError(
            f"model '{doc['model']}' differs from the file name '{model}'", file=file, field="model"
        )
    expected_uri = f"models:/{model}/{doc['version']}"
    if doc["model_uri"] != expected_uri:
        raise SpecError(
            f"model_uri '{doc['model_uri']}' does not match version {doc['version']}",
            file=file,
            field="model_uri",
            hint=f"expected {expected_uri}",
        )
    return Manifest(
        env=env, path=file, model=model, version=doc["version"], sha256=doc["sha256"], raw=doc
    )


def load_manifest(project: Project, env: str, model: str) -> Manifest | None:
    """The manifest of `model` in `env`, or None when the environment does not run it."""
    path = project.manifest_path(env, model)
    if not path.is_file():
        return None
    rel = _relative(project, path)
    return parse_manifest(read_yaml(path, what="manifest"), env=env, model=model, file=rel)


def require_manifest(project: Project, env: str, model: str, *, why: str) -> Manifest:
    """The manifest of `model` in `env`; a PromotionError saying `why` it is needed if none."""
    manifest = load_manifest(project, env, model)
    if manifest is None:
        raise PromotionError(
            f"'{env}' does not run '{model}'; {why}",
            file=project.relative(project.manifest_path(env, model)),
            hint=f"promote {model} into {env} first",
        )
    return manifest


def list_manifests(project: Project, env: str) -> list[Manifest]:
    folder = project.environment_dir(env) / "models"
    manifests = []
    for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        manifest = load_manifest(project, env, path.stem)
        if manifest is not None:
            manifests.append(manifest)
    return manifests
