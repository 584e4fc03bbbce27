"""Model metrics (scikit-learn) from predictions: what `train` logs and `evaluate` gates.

Classification metrics read `prediction` and the `proba_<label>` columns; binary
ones score the positive class (`evaluate.positive_class`, default the last sorted
label). Regression metrics read `prediction` alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelops.errors import DataError, InputError

if TYPE_CHECKING:
    from types import ModuleType

    import numpy as np
    import pandas as pd

    from modelops.spec import PipelineSpec


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


def match_label(labels: list[Any], wanted: Any) -> Any | None:
    """The label in `labels` that `wanted` names: equal, or equal as text (`"1"` names 1)."""
    for label in labels:  # True == 1 in Python, yet `yes` does not name the label 1
        if label == wanted and isinstance(label, bool) == isinstance(wanted, bool):
            return label
    text = str(wanted)
    for label in labels:
        if str(label) == text:
            return label
    return None


def positive_label(classes: list[Any], positive_class: Any = None) -> Any:
    """The positive class of a binary task: `positive_class` as found in `classes`, else the last.

    `evaluate` and `train` check the spec's positive class against the data first
    (`data.split`), so a label that is not among `classes` is a bug here.
    """
    if positive_class is None:
        return classes[-1]
    found = match_label(classes, positive_class)
    if found is None:
        raise InputError(
            f"positive class {positive_class!r} is not one of the labels {classes}",
            field="evaluate.positive_class",
        )
    return found


def regression_values(
    y_true: pd.Series, predictions: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """Targets and predictions of a regression model as float arrays."""
    import numpy as np

    if "prediction" not in predictions.columns:
        raise InputError(
            "predict() returned no column 'prediction'",
            field="predict",
            hint="a regression model's predict returns a numeric `prediction` column",
        )
    try:
        y_pred = predictions["prediction"].to_numpy(dtype="float64")
    except (TypeError, ValueError):
        raise InputError(
            "predict() returned a non-numeric 'prediction' for a regression task",
            field="predict",
        ) from None
    y = np.asarray(y_true.to_numpy(), dtype="float64")
    return y, y_pred


def regression_metrics(
    names: tuple[str, ...], y_true: pd.Series, predictions: pd.DataFrame
) -> dict[str, float]:
    """rmse, mae, r2 and mape of a regression model; mape is refused when a target is 0."""
    import numpy as np
    from sklearn import metrics as skm

    y, y_pred = regression_values(y_true, predictions)
    out: dict[str, float] = {}
    for name in names:
        if name == "rmse":
            value = skm.root_mean_squared_error(y, y_pred)
        elif name == "mae":
            value = skm.mean_absolute_error(y, y_pred)
        elif name == "r2":
            value = skm.r2_score(y, y_pred)
        elif name == "mape":
            zeros = int(np.sum(y == 0))
            if zeros:
                raise DataError(
                    f"mape is undefined: {zeros} target value(s) are 0 "
                    "(a percentage of 0 has no meaning)",
                    field="evaluate.metrics",
                    hint="remove mape from evaluate.metrics and use mae or rmse",
                )
            value = skm.mean_absolute_percentage_error(y, y_pred)
        else:
            raise InputError(
                f"metric '{name}' does not apply to regression", field="evaluate.metrics"
            )
        out[name] = round(float(value), 6)
    return out


def compute_metrics(
    task: str,
    names: tuple[str, ...],
    y_true: pd.Series,
    predictions: pd.DataFrame,
    classes: list[Any],
    *,
    positive_class: Any = None,
) -> dict[str, float]:
    """The named metrics of one task (`binary_classification`, `multiclass_classification`,
    `regression`); `classes` is empty for regression."""
    if task == "regression":
        return regression_metrics(names, y_true, predictions)
    import numpy as np
    from sklearn import metrics as skm

    proba = probabilities(predictions, classes)
    y_pred = predictions["prediction"].to_numpy()
    y = y_true.to_numpy()
    binary = task == "binary_classification"
    positive = positive_label(classes, positive_class) if binary else None
    column = classes.index(positive) if binary else -1
    average = "binary" if binary else "macro"
    kwargs: dict[str, Any] = {"pos_label": positive} if binary else {"labels": classes}
    out: dict[str, float] = {}
    for name in names:
        if name == "accuracy":
            value = skm.accuracy_score(y, y_pred)
        elif name == "roc_auc":
            value = (
                skm.roc_auc_score(y == positive, proba[:, column])
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
                float(np.mean((proba[:, column] - onehot[:, column]) ** 2))
                if binary
                else float(np.mean(np.sum((proba - onehot) ** 2, axis=1)))
            )
        else:  # the spec refuses a metric of another task
            raise InputError(f"unknown metric '{name}'", field="evaluate.metrics")
        out[name] = round(float(value), 6)
    return out


def score_split(
    module: ModuleType,
    model: Any,
    spec: PipelineSpec,
    frame: pd.DataFrame,
    features: list[str],
    classes: list[Any],
) -> tuple[dict[str, float], pd.DataFrame]:
    """The team's `predict` on `frame`'s features, and the spec's metrics of its predictions.

    `train` logs these for the test split; `evaluate` scores the saved bundle the same way.
    """
    predictions = module.predict(model, frame[features])
    metrics = compute_metrics(
        spec.task,
        spec.metrics,
        frame[spec.target],
        predictions,
        classes,
        positive_class=spec.positive_class,
    )
    return metrics, predictions
