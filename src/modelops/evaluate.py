"""`modelops evaluate`: the spec's metrics, absolute gates, and gates against the prod champion.

The challenger is the bundle `train` wrote, loaded only after its digest checks
out. The champion is the version `environments/prod/models/<model>.yaml` names,
downloaded from the registry and verified against the manifest's digest; both
are scored on the same test split. Without a prod manifest only the absolute
gates decide, and the result says so.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from modelops import bundle, registry
from modelops.errors import GateFailure, InputError
from modelops.project import Project
from modelops.results import CommandResult, read_result
from modelops.spec import HIGHER_IS_BETTER, Gate, PipelineSpec, load_manifest, load_pipeline

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

ROC_POINTS = 101  # enough for a smooth curve, small enough for a JSON result


def probabilities(predictions: pd.DataFrame, classes: list[Any]) -> np.ndarray:
    """The `proba_<label>` columns in class order, as an (n, k) array."""
    missing = [f"proba_{c}" for c in classes if f"proba_{c}" not in predictions.columns]
    if missing:
        raise InputError(
            f"predict() returned no column(s) {missing}",
            field="predict",
            hint="predict returns `prediction` and one `proba_<label>` column per class",
        )
    proba: np.ndarray = predictions[[f"proba_{c}" for c in classes]].to_numpy(dtype="float64")
    return proba


def compute_metrics(
    task: str,
    names: tuple[str, ...],
    y_true: pd.Series,
    predictions: pd.DataFrame,
    classes: list[Any],
) -> dict[str, float]:
    """The named metrics; binary tasks treat the last (sorted) class as positive."""
    import numpy as np
    from sklearn import metrics as skm

    proba = probabilities(predictions, classes)
    y_pred = predictions["prediction"].to_numpy()
    y = y_true.to_numpy()
    binary = task == "binary_classification"
    positive = classes[-1]
    average = "binary" if binary else "macro"
    kwargs: dict[str, Any] = {"pos_label": positive} if binary else {"labels": classes}
    out: dict[str, float] = {}
    for name in names:
        if name == "accuracy":
            value = skm.accuracy_score(y, y_pred)
        elif name == "roc_auc":
            value = (
                skm.roc_auc_score(y == positive, proba[:, -1])
                if binary
                else skm.roc_auc_score(y, proba, multi_class="ovr", labels=classes)
            )
        elif name in ("f1", "precision", "recall"):
            fn = {"f1": skm.f1_score, "precision": skm.precision_score, "recall": skm.recall_score}[
                name
            ]
            value = fn(y, y_pred, average=average, zero_division=0, **kwargs)
        elif name == "log_loss":
            value = skm.log_loss(y, np.clip(proba, 1e-15, 1.0), labels=classes)
        elif name == "brier":
            onehot = (y[:, None] == np.asarray(classes)[None, :]).astype("float64")
            value = (
                float(np.mean((proba[:, -1] - onehot[:, -1]) ** 2))
                if binary
                else float(np.mean(np.sum((proba - onehot) ** 2, axis=1)))
            )
        else:  # the schema's enum keeps this unreachable
            raise InputError(f"unknown metric '{name}'", field="evaluate.metrics")
        out[name] = round(float(value), 6)
    return out


def check_gates(
    gates: tuple[Gate, ...], metrics: dict[str, float], champion: dict[str, float] | None
) -> list[dict[str, Any]]:
    """One row per bound: metric, kind (min, max, max_drop), threshold, value, passed."""
    rows: list[dict[str, Any]] = []
    for gate in gates:
        value = metrics[gate.metric]
        if gate.min is not None:
            rows.append(_row(gate.metric, "min", gate.min, value, value >= gate.min))
        if gate.max is not None:
            rows.append(_row(gate.metric, "max", gate.max, value, value <= gate.max))
        if gate.max_drop is not None and champion is not None and gate.metric in champion:
            best = champion[gate.metric]
            # A drop is a worsening in the metric's own direction (log loss going up).
            drop = best - value if HIGHER_IS_BETTER.get(gate.metric, True) else value - best
            row = _row(gate.metric, "max_drop", gate.max_drop, value, drop <= gate.max_drop + 1e-12)
            row.update(champion=best, drop=round(drop, 6))
            rows.append(row)
    return rows


def _row(metric: str, kind: str, threshold: float, value: float, passed: bool) -> dict[str, Any]:
    return {
        "metric": metric,
        "kind": kind,
        "threshold": threshold,
        "value": value,
        "passed": bool(passed),
    }


def _plot_data(
    spec: PipelineSpec, y_true: pd.Series, predictions: pd.DataFrame, classes: list[Any]
) -> dict[str, Any]:
    """What the report draws: confusion-matrix counts and ROC points (binary or micro-OvR)."""
    import numpy as np
    from sklearn.metrics import confusion_matrix, roc_curve

    y = y_true.to_numpy()
    counts = confusion_matrix(y, predictions["prediction"].to_numpy(), labels=classes)
    proba = probabilities(predictions, classes)
    if spec.task == "binary_classification":
        fpr, tpr, _ = roc_curve(y == classes[-1], proba[:, -1])
        kind = f"positive class {classes[-1]}"
    else:
        onehot = (y[:, None] == np.asarray(classes)[None, :]).ravel()
        fpr, tpr, _ = roc_curve(onehot, proba.ravel())
        kind = "micro-average one-vs-rest"
    grid = np.linspace(0.0, 1.0, ROC_POINTS)
    return {
        "labels": [str(c) for c in classes],
        "confusion_matrix": counts.tolist(),
        "roc": {
            "kind": kind,
            "fpr": [round(float(v), 6) for v in grid],
            "tpr": [round(float(v), 6) for v in np.interp(grid, fpr, tpr)],
        },
    }


def _loss_curves(trained: dict[str, Any]) -> dict[str, list[list[float]]]:
    """Per-step loss metrics the model logged during training (empty for one-shot fits).

    `train` keeps every logged curve in train.json, so no MLflow client is opened here.
    """
    curves = trained.get("curves") or {}
    return {
        key: sorted(points, key=lambda point: point[0])
        for key, points in sorted(curves.items())
        if "loss" in key and not key.startswith("test_") and len(points) > 1
    }


def _score(
    module: ModuleType, model: Any, meta: dict[str, Any], spec: PipelineSpec, test: pd.DataFrame
) -> tuple[dict[str, float], pd.DataFrame]:
    predictions = module.predict(model, test[meta["features"]])
    classes = list(meta["classes"])
    return compute_metrics(spec.task, spec.metrics, test[spec.target], predictions, classes), (
        predictions
    )


def _champion(
    project: Project, spec: PipelineSpec, test: pd.DataFrame
) -> tuple[dict[str, Any] | None, str]:
    """Score the prod champion on the same split, or say why there is none.

    MODELOPS_SKIP_CHAMPION=<reason> skips the comparison and says so (a fork's
    pull request cannot read the shared registry; issue 10).
    """
    skip = os.environ.get("MODELOPS_SKIP_CHAMPION", "").strip()
    if skip:
        return None, f"champion comparison skipped: {skip[:200]}; the absolute gates alone decide"
    manifest = load_manifest(project, "prod", spec.name)
    if manifest is None:
        return None, "no prod champion yet: the absolute gates alone decide"
    dest = project.state_dir / "champions" / spec.name / f"v{manifest.version}"
    if not dest.is_dir() or not _digest_ok(dest, manifest.sha256):
        registry.download_bundle(project, spec.name, manifest.version, dest)
    module, model, meta = bundle.load_verified(project, dest, manifest.sha256)
    metrics, _ = _score(module, model, meta, spec, test)
    champion = {
        "version": manifest.version,
        "sha256": manifest.sha256,
        "metrics": metrics,
        "manifest": project.relative(project.root / manifest.path),
    }
    return champion, f"champion: prod runs version {manifest.version}"


def _digest_ok(directory: Path, expected: str) -> bool:
    from modelops.fsutil import tree_digest

    return tree_digest(directory) == expected


def cli_evaluate(project: Project, args: argparse.Namespace) -> CommandResult:
    """Score the trained bundle, check every gate, compare with the prod champion."""
    from modelops import data
    from modelops.train import frame_digest, load_data

    spec = load_pipeline(project, args.model)
    trained = read_result(project, spec.name, "train", needed_by="evaluate")
    module, model, meta = bundle.load_verified(project, Path(trained["bundle"]), trained["sha256"])
    frame, _ = load_data(project, spec)
    _, test = data.split(spec, frame)
    split_digest = frame_digest(test)
    if split_digest != trained.get("test_split_sha256"):
        raise InputError(
            "the test split differs from the one at training time (data or split changed)",
            file=project.relative(project.root / spec.path),
            field="data",
            hint=f"run `modelops train {spec.name}` again",
        )
    metrics, predictions = _score(module, model, meta, spec, test)
    champion, note = _champion(project, spec, test)
    gates = check_gates(spec.gates, metrics, champion["metrics"] if champion else None)
    failed = [g for g in gates if not g["passed"]]
    payload = {
        "model": spec.name,
        "run_id": trained["run_id"],
        "sha256": trained["sha256"],
        "task": spec.task,
        "primary_metric": spec.primary_metric,
        "metrics": metrics,
        "champion": champion,
        "champion_note": note,
        "gates": gates,
        "passed": not failed,
        "split": {"test_rows": len(test), "test_split_sha256": split_digest},
        "plots": {
            **_plot_data(spec, test[spec.target], predictions, list(meta["classes"])),
            "losses": _loss_curves(trained),
        },
    }
    primary = spec.primary_metric
    summary = [f"{spec.name}: {primary} {metrics[primary]:.4f} on {len(test)} test rows; {note}"]
    error = None
    if failed:
        listing = "; ".join(
            f"{g['metric']} {g['kind']} {g['threshold']} (got {g['value']:.4f})" for g in failed
        )
        error = GateFailure(
            f"{len(failed)} gate(s) failed: {listing}",
            file=project.relative(project.root / spec.path),
            field="evaluate.gates",
            hint="the model is not registered or promoted until its gates pass",
        )
    else:
        summary.append(f"  all {len(gates)} gate(s) passed")
    return CommandResult(
        "evaluate", spec.name, payload, summary, exit_code=1 if failed else 0, error=error
    )
