"""The MLflow model registry: versions with their modelops tags, aliases, bundle download.

The tracking URI comes from `Project.tracking_uri()`: the embedded sqlite database
under `.modelops/` unless `MLFLOW_TRACKING_URI` names a server. MLflow failures
become `ServiceError` (exit 4); an unknown model or version is a `PromotionError`.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelops.errors import IntegrityError, ModelopsError, PromotionError, ServiceError
from modelops.project import Project
from modelops.results import CommandResult, read_result

if TYPE_CHECKING:
    from mlflow import MlflowClient

TAG_PREFIX = "modelops."
# Tags copied from the run onto each model version, so a version is self-describing.
VERSION_TAGS = ("sha256", "data_sha256", "commit", "seed", "hardware", "versions", "entrypoint")
BUNDLE_ARTIFACT_PATH = "bundle"
# Evaluation metrics logged on the training run at registration: what gates are checked on.
EVAL_METRIC_PREFIX = "modelops.eval."


@dataclass(frozen=True)
class VersionInfo:
    """One registered model version and the facts a manifest pins."""

    model: str
    version: int
    run_id: str
    source: str
    sha256: str
    data_sha256: str
    commit: str
    metrics: dict[str, float]
    created_at: str

    @property
    def model_uri(self) -> str:
        return f"models:/{self.model}/{self.version}"


def quiet_mlflow() -> None:
    """Keep CLI output to our own lines: MLflow and alembic log at INFO on every call."""
    for name in ("mlflow", "alembic", "alembic.runtime.migration"):
        logging.getLogger(name).setLevel(logging.WARNING)


def client(project: Project) -> MlflowClient:
    """An MLflow client for the project's tracking server (or embedded database)."""
    quiet_mlflow()
    # A dead server would otherwise be retried with back-off for minutes; fail in
    # seconds instead, unless the operator chose their own settings.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    from mlflow import MlflowClient

    uri = project.tracking_uri()
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def is_embedded(project: Project) -> bool:
    """True when tracking uses the sqlite database under `.modelops/` (no server)."""
    return not os.environ.get("MLFLOW_TRACKING_URI")


def experiment_name(model: str) -> str:
    return f"modelops/{model}"


def ensure_experiment(project: Project, model: str) -> str:
    """The id of the model's experiment, created on first use.

    Embedded, its artifacts go to `.modelops/mlartifacts` (MLflow's default would be
    `./mlruns` of whatever the working directory is); a server picks its own store.
    """
    with mlflow_errors("create the experiment"):
        mc = client(project)
        name = experiment_name(model)
        experiment = mc.get_experiment_by_name(name)
        if experiment is not None:
            return str(experiment.experiment_id)
        location = project.artifact_root() if is_embedded(project) else None
        return str(mc.create_experiment(name, artifact_location=location))


@contextmanager
def mlflow_errors(action: str) -> Iterator[None]:
    """Turn MLflow and network failures into ServiceError; let our own errors through."""
    try:
        yield
    except ModelopsError:
        raise
    except Exception as exc:
        from mlflow.exceptions import MlflowException

        if isinstance(exc, MlflowException | OSError) or "requests" in type(exc).__module__:
            detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ServiceError(
                f"MLflow failed to {action}: {detail}",
                hint="check MLFLOW_TRACKING_URI and that the tracking server is up",
            ) from None
        raise


def _not_found(exc: Exception) -> bool:
    from mlflow.exceptions import MlflowException

    if not isinstance(exc, MlflowException):
        return False
    # A missing alias is reported as an invalid parameter, not a missing resource.
    return exc.error_code == "RESOURCE_DOES_NOT_EXIST" or (
        exc.error_code == "INVALID_PARAMETER_VALUE" and "not found" in exc.message
    )


def _info(mc: MlflowClient, mv: Any) -> VersionInfo:
    tags: dict[str, str] = dict(mv.tags or {})
    metrics_json = tags.get(TAG_PREFIX + "metrics", "{}")
    try:
        metrics = {str(k): float(v) for k, v in json.loads(metrics_json).items()}
    except (ValueError, AttributeError):
        metrics = {}
    created = datetime.fromtimestamp(int(mv.creation_timestamp) / 1000, tz=UTC)
    return VersionInfo(
        model=mv.name,
        version=int(mv.version),
        run_id=mv.run_id or "",
        source=mv.source,
        sha256=tags.get(TAG_PREFIX + "sha256", ""),
        data_sha256=tags.get(TAG_PREFIX + "data_sha256", ""),
        commit=tags.get(TAG_PREFIX + "commit", ""),
        metrics=metrics,
        created_at=created.isoformat(timespec="seconds"),
    )


def _ensure_registered_model(mc: MlflowClient, model: str) -> None:
    try:
        mc.get_registered_model(model)
    except Exception as exc:
        if not _not_found(exc):
            raise
        mc.create_registered_model(model, tags={TAG_PREFIX + "managed": "true"})


