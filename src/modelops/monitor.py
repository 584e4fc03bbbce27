"""`modelops monitor`: how the deployed model performs, from ground-truth labels that came later.

`modelops predict` writes, per row, the spec's id column, `prediction`, one
`proba_<label>` per class (none for `evaluate.task: regression`), `model_version`,
`model_sha256` and `scored_at`. Labels
arrive later as a file with the id column, the target column and, optionally,
`labelled_at`. This joins them on the id, keeps the rows the environment's version
scored (by version and bundle digest), groups them into windows of scoring time
(`monitor.window`), computes the spec's metrics per window and compares them with
the metrics recorded at promotion (the manifest). A window with at least
`monitor.min_rows` labelled rows whose metric is worse than at promotion by more
than `monitor.max_drop` crosses the gate: the report is written and the command
exits 3. "Worse" follows the metric: a fall of accuracy or r2, a rise of log_loss,
brier, rmse, mae or mape.

Nothing is dropped silently: rows scored by other versions, ids scored twice,
ids labelled twice (and with conflicting labels), scored rows still without a
label, labels without a scored row, label values the model does not know, and
labels that came late (after `monitor.max_label_delay`) or before scoring are all
counted in the report. For a regression model a label value that is not a finite
number is the "unknown" one.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelops.errors import DataError, InputError
from modelops.fsutil import atomic_write_text
from modelops.project import Project
from modelops.results import CommandResult
from modelops.serve import SCORED_AT_COLUMN, SHA256_COLUMN, VERSION_COLUMN
from modelops.spec import (
    HIGHER_IS_BETTER,
    MonitorSpec,
    PipelineSpec,
    load_pipeline,
    require_manifest,
)

if TYPE_CHECKING:
    import pandas as pd

LABELLED_AT_COLUMN = "labelled_at"
PROBA_PREFIX = "proba_"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_EXAMPLES = 5


def duration(text: str) -> pd.Timedelta:
    """`24h` or `7d` (the schema's pattern) as a Timedelta."""
    import pandas as pd

    amount, unit = int(text[:-1]), text[-1]
    return pd.Timedelta(hours=amount) if unit == "h" else pd.Timedelta(days=amount)


def _read(path: Path, what: str) -> pd.DataFrame:
    import pandas as pd

    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise InputError(
            f"unsupported {what} format '{suffix or '(none)'}'",
            file=path,
            hint="use .csv or .parquet",
        )
    if not path.is_file():
        raise InputError(f"{what} file not found", file=path)
    try:
        return pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"cannot read the {what} file: {detail}", file=path) from None


