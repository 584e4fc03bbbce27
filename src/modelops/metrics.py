"""Model metrics (scikit-learn) from predictions: what `train` logs and `evaluate` gates."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelops.errors import InputError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


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