def register_run(project: Project, model: str, run_id: str, *, tags: dict[str, str]) -> VersionInfo:
    """Register the run's `bundle/` as a version of `model`; the same run twice → same version."""
    with mlflow_errors(f"register run {run_id}"):
        mc = client(project)
        _ensure_registered_model(mc, model)
        for mv in mc.search_model_versions(f"name = '{model}' and run_id = '{run_id}'"):
            return _info(mc, mc.get_model_version(model, mv.version))
        run = mc.get_run(run_id)
        source = f"{run.info.artifact_uri.rstrip('/')}/{BUNDLE_ARTIFACT_PATH}"
        mv = mc.create_model_version(model, source, run_id=run_id, tags=tags)
        return _info(mc, mc.get_model_version(model, mv.version))


def get_version(project: Project, model: str, version: int) -> VersionInfo:
    with mlflow_errors(f"read {model} version {version}"):
        mc = client(project)
        try:
            mv = mc.get_model_version(model, str(version))
        except Exception as exc:
            if _not_found(exc):
                raise PromotionError(
                    f"model '{model}' has no version {version} in the registry",
                    hint=f"see the registered versions in MLflow ({project.tracking_uri()})",
                ) from None
            raise
        return _info(mc, mv)


def log_evaluation(project: Project, run_id: str, metrics: dict[str, float]) -> None:
    """Log the evaluation metrics on the run (once: a run's metric values are append-only).

    Gates are re-checked from these, never from the version's `modelops.metrics` tag,
    which anyone with write access to the registry can edit.
    """
    with mlflow_errors(f"log the evaluation metrics on run {run_id}"):
        mc = client(project)
        logged = mc.get_run(run_id).data.metrics
        for name, value in sorted(metrics.items()):
            if EVAL_METRIC_PREFIX + name not in logged:
                mc.log_metric(run_id, EVAL_METRIC_PREFIX + name, float(value), step=0)


def run_evaluation(project: Project, model: str, version: int, run_id: str) -> dict[str, float]:
    """The evaluation metrics logged on the version's run, each logged exactly once.

    A metric with a second value (logged later, to rewrite it) is refused: the first
    value is what evaluate measured, and the run says it was changed.
    """
    where = f"models:/{model}/{version} (run {run_id})"
    with mlflow_errors(f"read the metrics of {where}"):
        mc = client(project)
        try:
            logged = mc.get_run(run_id).data.metrics
        except Exception as exc:
            if _not_found(exc):
                raise PromotionError(
                    f"the run of {where} is not in the tracking store",
                    hint="gates are checked on the run's logged metrics",
                ) from None
            raise
        metrics = {}
        for key in sorted(k for k in logged if k.startswith(EVAL_METRIC_PREFIX)):
            history = mc.get_metric_history(run_id, key)
            if len(history) != 1:
                raise IntegrityError(
                    f"{key} was logged more than once on the run of {where} "
                    f"({len(history)} values): the evaluation was rewritten",
                    field=key,
                    hint="register a freshly trained and evaluated run",
                )
            metrics[key[len(EVAL_METRIC_PREFIX) :]] = float(history[0].value)
    return metrics


def require_digest(
    project: Project, model: str, version: int, expected: str, *, file: str, pinned_by: str
) -> VersionInfo:
    """The registry version, refusing it when its recorded sha256 is not the pinned one.

    A manifest pins a digest; the registry records one at registration. If they differ,
    one of them was altered, and nothing may be promoted or deployed from it.
    """
    info = get_version(project, model, version)
    if info.sha256 != expected:
        raise IntegrityError(
            f"{info.model_uri} is recorded with sha256 {info.sha256[:12]}… in the registry, "
            f"but {pinned_by} pins {expected[:12]}…",
            file=file,
            field="sha256",
            hint="the manifest or the registry version was altered; nothing was changed",
        )
    return info


def list_versions(project: Project, model: str) -> list[VersionInfo]:
    """All versions of `model`, oldest first; empty when it was never registered."""
    with mlflow_errors(f"list versions of {model}"):
        mc = client(project)
        found = mc.search_model_versions(f"name = '{model}'")
        return sorted((_info(mc, mv) for mv in found), key=lambda v: v.version)


def latest_version(project: Project, model: str) -> VersionInfo | None:
    versions = list_versions(project, model)
    return versions[-1] if versions else None


def get_alias(project: Project, model: str, alias: str) -> int | None:
    with mlflow_errors(f"read alias {alias} of {model}"):
        mc = client(project)
        try:
            return int(mc.get_model_version_by_alias(model, alias).version)
        except Exception as exc:
            if _not_found(exc):
                return None
            raise


