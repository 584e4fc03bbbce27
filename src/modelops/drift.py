"""Drift: compare recent data with the training data of the version an environment runs.

The reference is the spec's data file, accepted only if its sha256 equals the
`data_sha256` recorded for the version (otherwise the comparison would be against
data the model never saw). When the checkout's file has changed since (new data
merged but not yet in that environment), the file is read as it was at the
manifest's `source_commit`, and accepted on the same digest check.
Per feature, the spec's `drift.test`:

- `psi` (population stability index): numeric features in deciles of the
  reference, categorical features by category frequency; drift when PSI > threshold;
- `ks`: numeric features by the two-sample Kolmogorov–Smirnov statistic (scipy);
  categorical features by the largest absolute difference of category frequencies,
  the same statistic for a distribution without an order.

Missing values are their own test, for every feature and either test: the share of
missing values in the recent data against the reference's. A feature whose missing
rate moves by more than `MISSING_RATE_SHIFT` (absolute, e.g. 0 % → 60 %, or a
feature that arrives all null) has drifted, whatever its statistic on the values
that are present says.

Drift is found when at least `min_drifted_features` features cross the threshold;
the command then writes its report and exits 3.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelops.errors import DataError, InputError, PromotionError
from modelops.fsutil import atomic_write_text, sha256_file
from modelops.project import Project
from modelops.results import CommandResult
from modelops.spec import DriftSpec, load_pipeline, require_manifest

BINS = 10
# Empty bins would make PSI infinite; this floor is the customary one.
EPSILON = 1e-4
# A feature drifts when its share of missing values moves by more than this (absolute).
MISSING_RATE_SHIFT = 0.1


def missing_rate(column: Any) -> float:
    """The share of missing values in a column (1.0 for an empty column)."""
    return float(column.isna().mean()) if len(column) else 1.0


def _psi(expected: list[float], actual: list[float]) -> float:
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        e, a = max(e, EPSILON), max(a, EPSILON)
        total += (a - e) * math.log(a / e)
    return total


def numeric_psi(reference: Any, recent: Any) -> float:
    """PSI over the reference's quantile bins (open-ended outer bins catch new ranges)."""
    import numpy as np

    ref = reference.dropna().to_numpy(dtype=float)
    new = recent.dropna().to_numpy(dtype=float)
    if len(ref) == 0 or len(new) == 0:
        return 0.0
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, BINS + 1))[1:-1])
    expected = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=len(edges) + 1)
    actual = np.bincount(np.searchsorted(edges, new, side="right"), minlength=len(edges) + 1)
    return _psi(list(expected / len(ref)), list(actual / len(new)))


def _frequencies(reference: Any, recent: Any) -> tuple[list[float], list[float]]:
    ref = reference.astype("string").fillna("<missing>").value_counts(normalize=True)
    new = recent.astype("string").fillna("<missing>").value_counts(normalize=True)
    categories = sorted(set(ref.index) | set(new.index))
    return (
        [float(ref.get(c, 0.0)) for c in categories],
        [float(new.get(c, 0.0)) for c in categories],
    )


def categorical_psi(reference: Any, recent: Any) -> float:
    expected, actual = _frequencies(reference, recent)
    return _psi(expected, actual)


def numeric_ks(reference: Any, recent: Any) -> float:
    from scipy.stats import ks_2samp

    ref, new = reference.dropna(), recent.dropna()
    if len(ref) == 0 or len(new) == 0:
        return 0.0
    return float(ks_2samp(ref.to_numpy(dtype=float), new.to_numpy(dtype=float)).statistic)


def categorical_distance(reference: Any, recent: Any) -> float:
    expected, actual = _frequencies(reference, recent)
    return max(abs(e - a) for e, a in zip(expected, actual, strict=True))


