"""`modelops train`: reproducible training logged to MLflow, producing a digest-pinned bundle.

One run records everything needed to repeat it: params, seed, data digest, git
commit, package versions and hardware as tags; the bundle (safe formats only) as
artifacts under `bundle/` with its tree digest as the tag `modelops.sha256`; an
MLflow signature and input example (as an `MLmodel` file, no pickled model).
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import json
import math
import os
import platform
import random
import shutil
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from modelops import __version__, bundle, registry
from modelops.checkpoints import CheckpointStore
from modelops.checkpoints import synced as checkpoints_synced
from modelops.data.profile import training_profile
from modelops.data.read import frame_digest, load_data
from modelops.data.split import split
from modelops.fsutil import sha256_file, tree_digest
from modelops.metrics import score_split
from modelops.modelapi import TrainContext, load_model_module
from modelops.project import Project
from modelops.results import CommandResult
from modelops.spec import PipelineSpec, load_pipeline

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient

TAG = registry.TAG_PREFIX
VERSIONED_PACKAGES = ("mlflow", "scikit-learn", "torch", "pandas", "numpy", "pandera", "skops")
SIGNATURE_ARTIFACT_PATH = "mlflow-model"


def sha256_json(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "modelops": __version__}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware() -> dict[str, Any]:
    """CPU model and cores, and the GPU when torch (already imported) sees one."""
    info: dict[str, Any] = {
        "cpu": cpu_model(),
        "cores": os.cpu_count() or 0,
        "platform": platform.platform(terse=True),
    }
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["gpu_count"] = torch.cuda.device_count()
    return info


def _uses_torch(spec: PipelineSpec, project: Project) -> bool:
    """Whether the model package imports torch (then torch's RNGs are seeded as well).

    Importing torch costs a second or two; a scikit-learn model should not pay it.
    """
    folder = spec.model_dir(project)
    files = folder.rglob("*.py") if folder.is_dir() else [folder.with_suffix(".py")]
    return any(
        "import torch" in f.read_text("utf-8", errors="replace") for f in files if f.is_file()
    )


def seed_everything(seed: int, *, with_torch: bool) -> None:
    """Seed python, numpy (and torch when the model uses it) before training."""
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)  # the legacy global RNG, which some libraries still read
    os.environ["PYTHONHASHSEED"] = str(seed)
    if with_torch:
        import torch

        torch.manual_seed(seed)
        if torch.cuda.is_available():
            torch.cuda.manual_seed_all(seed)


def features_of(module: ModuleType, spec: PipelineSpec, columns: list[str]) -> list[str]:
    """The model's input columns: its FEATURES, or every column but the target and id."""
    declared = getattr(module, "FEATURES", None)
    if declared:
        return list(declared)
    return [c for c in columns if c not in (spec.target, spec.id_column)]


def job_key(spec: PipelineSpec, data_sha256: str) -> str:
    """Names a training job: the same data and params resume the same checkpoints."""
    return f"{data_sha256[:16]}-{sha256_json({'params': spec.params, 'seed': spec.seed})[:16]}"


class _Timer:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(time.perf_counter() - start, 3)


def _source_tags(commit: str) -> dict[str, str]:
    """MLflow's own run tags, naming this project's commit.

    `mlflow.start_run` fills them from the git checkout of the running script, which
    is the toolkit's install (its commit, not the project's), and imports GitPython
    to do so; the run is created by the client with these instead.
    """
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no USER in a bare container
        user = "unknown"
    tags = {
        "mlflow.user": user,
        "mlflow.source.name": "modelops train",
        "mlflow.source.type": "LOCAL",
    }
    sha = commit.removesuffix("+dirty")
    if sha != "unknown":
        tags["mlflow.source.git.commit"] = sha  # modelops.commit says whether it was dirty
    return tags


def _log_batch(
    mc: MlflowClient,
    run_id: str,
    *,
    params: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
    metrics: dict[str, float] | None = None,
) -> None:
    """Params, tags and metrics (step 0) in one request."""
    from mlflow.entities import Metric, Param, RunTag

    now = int(time.time() * 1000)
    mc.log_batch(
        run_id,
        metrics=[Metric(k, float(v), now, 0) for k, v in (metrics or {}).items()],
        params=[Param(k, v) for k, v in (params or {}).items()],
        tags=[RunTag(k, v) for k, v in (tags or {}).items()],
    )


def _flat_params(params: dict[str, Any]) -> dict[str, str]:
    return {
        key: json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else str(value)
        for key, value in params.items()
    }


def _log_signature(
    mc: MlflowClient,
    run_id: str,
    module: ModuleType,
    model: Any,
    example: pd.DataFrame,
    scratch: Path,
) -> None:
    """Log an MLflow `MLmodel` holding the signature and input example, without the model.

    The model itself lives in `bundle/` in a safe format; MLflow's flavours would
    pickle it, so only the metadata MLflow tools read is written here.
    """
    from mlflow.models import Model, infer_signature

    predictions = module.predict(model, example)
    with warnings.catch_warnings():
        # MLflow's hint about integer columns and missing values is for its own
        # serving layer, which never reads these models; keep the CLI output clean.
        warnings.filterwarnings("ignore", message="Hint: Inferred schema", category=UserWarning)
        signature = infer_signature(example, predictions)
    folder = scratch / SIGNATURE_ARTIFACT_PATH
    folder.mkdir(parents=True)
    payload = json.loads(example.to_json(orient="split", index=False))
    (folder / "input_example.json").write_text(json.dumps(payload, sort_keys=True), "utf-8")
    Model(
        signature=signature,
        saved_input_example_info={
            "artifact_path": "input_example.json",
            "type": "dataframe",
            "pandas_orient": "split",
        },
        metadata={"modelops_bundle": "bundle/", "note": "model weights are in bundle/"},
    ).save(str(folder / "MLmodel"))
    mc.log_artifacts(run_id, str(folder), artifact_path=SIGNATURE_ARTIFACT_PATH)


def _up_to_date(project: Project, previous: dict[str, Any], identity: dict[str, str]) -> bool:
    """The last train.json is for this exact job and its bundle is still intact.

    A result without `curves` predates the test metrics on the run: train again.
    """
    if previous.get("identity") != identity or identity["commit"].endswith("+dirty"):
        return False
    if "curves" not in previous:
        return False
    bundle_dir = Path(previous.get("bundle", ""))
    return bundle_dir.is_dir() and tree_digest(bundle_dir) == previous.get("sha256")


@dataclass
class TrainResult(CommandResult):
    """What `train_model` did: the MLflow run, the bundle and its sha256, test metrics, timings.

    `reused` is true when an identical job had already run and nothing was trained.
    """

    @property
    def run_id(self) -> str:
        return str(self.data["run_id"])

    @property
    def bundle(self) -> Path:
        return Path(self.data["bundle"])

    @property
    def sha256(self) -> str:
        return str(self.data["sha256"])

    @property
    def reused(self) -> bool:
        return bool(self.data["reused"])


def train_model(
    project: Project,
    model: str,
    *,
    resume: bool = False,
    force: bool = False,
    checkpoint_store: str | None = None,
) -> TrainResult:
    """Train MODEL as its spec says and log the run; skip when the same job already ran.

    `force` trains even then; `resume` continues from the checkpoints of an
    interrupted run of the same job (torch models) instead of starting afresh.
    `checkpoint_store` (s3://bucket/prefix or an absolute folder) keeps this run's
    checkpoints there: pulled on `resume`, pushed while training and at the end.
    """
    timer = _Timer()
    if checkpoint_store:
        CheckpointStore(checkpoint_store)  # a bad URI fails before anything is written
    spec = load_pipeline(project, model)
    module = load_model_module(project, spec.entrypoint, file=spec.path)
    with timer("load_data"):
        frame, data_sha256 = load_data(project, spec)
    identity = {
        "commit": project.git_commit(),
        "data_sha256": data_sha256,
        "params_sha256": sha256_json(spec.params),
        "spec_sha256": sha256_file(project.root / spec.path),
    }
    result_path = project.results_dir(spec.name) / "train.json"
    if result_path.is_file() and not force:
        previous = json.loads(result_path.read_text("utf-8"))
        if _up_to_date(project, previous, identity):
            for key in ("command", "subject", "exit_code"):  # re-added by the CLI
                previous.pop(key, None)
            return TrainResult(
                "train",
                spec.name,
                {**previous, "reused": True},
                [
                    f"{spec.name}: up to date (run {previous['run_id']}, same commit, data, "
                    "params and spec); --force retrains"
                ],
            )

    with timer("split"):
        train_df, test_df = split(spec, frame)
    features = features_of(module, spec, list(frame.columns))
    # A regression model has no classes; a classifier's are the sorted training labels.
    classes = [] if spec.is_regression else sorted(train_df[spec.target].unique().tolist())
    with_torch = _uses_torch(spec, project)
    seed_everything(spec.seed, with_torch=with_torch)

    test_split_sha256 = frame_digest(test_df)
    job = job_key(spec, identity["data_sha256"])
    checkpoints = project.state_dir / "checkpoints" / spec.name / job
    if not resume and checkpoints.exists():
        shutil.rmtree(checkpoints)  # a fresh run starts from scratch; --resume keeps them

    with registry.mlflow_errors("log the training run"):
        experiment_id = registry.ensure_experiment(project, spec.name)
        mc = registry.client(project)
        run_id = mc.create_run(experiment_id, tags=_source_tags(identity["commit"])).info.run_id
    try:
        curves: dict[str, list[list[float]]] = {}
        pending: list[Any] = []  # MLflow's handles of metrics still being sent

        def log_metric(key: str, value: float, step: int) -> None:
            # Not synchronous: a training loop must not wait on the tracking server each
            # epoch. MLflow batches these on its own thread; they are awaited after training.
            pending.append(mc.log_metric(run_id, key, value, step=step, synchronous=False))
            curves.setdefault(key, []).append([int(step), round(float(value), 6)])

        context = TrainContext(
            seed=spec.seed,
            target=spec.target,
            device="auto",
            checkpoint_dir=checkpoints,
            log_metric=log_metric,
        )
        hw = hardware()
        versions = package_versions()
        with registry.mlflow_errors("log params and tags"):
            _log_batch(
                mc,
                run_id,
                params=_flat_params(spec.params),
                tags={
                    TAG + "data_sha256": identity["data_sha256"],
                    TAG + "commit": identity["commit"],
                    TAG + "seed": str(spec.seed),
                    TAG + "versions": json.dumps(versions, sort_keys=True),
                    TAG + "entrypoint": spec.entrypoint,
                    TAG + "spec_sha256": identity["spec_sha256"],
                    TAG + "test_split_sha256": test_split_sha256,
                },
            )
        # Spot checkpoints of this run in the store (modelops.checkpoints), when asked.
        with (
            timer("train"),
            checkpoints_synced(checkpoint_store, checkpoints, resume=resume),
        ):
            model = module.train(train_df[[*features, spec.target]], dict(spec.params), context)
        with registry.mlflow_errors("log the training curves"):
            for operation in pending:
                operation.wait()  # raises when MLflow could not record a metric
        hw = hardware()  # after training: torch is imported now if the model used it
        bundle_dir = project.state_dir / "bundles" / spec.name / run_id
        training = {
            "params": spec.params,
            "seed": spec.seed,
            "data_sha256": identity["data_sha256"],
            "profile": training_profile(
                train_df, features, spec.target, regression=spec.is_regression
            ),
        }
        example = train_df[features].head(5)
        with timer("bundle"):
            digest = bundle.write_bundle(
                bundle_dir,
                module=module,
                model=model,
                spec=spec,
                features=features,
                classes=classes,
                input_example=example,
                training=training,
            )
        with timer("test_metrics"):
            # Logged at training so every run carries them, including one whose gates fail
            # (never registered); `evaluate` scores the saved bundle again for the gates.
            test_metrics, _ = score_split(module, model, spec, test_df, features, classes)
        with timer("log_artifacts"), registry.mlflow_errors("upload the bundle"):
            mc.log_artifacts(run_id, str(bundle_dir), artifact_path=registry.BUNDLE_ARTIFACT_PATH)
            scratch = project.state_dir / "tmp" / run_id
            _log_signature(mc, run_id, module, model, example, scratch)
            shutil.rmtree(scratch, ignore_errors=True)
            _log_batch(
                mc,
                run_id,
                tags={
                    TAG + "sha256": digest,
                    TAG + "hardware": json.dumps(hw, sort_keys=True),
                    **{f"{TAG}fact.{k}": str(v) for k, v in context.facts.items()},
                },
                metrics={
                    **{f"test_{k}": v for k, v in test_metrics.items() if math.isfinite(v)},
                    **{f"time_{k}_s": v for k, v in timer.timings.items()},
                },
            )
            mc.set_terminated(run_id, "FINISHED")
    except BaseException:
        with contextlib.suppress(Exception):  # the original error is the one to report
            mc.set_terminated(run_id, "FAILED")
        raise

    device = context.facts.get("device", "cpu")
    payload = {
        "model": spec.name,
        "run_id": run_id,
        "experiment_id": experiment_id,
        "tracking_uri": project.tracking_uri(),
        "bundle": str(bundle_dir),
        "sha256": digest,
        "data_sha256": identity["data_sha256"],
        "commit": identity["commit"],
        "params": spec.params,
        "seed": spec.seed,
        "device": device,
        "facts": dict(context.facts),
        "hardware": hw,
        "versions": versions,
        "features": features,
        "classes": classes,
        "rows": {"train": len(train_df), "test": len(test_df)},
        "test_split_sha256": test_split_sha256,
        "test_metrics": test_metrics,
        "curves": curves,
        "checkpoint_dir": str(checkpoints),
        "timings": timer.timings,
        # Set on an ephemeral GPU runner by its boot script (from instance metadata).
        "compute": {
            "instance_type": os.environ.get("MODELOPS_INSTANCE_TYPE"),
            "market": os.environ.get("MODELOPS_INSTANCE_MARKET"),
            "region": os.environ.get("MODELOPS_INSTANCE_REGION"),
        },
        "identity": identity,
        "reused": False,
    }
    return TrainResult(
        "train",
        spec.name,
        payload,
        [
            f"{spec.name}: trained on {len(train_df)} rows ({device}) in "
            f"{timer.timings['train']:.1f}s; run {run_id}",
            f"  bundle {project.relative(bundle_dir)} sha256 {digest[:12]}",
        ],
    )