def _require(frame: pd.DataFrame, columns: list[str], *, file: Path, what: str, hint: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(
            f"{what} lack the column(s) {missing}", file=file, field=missing[0], hint=hint
        )


def _first_bad_row(mask: pd.Series) -> int:
    """1-based data row of the first True in `mask` (the header is not counted)."""
    return int(mask.to_numpy().nonzero()[0][0]) + 1


def _times(frame: pd.DataFrame, column: str, *, file: Path) -> pd.Series:
    """An ISO 8601 column as UTC timestamps; an unparseable or empty value is bad input."""
    import pandas as pd

    parsed = pd.to_datetime(frame[column], utc=True, errors="coerce", format="ISO8601")
    bad = parsed.isna()
    if bad.any():
        row = _first_bad_row(bad)
        raise DataError(
            f"data row {row}: {frame[column].iloc[row - 1]!r} is not an ISO 8601 time",
            file=file,
            field=column,
            hint="times are written like 2026-01-31T12:00:00+00:00",
        )
    return parsed


def _check_ids(frame: pd.DataFrame, column: str, *, file: Path) -> None:
    missing = frame[column].isna()
    if missing.any():
        raise DataError(
            f"data row {_first_bad_row(missing)} has no id",
            file=file,
            field=column,
            hint="every row needs its id to be joined",
        )


def _kind(series: pd.Series) -> str:
    import pandas as pd

    return "numeric" if pd.api.types.is_numeric_dtype(series) else "text"


def _numeric_predictions(frame: pd.DataFrame, *, file: Path) -> pd.Series:
    """A regression model's `prediction` column as floats; anything else is bad input."""
    import numpy as np
    import pandas as pd

    values = pd.to_numeric(frame["prediction"], errors="coerce")
    bad = values.isna() | ~np.isfinite(values.to_numpy(dtype=float, na_value=np.nan))
    if bad.any():
        row = _first_bad_row(bad)
        raise DataError(
            f"data row {row}: prediction {frame['prediction'].iloc[row - 1]!r} is not a number",
            file=file,
            field="prediction",
            hint="the spec's task is regression: predictions are numbers",
        )
    return values.astype("float64")


def read_predictions(paths: list[Path], spec: PipelineSpec) -> tuple[pd.DataFrame, list[str]]:
    """Every predictions file, checked and concatenated; and the class labels (proba columns).

    A regression model's predictions have no proba columns: its class list is empty.
    """
    import pandas as pd

    assert spec.id_column is not None  # the spec loader requires it with a monitor section
    needed = [spec.id_column, "prediction", VERSION_COLUMN, SHA256_COLUMN, SCORED_AT_COLUMN]
    hint = "score with `modelops predict`, which writes these columns (and the id column)"
    regression = spec.task == "regression"
    frames, classes = [], None
    for path in paths:
        frame = _read(path, "predictions")
        _require(frame, needed, file=path, what="predictions", hint=hint)
        found = [c[len(PROBA_PREFIX) :] for c in frame.columns if c.startswith(PROBA_PREFIX)]
        if regression and found:
            raise DataError(
                "predictions of a regression model have no proba_<label> columns",
                file=path,
                field=f"{PROBA_PREFIX}{found[0]}",
                hint="these were scored by a classifier; check the model and the file",
            )
        if regression:
            frame["prediction"] = _numeric_predictions(frame, file=path)
        elif not found:
            raise DataError(
                "predictions lack the proba_<label> columns",
                file=path,
                field=f"{PROBA_PREFIX}<label>",
                hint=hint,
            )
        if classes is not None and found != classes:
            raise DataError(
                f"proba columns {found} differ from those of {paths[0]} {classes}",
                file=path,
                field=f"{PROBA_PREFIX}{found[0]}",
            )
        classes = found
        _check_ids(frame, spec.id_column, file=path)
        versions = pd.to_numeric(frame[VERSION_COLUMN], errors="coerce")
        bad = versions.isna() | (versions != versions.round()) | (versions < 1)
        if bad.any():
            row = _first_bad_row(bad)
            raise DataError(
                f"data row {row}: model_version "
                f"{frame[VERSION_COLUMN].iloc[row - 1]!r} is not a version number",
                file=path,
                field=VERSION_COLUMN,
            )
        digests = frame[SHA256_COLUMN].astype("string")
        bad = ~digests.fillna("").str.fullmatch(_SHA256.pattern)
        if bad.any():
            raise DataError(
                f"data row {_first_bad_row(bad)}: model_sha256 is not a sha256",
                file=path,
                field=SHA256_COLUMN,
            )
        frame[VERSION_COLUMN] = versions.astype("int64")
        frame[SHA256_COLUMN] = digests.astype(str)
        frame[SCORED_AT_COLUMN] = _times(frame, SCORED_AT_COLUMN, file=path)
        frames.append(frame)
    if len(frames) > 1:
        kinds = {_kind(f[spec.id_column]) for f in frames}
        if len(kinds) > 1:
            raise DataError(
                "the predictions files disagree on the id column's type",
                file=paths[-1],
                field=spec.id_column,
            )
    assert classes is not None
    return pd.concat(frames, ignore_index=True), classes


def read_labels(path: Path, spec: PipelineSpec, id_kind: str) -> pd.DataFrame:
    """The labels file: the id column (of the predictions' type), the target, maybe labelled_at."""
    assert spec.id_column is not None
    frame = _read(path, "labels")
    _require(
        frame,
        [spec.id_column, spec.target],
        file=path,
        what="labels",
        hint=f"a labels file has the columns {spec.id_column}, {spec.target} "
        f"and optionally {LABELLED_AT_COLUMN}",
    )
    _check_ids(frame, spec.id_column, file=path)
    if _kind(frame[spec.id_column]) != id_kind:
        raise DataError(
            f"id column is {frame[spec.id_column].dtype}, but the predictions' ids are {id_kind}",
            file=path,
            field=spec.id_column,
            hint="the same ids must be written the same way in both files",
        )
    if LABELLED_AT_COLUMN in frame.columns:
        frame[LABELLED_AT_COLUMN] = _times(frame, LABELLED_AT_COLUMN, file=path)
    return frame


def _known_labels(labels: pd.Series, classes: list[str], *, regression: bool) -> pd.Series:
    """True where a label is missing (counted apart) or one the model can be scored on:
    one of the classes, or for regression a finite number."""
    import numpy as np
    import pandas as pd

    if not regression:
        return labels.isna() | labels.isin(classes)
    values = pd.to_numeric(labels, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return pd.Series(labels.isna().to_numpy() | np.isfinite(values), index=labels.index)


def _label_text(series: pd.Series) -> pd.Series:
    """Labels as the text the proba column names use (1.0 read from a CSV is the class 1)."""
    import pandas as pd

    if pd.api.types.is_float_dtype(series):
        values = series.dropna()
        if (values == values.round()).all():
            series = series.astype("Int64")
    return series.astype("string")


def _examples(values: Any) -> list[str]:
    return [str(v) for v in list(values)[:_EXAMPLES]]


def _drop(metric: str, baseline: float, value: float) -> float:
    """How much worse `value` is than `baseline` (positive: worse)."""
    return baseline - value if HIGHER_IS_BETTER.get(metric, True) else value - baseline


def _window_report(
    rows: pd.DataFrame,
    *,
    spec: PipelineSpec,
    monitor: MonitorSpec,
    classes: list[str],
    baseline: dict[str, float],
    start: pd.Timestamp,
    length: pd.Timedelta,
) -> dict[str, Any]:
    from modelops.metrics import compute_metrics

    labelled = rows[rows["_label"].notna() & rows["_known"]]
    window: dict[str, Any] = {
        "start": start.isoformat(),
        "end": (start + length).isoformat(),
        "scored": len(rows),
        "labelled": len(labelled),
        "missing_labels": int(rows["_label"].isna().sum()),
        "metrics": {},
        "gates": [],
        "gated": False,
        "crossed": False,
        "note": "",
    }
    if len(labelled) < monitor.min_rows:
        window["note"] = f"{len(labelled)} labelled row(s), fewer than min_rows {monitor.min_rows}"
        return window
    import pandas as pd

    predictions = labelled[["prediction", *(f"{PROBA_PREFIX}{c}" for c in classes)]].copy()
    if spec.task == "regression":
        truth = pd.to_numeric(labelled["_label"]).astype("float64")
    else:
        truth = labelled["_label"]
        predictions["prediction"] = _label_text(predictions["prediction"])
    try:
        metrics = compute_metrics(
            spec.task,
            spec.metrics,
            truth,
            predictions,
            classes,
            positive_class=spec.positive_class,
        )
    except (ValueError, DataError) as exc:
        # e.g. roc_auc of a window holding one class only, mape of a window with a 0 target
        window["note"] = f"metrics not computable: {str(exc).splitlines()[0]}"
        return window
    window["metrics"] = metrics
    window["gated"] = True
    for metric, allowed in sorted(monitor.max_drop.items()):
        if metric not in baseline:
            window["gates"].append(
                {
                    "metric": metric,
                    "max_drop": allowed,
                    "crossed": False,
                    "note": "no metric recorded at promotion",
                }
            )
            continue
        drop = round(_drop(metric, baseline[metric], metrics[metric]), 6)
        crossed = drop > allowed
        window["gates"].append(
            {
                "metric": metric,
                "promoted": baseline[metric],
                "value": metrics[metric],
                "drop": drop,
                "max_drop": allowed,
                "crossed": crossed,
            }
        )
        window["crossed"] = window["crossed"] or crossed
    return window


def assess(
    spec: PipelineSpec,
    *,
    version: int,
    sha256: str,
    baseline: dict[str, float],
    predictions: pd.DataFrame,
    classes: list[str],
    labels: pd.DataFrame,
) -> dict[str, Any]:
    """Join, attribute, window and gate; every row that is not used is counted by reason."""
    assert spec.monitor is not None and spec.id_column is not None
    monitor, key = spec.monitor, spec.id_column
    import pandas as pd

    ours = (predictions[VERSION_COLUMN] == version) & (predictions[SHA256_COLUMN] == sha256)
    others = (
        predictions[~ours]
        .groupby([VERSION_COLUMN, SHA256_COLUMN])
        .size()
        .reset_index(name="rows")
        .to_dict(orient="records")
    )
    scored = predictions[ours].sort_values(SCORED_AT_COLUMN, kind="stable")
    counts = scored[key].value_counts()
    scored_twice = counts[counts > 1].index
    scored = scored.drop_duplicates(key, keep="last")  # the latest score of an id counts

    label_rows = len(labels)
    labels = labels.copy()
    labels["_label"] = _label_text(labels[spec.target])
    pending = int(labels["_label"].isna().sum())
    labels = labels[labels["_label"].notna()]
    if LABELLED_AT_COLUMN in labels.columns:
        labels = labels.sort_values(LABELLED_AT_COLUMN, kind="stable")
    per_id = labels.groupby(key)["_label"].agg(["size", "nunique"])
    labelled_twice = per_id[per_id["size"] > 1].index
    conflicting = per_id[per_id["nunique"] > 1].index
    labels = labels.drop_duplicates(key, keep="last")  # the latest label of an id counts
    orphans = labels[~labels[key].isin(predictions[key])]

    extra = [LABELLED_AT_COLUMN] if LABELLED_AT_COLUMN in labels.columns else []
    joined = scored.merge(labels[[key, "_label", *extra]], on=key, how="left")
    joined["_known"] = _known_labels(
        joined["_label"], classes, regression=spec.task == "regression"
    )
    unknown = joined[~joined["_known"]]

    timing: dict[str, Any] = {"labelled_at": bool(extra)}
    if extra:
        delay = joined[LABELLED_AT_COLUMN] - joined[SCORED_AT_COLUMN]
        timing["labelled_before_scoring"] = int((delay < pd.Timedelta(0)).sum())
        if monitor.max_label_delay:
            timing["max_label_delay"] = monitor.max_label_delay
            timing["late_labels"] = int((delay > duration(monitor.max_label_delay)).sum())
        if delay.notna().any():
            timing["median_delay_hours"] = round(delay.median().total_seconds() / 3600, 2)
            timing["max_delay_hours"] = round(delay.max().total_seconds() / 3600, 2)

    length = duration(monitor.window)
    starts = joined[SCORED_AT_COLUMN].dt.floor(length)
    windows = [
        _window_report(
            rows,
            spec=spec,
            monitor=monitor,
            classes=classes,
            baseline=baseline,
            start=start,
            length=length,
        )
        for start, rows in joined.groupby(starts, sort=True)
    ]
    return {
        "classes": classes,
        "rows": {
            "predictions": len(predictions),
            "this_version": int(ours.sum()),
            "other_versions": [
                {
                    "version": int(o[VERSION_COLUMN]),
                    "sha256": str(o[SHA256_COLUMN]),
                    "rows": int(o["rows"]),
                }
                for o in others
            ],
            "ids_scored_twice": len(scored_twice),
            "ids_scored_twice_examples": _examples(scored_twice),
            "labels": label_rows,
            "pending_labels": pending,
            "ids_labelled_twice": len(labelled_twice),
            "conflicting_label_ids": len(conflicting),
            "conflicting_label_examples": _examples(conflicting),
            "missing_labels": int(joined["_label"].isna().sum()),
            "labels_without_prediction": len(orphans),
            "labels_without_prediction_examples": _examples(orphans[key]),
            "unknown_label_values": len(unknown),
            "unknown_label_examples": _examples(unknown["_label"].unique()),
        },
        "label_timing": timing,
        "windows": windows,
        "crossed": any(w["crossed"] for w in windows),
    }


def _md(value: Any) -> str:
    """Text from a data file, safe inside a markdown table (it may reach an issue or a PR)."""
    import html

    text = html.escape(" ".join(str(value).split()), quote=False)
    return text.replace("|", "\\|").replace("`", "&#96;")[:80]


def render_markdown(report: dict[str, Any]) -> str:
    rows, timing = report["rows"], report["label_timing"]
    head = "⚠️ performance gate crossed" if report["crossed"] else "✅ within the gates"
    lines = [
        f"# Performance: {report['model']} in {report['env']} (v{report['version']})",
        "",
        f"{head}. Windows of {report['window']}; a window is gated from "
        f"{report['min_rows']} labelled rows. Compared with the metrics recorded at "
        f"promotion (`{report['manifest']}`).",
        "",
        "| window start | scored | labelled | missing labels | "
        + " | ".join(report["gated_metrics"])
        + " | gate |",
        "|---|---|---|---|" + "---|" * len(report["gated_metrics"]) + "---|",
    ]
    for w in report["windows"]:
        cells = []
        gates = {g["metric"]: g for g in w["gates"]}
        for metric in report["gated_metrics"]:
            gate = gates.get(metric)
            if gate is None or "value" not in gate:
                cells.append("–")
            else:
                mark = " **crossed**" if gate["crossed"] else ""
                cells.append(f"{gate['value']:.4f} (drop {gate['drop']:+.4f}){mark}")
        verdict = "crossed" if w["crossed"] else ("ok" if w["gated"] else _md(w["note"]))
        lines.append(
            f"| {w['start'][:19]} | {w['scored']} | {w['labelled']} | {w['missing_labels']} | "
            + " | ".join(cells)
            + f" | {verdict} |"
        )
    others = ", ".join(f"v{o['version']} ({o['rows']} rows)" for o in rows["other_versions"])
    lines += [
        "",
        "| rows | count |",
        "|---|---|",
        f"| predictions read | {rows['predictions']} |",
        f"| scored by this version | {rows['this_version']} |",
        f"| scored by other versions (not used) | {others or 0} |",
        f"| ids scored twice (latest used) | {rows['ids_scored_twice']} |",
        f"| label rows read | {rows['labels']} |",
        f"| labels not known yet (empty) | {rows['pending_labels']} |",
        f"| ids labelled twice (latest used) | {rows['ids_labelled_twice']} |",
        f"| ids with conflicting labels | {rows['conflicting_label_ids']} |",
        f"| scored rows still without a label | {rows['missing_labels']} |",
        f"| labels without a scored row | {rows['labels_without_prediction']} |",
        f"| label values the model does not know (not used) | {rows['unknown_label_values']} |",
    ]
    if timing.get("labelled_at"):
        lines.append(f"| labelled before scoring | {timing['labelled_before_scoring']} |")
        if "late_labels" in timing:
            lines.append(
                f"| late labels (after {timing['max_label_delay']}) | {timing['late_labels']} |"
            )
    examples = [
        ("ids with conflicting labels", rows["conflicting_label_examples"]),
        ("labels without a scored row", rows["labels_without_prediction_examples"]),
        ("unknown label values", rows["unknown_label_examples"]),
    ]
    for what, values in examples:
        if values:
            lines.append(f"\nExamples of {what}: " + ", ".join(_md(v) for v in values))
    return "\n".join(lines) + "\n"


def check_monitor(
    project: Project, model: str, env: str, predictions: list[Path], labels: Path
) -> dict[str, Any]:
    """Read and check every input, then assess; raises before anything is written."""
    spec = load_pipeline(project, model)
    if spec.monitor is None:
        raise InputError(
            "the spec has no monitor section",
            file=spec.path,
            field="monitor",
            hint="add monitor.max_drop (and window, min_rows) to the spec",
        )
    manifest = require_manifest(project, env, model, why="nothing to compare against")
    if not predictions:
        raise InputError("no predictions file given", field="--predictions")
    assert spec.id_column is not None
    scored, classes = read_predictions(predictions, spec)
    truth = read_labels(labels, spec, _kind(scored[spec.id_column]))
    baseline = {str(k): float(v) for k, v in manifest.raw["metrics"].items()}
    found = assess(
        spec,
        version=manifest.version,
        sha256=manifest.sha256,
        baseline=baseline,
        predictions=scored,
        classes=classes,
        labels=truth,
    )
    return {
        "model": model,
        "env": env,
        "version": manifest.version,
        "sha256": manifest.sha256,
        "manifest": project.relative(project.root / manifest.path),
        "baseline": baseline,
        "window": spec.monitor.window,
        "min_rows": spec.monitor.min_rows,
        "max_drop": spec.monitor.max_drop,
        "gated_metrics": sorted(spec.monitor.max_drop),
        "predictions": [str(p) for p in predictions],
        "labels": str(labels),
        **found,
    }


@dataclass
class MonitorResult(CommandResult):
    """What `monitor_performance` found: per-window metrics and gates, counts, `crossed`."""

    @property
    def crossed(self) -> bool:
        return bool(self.data["crossed"])


def monitor_performance(
    project: Project, model: str, env: str, predictions: list[Path], labels: Path
) -> MonitorResult:
    """Join MODEL's predictions in ENV with their labels, gate each window, write the report.

    A crossed gate is not an error: the result's `crossed` is true and its `exit_code` 3.
    """
    report = check_monitor(project, model, env, predictions, labels)
    folder = project.state_dir / "reports" / model
    md_path = folder / f"monitor-{env}.md"
    report["report"] = project.relative(md_path)
    atomic_write_text(
        folder / f"monitor-{env}.json",
        json.dumps(report, indent=2, sort_keys=True, default=str) + "\n",
    )
    atomic_write_text(md_path, render_markdown(report))
    rows = report["rows"]
    gated = [w for w in report["windows"] if w["gated"]]
    summary = [
        f"{model} in {env} (v{report['version']}): "
        + ("performance gate crossed" if report["crossed"] else "within the gates")
        + f" ({len(gated)} of {len(report['windows'])} window(s) of {report['window']} gated)",
    ]
    for w in report["windows"]:
        values = ", ".join(
            f"{g['metric']} {g['value']:.4f} (drop {g['drop']:+.4f})"
            + (" CROSSED" if g["crossed"] else "")
            for g in w["gates"]
            if "value" in g
        )
        summary.append(
            f"  {w['start'][:19]}  labelled {w['labelled']}/{w['scored']}  " + (values or w["note"])
        )
    summary.append(
        f"  not used: {sum(o['rows'] for o in rows['other_versions'])} row(s) of other versions, "
        f"{rows['missing_labels']} without a label, {rows['unknown_label_values']} unknown "
        f"label value(s); {rows['labels_without_prediction']} label(s) without a scored row"
    )
    summary.append(f"report: {report['report']}")
    return MonitorResult(
        command="monitor",
        subject=model,
        data=report,
        summary=summary,
        exit_code=3 if report["crossed"] else 0,
    )