def compare(reference: Any, recent: Any, drift: DriftSpec) -> list[dict[str, Any]]:
    """One row per feature: the statistic, the threshold and whether it drifted."""
    import pandas as pd

    rows = []
    for feature in drift.features:
        ref, new = reference[feature], recent[feature]
        numeric = pd.api.types.is_numeric_dtype(ref) and pd.api.types.is_numeric_dtype(new)
        if drift.test == "ks":
            value = numeric_ks(ref, new) if numeric else categorical_distance(ref, new)
            method = "ks" if numeric else "max frequency difference"
        else:
            value = numeric_psi(ref, new) if numeric else categorical_psi(ref, new)
            method = "psi (deciles)" if numeric else "psi (categories)"
        value = float(value)  # numpy scalars are not JSON
        missing = {"reference": round(missing_rate(ref), 6), "recent": round(missing_rate(new), 6)}
        missing_drift = abs(missing["recent"] - missing["reference"]) > MISSING_RATE_SHIFT
        rows.append(
            {
                "feature": feature,
                "kind": "numeric" if numeric else "categorical",
                "method": method,
                "statistic": round(value, 6),
                "threshold": drift.threshold,
                "missing_rate": missing,
                "missing_drift": missing_drift,
                "drifted": bool(value > drift.threshold) or missing_drift,
            }
        )
    return rows


def _read(path: Path, columns: list[str], what: str) -> Any:
    import pandas as pd

    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise InputError(
            f"unsupported {what} format '{suffix}'", file=path, hint=".csv or .parquet"
        )
    if not path.is_file():
        raise InputError(f"{what} not found", file=path)
    try:
        if suffix == ".csv":
            header = list(pd.read_csv(path, nrows=0).columns)
        else:
            import pyarrow.parquet as pq

            header = pq.read_schema(path).names
        missing = [c for c in columns if c not in header]
        if missing:
            raise DataError(
                f"{what} lacks the drift feature(s) {missing}",
                file=path,
                field=missing[0],
                hint="drift.features in the spec name the columns compared",
            )
        if suffix == ".csv":
            return pd.read_csv(path, usecols=columns)
        return pd.read_parquet(path, columns=columns)
    except (ValueError, OSError) as exc:
        raise DataError(f"cannot read {what}: {str(exc).splitlines()[0]}", file=path) from None


def _read_all(path: Path, what: str) -> Any:
    import pandas as pd

    try:
        if path.suffix.lower() == ".csv":
            return pd.read_csv(path)
        return pd.read_parquet(path)
    except (ValueError, OSError) as exc:
        raise DataError(f"cannot read {what}: {str(exc).splitlines()[0]}", file=path) from None


def prediction_drift(
    project: Project,
    model: str,
    env: str,
    reference_path: Path,
    source: Path,
    drift: DriftSpec,
    *,
    entrypoint: str,
) -> dict[str, Any]:
    """Drift of the model's output: the bundle ENV serves scores the training data and the
    recent data, and their `prediction` columns are compared with the spec's test.

    A regression model's predictions are numbers; a classifier's are labels (categories).
    Skipped, with the reason, when ENV serves no bundle or the input lacks a model feature.
    """
    import tempfile

    from modelops.bundle import load_verified
    from modelops.serve import live_entry

    try:
        store, entry = live_entry(project, model, env)
    except PromotionError as exc:
        return {"skipped": f"no live bundle to score with ({exc.message})"}
    with tempfile.TemporaryDirectory(prefix="modelops-drift-") as tmp:
        bundle_dir = store.fetch_bundle(model, entry["sha256"], Path(tmp))
        module, fitted, meta = load_verified(
            project, bundle_dir, entry["sha256"], entrypoint=entrypoint
        )
        features = list(meta["features"])
        reference = _read_all(reference_path, "training data")
        recent = _read_all(source, "input")
        missing = [f for f in features if f not in recent.columns]
        if missing:
            return {"skipped": f"the input lacks model feature(s) {missing[:5]}"}
        before = module.predict(fitted, reference[features])["prediction"]
        after = module.predict(fitted, recent[features])["prediction"]
    (row,) = compare(
        before.to_frame("prediction"),
        after.to_frame("prediction"),
        DriftSpec(features=("prediction",), test=drift.test, threshold=drift.threshold),
    )
    row["version"] = entry["version"]
    return row


