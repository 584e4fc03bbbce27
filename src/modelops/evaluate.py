"""`modelops evaluate`: the spec's metrics, absolute gates, and gates against the prod champion.

The challenger is the bundle `train` wrote, loaded only after its digest checks
out. The champion is the version `environments/prod/models/<model>.yaml` names,
downloaded from the registry and verified against the manifest's digest; both
are scored on the same test split. Without a prod manifest only the absolute
gates decide, and the result says so.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelops import bundle, registry
from modelops.data.profile import compare_training
from modelops.data.read import frame_digest, load_data
from modelops.data.split import split
from modelops.diagnostics import bootstrap_interval, diagnostics
from modelops.errors import GateFailure, InputError
from modelops.metrics import score_split
from modelops.project import Project
from modelops.results import CommandResult, read_result
from modelops.spec import HIGHER_IS_BETTER, Gate, PipelineSpec, load_manifest, load_pipeline

if TYPE_CHECKING:
    import pandas as pd


def _num(value: float) -> str:
    """A metric value or change in a gate message: 4 significant digits (0.012, 52.13)."""
    return f"{value:.4g}"


def check_gates(
    gates: tuple[Gate, ...], metrics: dict[str, float], champion: dict[str, float] | None
) -> list[dict[str, Any]]:
    """One row per bound: metric, kind (min, max, max_drop, max_rise), threshold, value,
    passed and a message; champion rows add the champion's value and the change.

    `max_drop` bounds how far a higher-is-better metric may fall below the champion's,
    `max_rise` how far a lower-is-better one (rmse, log loss) may climb above it.
    """
    rows: list[dict[str, Any]] = []
    for gate in gates:
        name = gate.metric
        value = metrics[gate.metric]
        if gate.min is not None:
            ok = value >= gate.min
            text = f"{name} {_num(value)} {'≥' if ok else 'is below'} min {_num(gate.min)}"
            rows.append(_row(name, "min", gate.min, value, ok, text))
        if gate.max is not None:
            ok = value <= gate.max
            text = f"{name} {_num(value)} {'≤' if ok else 'is above'} max {_num(gate.max)}"
            rows.append(_row(name, "max", gate.max, value, ok, text))
        for kind, limit in (("max_drop", gate.max_drop), ("max_rise", gate.max_rise)):
            if limit is None or champion is None or name not in champion:
                continue
            best = champion[name]
            change = round(value - best, 6)
            # Worsening in the metric's own direction: a drop of roc_auc, a rise of rmse.
            worse = -change if HIGHER_IS_BETTER.get(name, True) else change
            moved = "unchanged at" if change == 0 else ("rose" if change > 0 else "dropped")
            amount = "" if change == 0 else f" {_num(abs(change))} from"
            text = f"{name} {moved}{amount} the champion's {_num(best)}; {kind} {_num(limit)}"
            row = _row(name, kind, limit, value, worse <= limit + 1e-12, text)
            row.update(champion=best, change=change, worsening=round(worse, 6))
            rows.append(row)
    return rows


def _row(
    metric: str, kind: str, threshold: float, value: float, passed: bool, message: str
) -> dict[str, Any]:
    return {
        "metric": metric,
        "kind": kind,
        "threshold": threshold,
        "value": value,
        "passed": bool(passed),
        "message": message,
    }


def flag_noise(gates: list[dict[str, Any]], interval: dict[str, Any]) -> None:
    """Mark gates on the interval's metric whose bound lies inside it as `within_noise`.

    The bound is the threshold of min/max, and the champion's value moved by the
    allowed worsening for max_drop/max_rise: a resample of the test rows could have
    decided such a gate the other way.
    """
    low, high = interval.get("low"), interval.get("high")
    if low is None or high is None:
        return
    for gate in gates:
        if gate["metric"] != interval["metric"]:
            continue
        if gate["kind"] in ("min", "max"):
            bound = gate["threshold"]
        elif gate["kind"] == "max_drop":
            bound = gate["champion"] - gate["threshold"]
        else:
            bound = gate["champion"] + gate["threshold"]
        gate["bound"] = round(bound, 6)
        gate["within_noise"] = bool(low <= bound <= high)


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


def _champion(
    project: Project, spec: PipelineSpec, test: pd.DataFrame
) -> tuple[dict[str, Any] | None, pd.DataFrame | None, list[Any], str]:
    """Score the prod champion on the same split, or say why there is none.

    MODELOPS_SKIP_CHAMPION=<reason> skips the comparison and says so (a fork's
    pull request cannot read the shared registry; issue 10).
    """
    skip = os.environ.get("MODELOPS_SKIP_CHAMPION", "").strip()
    if skip:
        reason = f"champion comparison skipped: {skip[:200]}; the absolute gates alone decide"
        return None, None, [], reason
    manifest = load_manifest(project, "prod", spec.name)
    if manifest is None:
        return None, None, [], "no prod champion yet: the absolute gates alone decide"
    dest = project.state_dir / "champions" / spec.name / f"v{manifest.version}"
    if not dest.is_dir() or not _digest_ok(dest, manifest.sha256):
        registry.download_bundle(project, spec.name, manifest.version, dest)
    module, model, meta = bundle.load_verified(
        project, dest, manifest.sha256, entrypoint=spec.entrypoint
    )
    metrics, predictions = score_split(
        module, model, spec, test, list(meta["features"]), list(meta["classes"])
    )
    champion = {
        "version": manifest.version,
        "sha256": manifest.sha256,
        "metrics": metrics,
        "manifest": project.relative(project.root / manifest.path),
        "training": bundle.read_training(dest),
    }
    note = f"champion: prod runs version {manifest.version}"
    return champion, predictions, list(meta["classes"]), note


def _param_changes(
    champion: dict[str, Any] | None, challenger: dict[str, Any]
) -> list[dict[str, Any]] | None:
    """Params (and seed) whose value differs from the champion's; None when it recorded none."""
    if not champion or not isinstance(champion.get("params"), dict):
        return None
    before = {**champion["params"], "(seed)": champion.get("seed")}
    after = {**(challenger.get("params") or {}), "(seed)": challenger.get("seed")}
    missing = object()
    return [
        {"param": key, "champion": before.get(key), "challenger": after.get(key)}
        for key in sorted(set(before) | set(after), key=str)
        if before.get(key, missing) != after.get(key, missing)
    ]