def all_aliases(project: Project) -> dict[str, dict[str, int]]:
    """Every registered model's aliases in one batched read: {model: {alias: version}}.

    `status` and `deploy` compare every model with git; asking per model would be one
    request each. MlflowClient.search_registered_models returns each model with its
    aliases, 1000 models a page.
    """
    with mlflow_errors("read the registry aliases"):
        mc = client(project)
        aliases: dict[str, dict[str, int]] = {}
        token: str | None = None
        while True:
            page = mc.search_registered_models(max_results=1000, page_token=token)
            for rm in page:
                aliases[rm.name] = {a: int(v) for a, v in (rm.aliases or {}).items()}
            token = page.token
            if not token:
                return aliases


def set_alias(project: Project, model: str, alias: str, version: int) -> None:
    with mlflow_errors(f"point alias {alias} of {model} at version {version}"):
        client(project).set_registered_model_alias(model, alias, str(version))


def delete_alias(project: Project, model: str, alias: str) -> None:
    """Remove an alias; removing one that is not set is not an error (reconcile is idempotent)."""
    with mlflow_errors(f"delete alias {alias} of {model}"):
        try:
            client(project).delete_registered_model_alias(model, alias)
        except Exception as exc:
            if not _not_found(exc):
                raise


def download_bundle(project: Project, model: str, version: int, dest: Path) -> Path:
    """Download the version's `bundle/` artifacts into `dest` (created); return `dest`.

    The copy is not verified here: callers check it with `bundle.verify` against the
    digest they trust (the manifest's), not the one the registry reports.
    """
    info = get_version(project, model, version)
    with mlflow_errors(f"download {model} version {version}"):
        import mlflow.artifacts

        dest.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".download.") as tmp:
            uri = project.tracking_uri()
            if info.run_id:
                got = mlflow.artifacts.download_artifacts(
                    run_id=info.run_id,
                    artifact_path=BUNDLE_ARTIFACT_PATH,
                    dst_path=tmp,
                    tracking_uri=uri,
                )
            else:
                got = mlflow.artifacts.download_artifacts(
                    artifact_uri=info.source, dst_path=tmp, tracking_uri=uri
                )
            if dest.exists():
                shutil.rmtree(dest)
            Path(got).replace(dest)
    return dest


# -- modelops register ----------------------------------------------------


@dataclass
class RegisterResult(CommandResult):
    """The model version `register_model` registered (or found already registered)."""

    @property
    def version(self) -> int:
        return int(self.data["version"])

    @property
    def created(self) -> bool:
        return bool(self.data["created"])


def register_model(project: Project, model: str) -> RegisterResult:
    """Register the evaluated run as a new model version (refused unless every gate passed)."""
    from modelops.spec import load_pipeline

    spec = load_pipeline(project, model)
    train = read_result(project, model, "train", needed_by="register")
    evaluation = read_result(project, model, "evaluate", needed_by="register")
    eval_file = project.relative(project.results_dir(model) / "evaluate.json")
    if evaluation.get("run_id") != train.get("run_id"):
        raise PromotionError(
            f"evaluate.json is for run {evaluation.get('run_id')}, "
            f"but the last training run is {train.get('run_id')}",
            file=eval_file,
            field="run_id",
            hint=f"run `modelops evaluate {model}` on the new run first",
        )
    failed = [g for g in evaluation.get("gates", []) if not g.get("passed")]
    if failed or evaluation.get("exit_code", 0) != 0:
        names = ", ".join(f"{g['metric']} {g['kind']}" for g in failed) or "see the file"
        raise PromotionError(
            f"refusing to register: gates failed ({names})",
            file=eval_file,
            field="gates",
            hint="a model that fails its gates is not registered",
        )
    run_tags = _run_tags(project, train["run_id"])
    tags = {key: run_tags[key] for key in (TAG_PREFIX + k for k in VERSION_TAGS) if key in run_tags}
    tags[TAG_PREFIX + "metrics"] = json.dumps(evaluation.get("metrics", {}), sort_keys=True)
    tags[TAG_PREFIX + "spec"] = project.relative(project.root / spec.path)
    log_evaluation(project, train["run_id"], dict(evaluation.get("metrics", {})))
    before = {v.version for v in list_versions(project, model)}
    info = register_run(project, model, train["run_id"], tags=tags)
    created = info.version not in before
    verb = "registered" if created else "already registered as"
    return RegisterResult(
        command="register",
        subject=model,
        data={
            "model": model,
            "version": info.version,
            "model_uri": info.model_uri,
            "run_id": info.run_id,
            "source": info.source,
            "sha256": info.sha256,
            "data_sha256": info.data_sha256,
            "commit": info.commit,
            "metrics": info.metrics,
            "created": created,
            "created_at": info.created_at,
        },
        summary=[f"{model}: {verb} {info.model_uri} (sha256 {info.sha256[:12]})"],
    )


def _run_tags(project: Project, run_id: str) -> dict[str, str]:
    with mlflow_errors(f"read run {run_id}"):
        try:
            return dict(client(project).get_run(run_id).data.tags)
        except Exception as exc:
            if _not_found(exc):
                raise PromotionError(
                    f"run {run_id} is not in the tracking store",
                    hint="was it trained against another MLFLOW_TRACKING_URI?",
                ) from None
            raise
