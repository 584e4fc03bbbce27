"""The MLflow model registry: versions with their modelops tags, aliases, bundle download.

The tracking URI comes from `Project.tracking_uri()`: the embedded sqlite database
under `.modelops/` unless `MLFLOW_TRACKING_URI` names a server. MLflow failures
become `ServiceError` (exit 4); an unknown model or version is a `PromotionError`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import warnings
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
# The MLflow pyfunc model of a registered run (train writes the signature there first).
MLFLOW_MODEL_ARTIFACT_PATH = "mlflow-model"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_REQUIREMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_REQUIREMENT_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+!_-]*$")
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


def register_run(
    project: Project,
    model: str,
    run_id: str,
    *,
    tags: dict[str, str],
    entrypoint: str | None = None,
    mlflow_model: bool = True,
) -> VersionInfo:
    """Register the run as a version of `model`; the same run twice → same version.

    With `mlflow_model` (the default) the run's bundle is first logged as an MLflow
    pyfunc model under `mlflow-model/` (see `log_mlflow_model`; `entrypoint`, the
    spec's `train.entrypoint`, is then required) and the version's source is that
    model, so MLflow's own loader can use it. Without it the source is the bare
    `bundle/` (how versions were registered before; the toolkit reads both).
    """
    with mlflow_errors(f"register run {run_id}"):
        mc = client(project)
        for mv in mc.search_model_versions(f"name = '{model}' and run_id = '{run_id}'"):
            return _info(mc, mc.get_model_version(model, mv.version))
        run = mc.get_run(run_id)
        artifact_path = BUNDLE_ARTIFACT_PATH
        if mlflow_model:
            if not entrypoint:
                raise PromotionError(
                    f"no entrypoint given to log run {run_id} as an MLflow model",
                    field="train.entrypoint",
                    hint="pass the spec's train.entrypoint",
                )
            log_mlflow_model(
                project, model, run_id, tags.get(TAG_PREFIX + "sha256", ""), entrypoint=entrypoint
            )
            artifact_path = MLFLOW_MODEL_ARTIFACT_PATH
        source = f"{run.info.artifact_uri.rstrip('/')}/{artifact_path}"
        _ensure_registered_model(mc, model)  # after the checks: a refusal leaves no model
        mv = mc.create_model_version(model, source, run_id=run_id, tags=tags)
        return _info(mc, mc.get_model_version(model, mv.version))


def _pip_requirements(run_tags: dict[str, str]) -> list[str]:
    """`name==version` for the packages the run recorded in `modelops.versions` (validated)."""
    try:
        versions = json.loads(run_tags.get(TAG_PREFIX + "versions", "{}"))
    except ValueError:
        return []
    if not isinstance(versions, dict):
        return []
    return sorted(
        f"{name}=={version}"
        for name, version in versions.items()
        if isinstance(name, str)
        and name != "python"  # recorded beside the packages; python_env.yaml pins it
        and isinstance(version, str)
        and _REQUIREMENT_NAME.fullmatch(name)
        and _REQUIREMENT_VERSION.fullmatch(version)
    )


def log_mlflow_model(
    project: Project, model: str, run_id: str, sha256: str, *, entrypoint: str
) -> str:
    """Log the run's bundle as an MLflow pyfunc model under `mlflow-model/`; return its URI.

    The bundle is downloaded from the run and verified against `sha256` (the digest
    the version will carry); a bundle naming another module than `entrypoint` (the
    spec's `train.entrypoint`) is refused before anything is imported, as
    `bundle.load_verified` does; the MLmodel records that entrypoint and the loader
    refuses a bundle naming another. It is loaded once through `modelops.mlflow_loader` to derive
    the output signature from the bundle's own input example, and saved by
    `mlflow.pyfunc.save_model` with that loader module and the bundle as its data:
    no pickle, no code in the artifact. It replaces the metadata-only `MLmodel` that
    `train` wrote there.
    """
    import mlflow.artifacts
    import mlflow.pyfunc
    from mlflow.models import infer_signature

    from modelops import mlflow_loader
    from modelops.bundle import read_meta, verify
    from modelops.modelapi import load_model_module

    if not _SHA256.fullmatch(sha256):
        raise PromotionError(
            f"run {run_id} has no bundle digest to register",
            field=TAG_PREFIX + "sha256",
            hint="register runs logged by `modelops train`",
        )
    mc = client(project)
    run_tags = dict(mc.get_run(run_id).data.tags)
    with tempfile.TemporaryDirectory(prefix="modelops-mlflow-model-") as tmp:
        got = mlflow.artifacts.download_artifacts(
            run_id=run_id,
            artifact_path=BUNDLE_ARTIFACT_PATH,
            dst_path=str(Path(tmp) / "download"),
            tracking_uri=project.tracking_uri(),
        )
        bundle_dir = Path(tmp) / mlflow_loader.BUNDLE_DATA_NAME
        Path(got).replace(bundle_dir)
        verify(bundle_dir, sha256, source=f"run {run_id}")
        mlflow_loader.check_entrypoint(read_meta(bundle_dir), entrypoint, file=bundle_dir)
        # The team's package from this project's src/ (as `modelops train` imported it).
        load_model_module(project, entrypoint, file=bundle_dir)
        loaded = mlflow_loader.load_bundle(
            bundle_dir, sha256, artifact_root=bundle_dir, entrypoint=entrypoint
        )
        example = loaded.input_example(bundle_dir)
        with warnings.catch_warnings():
            # MLflow's hint about integer columns that may hold missing values.
            warnings.filterwarnings("ignore", message="Hint: Inferred schema", category=UserWarning)
            signature = infer_signature(example, loaded.predict(example))
        folder = Path(tmp) / MLFLOW_MODEL_ARTIFACT_PATH
        mlflow.pyfunc.save_model(
            str(folder),
            loader_module=mlflow_loader.LOADER_MODULE,
            data_path=str(bundle_dir),
            signature=signature,
            input_example=example,
            pip_requirements=_pip_requirements(run_tags),
            metadata={
                mlflow_loader.METADATA_KEY: {
                    "sha256": sha256,
                    "model": model,
                    "entrypoint": entrypoint,
                    "run_id": run_id,
                }
            },
        )
        mc.log_artifacts(run_id, str(folder), artifact_path=MLFLOW_MODEL_ARTIFACT_PATH)
    return f"runs:/{run_id}/{MLFLOW_MODEL_ARTIFACT_PATH}"


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
    info = register_run(project, model, train["run_id"], tags=tags, entrypoint=spec.entrypoint)
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