def _digest_ok(directory: Path, expected: str) -> bool:
    from modelops.fsutil import tree_digest

    return tree_digest(directory) == expected


@dataclass
class EvaluateResult(CommandResult):
    """What `evaluate_model` found: metrics, champion, gate rows, `passed`, plot data."""

    @property
    def passed(self) -> bool:
        """Every gate passed (else `error` is the GateFailure and `exit_code` 1)."""
        return bool(self.data["passed"])

    @property
    def metrics(self) -> dict[str, float]:
        return dict(self.data["metrics"])

    @property
    def gates(self) -> list[dict[str, Any]]:
        return list(self.data["gates"])


def evaluate_model(project: Project, model: str) -> EvaluateResult:
    """Score MODEL's trained bundle, check every gate, compare with the prod champion."""
    spec = load_pipeline(project, model)
    trained = read_result(project, spec.name, "train", needed_by="evaluate")
    module, model, meta = bundle.load_verified(
        project, Path(trained["bundle"]), trained["sha256"], entrypoint=spec.entrypoint
    )
    frame, _ = load_data(project, spec)
    train, test = split(spec, frame)
    split_digest = frame_digest(test)
    if split_digest != trained.get("test_split_sha256"):
        raise InputError(
            "the test split differs from the one at training time (data or split changed)",
            file=project.relative(project.root / spec.path),
            field="data",
            hint=f"run `modelops train {spec.name}` again",
        )
    metrics, predictions = score_split(
        module, model, spec, test, list(meta["features"]), list(meta["classes"])
    )
    champion, champion_predictions, champion_classes, note = _champion(project, spec, test)
    gates = check_gates(spec.gates, metrics, champion["metrics"] if champion else None)
    classes = list(meta["classes"])
    y_true = test[spec.target]
    interval = bootstrap_interval(
        spec.task, spec.primary_metric, y_true, predictions, classes, spec.positive_class
    )
    flag_noise(gates, interval)
    plots = diagnostics(spec.task, y_true, predictions, classes, spec.positive_class)
    if champion is not None and champion_predictions is not None:
        edges = (plots.get("predicted_vs_actual") or {}).get("edges")
        champion["plots"] = diagnostics(
            spec.task,
            y_true,
            champion_predictions,
            champion_classes,
            spec.positive_class,
            regression_edges=edges,
        )
    training = bundle.read_training(Path(trained["bundle"]))
    changes = None
    if champion is not None and training is not None:
        changes = {
            "params": _param_changes(champion.get("training"), training),
            "data": compare_training(champion.get("training"), training, train),
        }
    failed = [g for g in gates if not g["passed"]]
    payload = {
        "model": spec.name,
        "run_id": trained["run_id"],
        "sha256": trained["sha256"],
        "task": spec.task,
        "positive_class": plots.get("positive_class"),
        "primary_metric": spec.primary_metric,
        "metrics": metrics,
        "interval": interval,
        "champion": champion,
        "champion_note": note,
        "changes": changes,
        "gates": gates,
        "passed": not failed,
        "split": {"test_rows": len(test), "test_split_sha256": split_digest},
        "plots": {**plots, "losses": _loss_curves(trained)},
    }
    primary = spec.primary_metric
    summary = [f"{spec.name}: {primary} {metrics[primary]:.4f} on {len(test)} test rows; {note}"]
    error = None
    if failed:
        listing = "; ".join(g["message"] for g in failed)
        error = GateFailure(
            f"{len(failed)} gate(s) failed: {listing}",
            file=project.relative(project.root / spec.path),
            field="evaluate.gates",
            hint="the model is not registered or promoted until its gates pass",
        )
    else:
        summary.append(f"  all {len(gates)} gate(s) passed")
    summary += [
        f"  {'✓' if g['passed'] else '✗'} {g['message']}"
        + (" (within noise)" if g.get("within_noise") else "")
        for g in gates
    ]
    return EvaluateResult(
        "evaluate", spec.name, payload, summary, exit_code=1 if failed else 0, error=error
    )