def render_markdown(report: dict[str, Any]) -> str:
    head = "⚠️ drift detected" if report["drift"] else "✅ no drift"
    lines = [
        f"# Drift: {report['model']} in {report['env']} (v{report['version']})",
        "",
        f"{head}: {report['drifted']} of {len(report['features'])} feature(s) past the "
        f"threshold (drift when ≥ {report['min_drifted_features']}).",
        "",
        f"Reference: `{report['reference']}` (sha256 {report['reference_sha256'][:12]}, "
        f"{report['reference_rows']} rows). Recent: `{report['input']}` "
        f"({report['input_rows']} rows).",
        "",
        "| feature | kind | test | statistic | threshold | missing (ref → recent) | drifted |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in report["features"]:
        miss = row.get("missing_rate") or {"reference": 0.0, "recent": 0.0}
        lines.append(
            f"| {row['feature']} | {row['kind']} | {row['method']} | {row['statistic']:.4f} "
            f"| {row['threshold']} | {miss['reference']:.1%} → {miss['recent']:.1%}"
            f"{' **shift**' if row.get('missing_drift') else ''} "
            f"| {'**yes**' if row['drifted'] else 'no'} |"
        )
    prediction = report.get("prediction") or {}
    if "statistic" in prediction:
        lines += [
            "",
            f"Predictions of the live v{prediction['version']} on the training data and on the "
            f"recent data ({prediction['kind']}, {prediction['method']}): "
            f"{prediction['statistic']:.4f} against {prediction['threshold']}: "
            + ("**drifted**." if prediction["drifted"] else "no drift."),
        ]
    elif prediction.get("skipped"):
        lines += ["", f"Prediction drift not measured: {prediction['skipped']}."]
    return "\n".join(lines) + "\n"


def reference_at_commit(
    project: Project, data_path: str, commit: str, expected: str, dest: Path
) -> Path | None:
    """The data file as it was at `commit`, written under `dest`, if its sha256 is `expected`."""
    commit = commit.removesuffix("+dirty")
    if not re.fullmatch(r"[0-9a-f]{7,40}", commit) or data_path.startswith(("/", "..")):
        return None
    proc = subprocess.run(
        ["git", "cat-file", "blob", f"{commit}:{data_path}"],
        cwd=project.root,
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        return None
    path = dest / Path(data_path).name
    path.write_bytes(proc.stdout)
    return path if sha256_file(path) == expected else None


def check_drift(project: Project, model: str, env: str, source: Path) -> dict[str, Any]:
    spec = load_pipeline(project, model)
    if spec.drift is None:
        raise InputError(
            "the spec has no drift section",
            file=spec.path,
            field="drift",
            hint="add drift.features (and test, threshold) to the spec",
        )
    manifest = require_manifest(project, env, model, why="nothing to compare against")
    if spec.is_remote_data:
        raise InputError(
            "drift needs the training data locally",
            file=spec.path,
            field="data.path",
            hint="download the pinned object into the checkout first",
        )
    reference_path = spec.data_file(project)
    expected = manifest.raw["data_sha256"]
    source_commit = str(manifest.raw.get("source_commit", ""))
    label = project.relative(reference_path)
    features = list(spec.drift.features)
    actual = sha256_file(reference_path) if reference_path.is_file() else None
    with tempfile.TemporaryDirectory(prefix="modelops-drift-") as tmp:
        if actual != expected:
            # The checkout's file changed since: the reference is the file at source_commit.
            pinned = reference_at_commit(
                project, spec.data_path, source_commit, expected, Path(tmp)
            )
            if pinned is None:
                if actual is None:
                    raise InputError("training data not found", file=spec.path, field="data.path")
                raise DataError(
                    f"the training data changed since v{manifest.version} was trained "
                    f"(sha256 {actual[:12]}, the version recorded {expected[:12]}), and "
                    f"commit {source_commit[:12] or '?'} does not hold the recorded file",
                    file=label,
                    field="data_sha256",
                    hint=f"fetch the history of commit {source_commit[:12] or '?'} "
                    "(actions/checkout with fetch-depth: 0) or retrain",
                )
            reference_path, actual = pinned, expected
            label = f"{label}@{source_commit.removesuffix('+dirty')[:12]}"
        reference = _read(reference_path, features, "training data")
        recent = _read(source, features, "input")
        if len(recent) == 0:
            raise DataError("input has no rows", file=source)
        rows = compare(reference, recent, spec.drift)
        drifted = sum(1 for r in rows if r["drifted"])
        prediction = prediction_drift(
            project, model, env, reference_path, source, spec.drift, entrypoint=spec.entrypoint
        )
    return {
        "model": model,
        "env": env,
        "version": manifest.version,
        "test": spec.drift.test,
        "reference": label,
        "reference_sha256": actual,
        "reference_rows": len(reference),
        "input": str(source),
        "input_rows": len(recent),
        "features": rows,
        "drifted": drifted,
        "min_drifted_features": spec.drift.min_drifted_features,
        "prediction": prediction,
        # Drift: enough inputs moved, or the model's output did.
        "drift": drifted >= spec.drift.min_drifted_features or bool(prediction.get("drifted")),
    }


@dataclass
class DriftResult(CommandResult):
    """What `drift_report` found: per-feature statistics, `drift`, and the report path."""

    @property
    def drift(self) -> bool:
        return bool(self.data["drift"])


def drift_report(project: Project, model: str, env: str, recent: Path) -> DriftResult:
    """Compare `recent` data with MODEL's training reference in ENV and write the drift report.

    Drift is not an error: the result's `drift` is true and its `exit_code` 3.
    """
    report = check_drift(project, model, env, recent)
    folder = project.state_dir / "reports" / model
    md_path = folder / f"drift-{env}.md"
    json_path = folder / f"drift-{env}.json"
    atomic_write_text(json_path, json.dumps(report, indent=2, sort_keys=True) + "\n")
    atomic_write_text(md_path, render_markdown(report))
    report["report"] = project.relative(md_path)
    worst = sorted(report["features"], key=lambda r: -r["statistic"])
    summary = [
        f"{model} in {env}: "
        + ("drift detected" if report["drift"] else "no drift")
        + f" ({report['drifted']}/{len(worst)} feature(s) past {worst[0]['threshold']})",
        *(
            f"  {r['feature']:<20} {r['method']:<26} {r['statistic']:.4f}"
            + (
                f"  missing {r['missing_rate']['reference']:.0%}"
                f" → {r['missing_rate']['recent']:.0%}"
                if r["missing_drift"]
                else ""
            )
            + ("  DRIFT" if r["drifted"] else "")
            for r in worst
        ),
        *(
            [
                f"  {'(prediction)':<20} {report['prediction']['method']:<26} "
                f"{report['prediction']['statistic']:.4f}"
                + ("  DRIFT" if report["prediction"]["drifted"] else "")
            ]
            if "statistic" in report["prediction"]
            else [f"  prediction drift not measured: {report['prediction'].get('skipped')}"]
        ),
        f"report: {report['report']}",
    ]
    return DriftResult(
        command="drift",
        subject=model,
        data=report,
        summary=summary,
        exit_code=3 if report["drift"] else 0,
    )


def shifted_copy(project: Project, model: str, dest: Path) -> Path:
    """The model's data with every drift feature shifted (the demo's "recent" data).

    Numeric features move up by one standard deviation; categorical ones have each
    value replaced by the next category, so frequencies change but values stay valid.
    """
    import pandas as pd

    spec = load_pipeline(project, model)
    if spec.drift is None:
        raise InputError("the spec has no drift section", file=spec.path, field="drift")
    frame = pd.read_csv(spec.data_file(project)).drop(columns=[spec.target])
    for feature in spec.drift.features:
        column = frame[feature]
        if pd.api.types.is_numeric_dtype(column):
            shifted = column + column.std()
            frame[feature] = shifted.round() if pd.api.types.is_integer_dtype(column) else shifted
            frame[feature] = frame[feature].astype(column.dtype)
        else:
            categories = sorted(column.dropna().unique())
            following = dict(zip(categories, categories[1:] + categories[:1], strict=True))
            frame[feature] = column.map(following)
    dest.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(dest, index=False)
    return dest
