"""What the report shows beyond the metrics, computed from one model's test predictions.

ROC on a fixed false-positive grid (so the champion's and the challenger's curves
share their x values), the operating point (TPR at 1 % and 5 % FPR), per-class
precision/recall/support, a reliability table, regression's predicted-vs-actual
bins and residual histogram, and a bootstrap interval of a metric. Plain lists and
numbers only, so they go straight into `evaluate.json`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelops.metrics import compute_metrics, positive_label, probabilities, regression_values

if TYPE_CHECKING:
    import pandas as pd

# The x values of every ROC curve in a report: fine near 0, where the operating points are.
ROC_GRID = (0.0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6,
            0.7, 0.8, 0.9, 1.0)  # fmt: skip
OPERATING_FPR = (0.01, 0.05)
BINS = 10
BOOTSTRAP_RESAMPLES = 200
BOOTSTRAP_SEED = 0
CONFIDENCE = 0.95


def _r(value: float) -> float:
    return round(float(value), 6)


def roc(
    task: str, y_true: pd.Series, predictions: pd.DataFrame, classes: list[Any], positive: Any
) -> dict[str, Any]:
    """TPR at each FPR of ROC_GRID (binary: the positive class; multiclass: micro one-vs-rest)."""
    import numpy as np
    from sklearn.metrics import roc_curve

    y = y_true.to_numpy()
    proba = probabilities(predictions, classes)
    if task == "binary_classification":
        fpr, tpr, _ = roc_curve(y == positive, proba[:, classes.index(positive)])
        kind = f"positive class {positive}"
    else:
        onehot = (y[:, None] == np.asarray(classes)[None, :]).ravel()
        fpr, tpr, _ = roc_curve(onehot, proba.ravel())
        kind = "micro-average one-vs-rest"
    # The step function's upper envelope: the best TPR reachable at or below each FPR.
    grid = np.asarray(ROC_GRID)
    at = np.array([tpr[fpr <= x + 1e-12].max() if np.any(fpr <= x + 1e-12) else 0.0 for x in grid])
    return {
        "kind": kind,
        "fpr": [_r(v) for v in grid],
        "tpr": [_r(v) for v in at],
        "operating_points": {f"{x:g}": _r(at[list(ROC_GRID).index(x)]) for x in OPERATING_FPR},
    }


def per_class(
    y_true: pd.Series, predictions: pd.DataFrame, classes: list[Any]
) -> list[dict[str, Any]]:
    """One row per class: precision, recall, support (scikit-learn's classification report)."""
    from sklearn.metrics import precision_recall_fscore_support

    precision, recall, _, support = precision_recall_fscore_support(
        y_true.to_numpy(), predictions["prediction"].to_numpy(), labels=classes, zero_division=0
    )
    return [
        {"label": str(c), "precision": _r(p), "recall": _r(r), "support": int(s)}
        for c, p, r, s in zip(classes, precision, recall, support, strict=True)
    ]


def confusion(y_true: pd.Series, predictions: pd.DataFrame, classes: list[Any]) -> list[list[int]]:
    from sklearn.metrics import confusion_matrix

    counts = confusion_matrix(
        y_true.to_numpy(), predictions["prediction"].to_numpy(), labels=classes
    )
    return [[int(n) for n in row] for row in counts]


def calibration(
    task: str, y_true: pd.Series, predictions: pd.DataFrame, classes: list[Any], positive: Any
) -> dict[str, Any]:
    """Brier score and a reliability table in BINS equal-width probability bins.

    Binary: the positive class's probability against how often it is the label.
    Multiclass: the top class's probability (confidence) against how often it is right.
    """
    import numpy as np

    y = y_true.to_numpy()
    proba = probabilities(predictions, classes)
    if task == "binary_classification":
        score = proba[:, classes.index(positive)]
        hit = (y == positive).astype("float64")
        kind = f"P({positive})"
    else:
        score = proba.max(axis=1)
        hit = (np.asarray(classes)[proba.argmax(axis=1)] == y).astype("float64")
        kind = "confidence of the predicted class"
    which = np.clip((score * BINS).astype(int), 0, BINS - 1)
    rows = []
    for b in range(BINS):
        mask = which == b
        if mask.any():
            rows.append(
                {
                    "bin": f"{b / BINS:.1f}–{(b + 1) / BINS:.1f}",
                    "mean_predicted": _r(score[mask].mean()),
                    "observed": _r(hit[mask].mean()),
                    "count": int(mask.sum()),
                }
            )
    return {"kind": kind, "brier": _r(np.mean((score - hit) ** 2)), "reliability": rows}


def regression_bins(
    y_true: pd.Series, predictions: pd.DataFrame, edges: list[float] | None = None
) -> dict[str, Any]:
    """Predicted vs actual: mean target and mean prediction in BINS quantile bins of the target.

    `edges` reuses another model's bins (the champion is binned like the challenger).
    """
    import numpy as np

    y, y_pred = regression_values(y_true, predictions)
    if edges is None:
        edges = [_r(v) for v in np.unique(np.quantile(y, np.linspace(0, 1, BINS + 1)))]
    inner = np.asarray(edges[1:-1])
    which = np.searchsorted(inner, y, side="right")
    rows = []
    for b in range(len(edges) - 1):
        mask = which == b
        if mask.any():
            rows.append(
                {
                    "bin": f"{edges[b]:g}–{edges[b + 1]:g}",
                    "actual": _r(y[mask].mean()),
                    "predicted": _r(y_pred[mask].mean()),
                    "count": int(mask.sum()),
                }
            )
    return {"edges": edges, "rows": rows}


def residual_histogram(y_true: pd.Series, predictions: pd.DataFrame) -> dict[str, Any]:
    """Counts of residuals (prediction − actual) in BINS equal-width bins, and their mean."""
    import numpy as np

    y, y_pred = regression_values(y_true, predictions)
    residuals = y_pred - y
    counts, edges = np.histogram(residuals, bins=BINS)
    return {
        "edges": [_r(v) for v in edges],
        "counts": [int(n) for n in counts],
        "mean": _r(residuals.mean()),
        "std": _r(residuals.std()),
    }


def bootstrap_interval(
    task: str,
    metric: str,
    y_true: pd.Series,
    predictions: pd.DataFrame,
    classes: list[Any],
    positive_class: Any = None,
) -> dict[str, Any]:
    """A 95 % percentile interval of `metric` over BOOTSTRAP_RESAMPLES resamples of the test rows.

    Seeded, so the same predictions give the same interval. A resample that leaves
    a metric undefined (one class only) is skipped and counted.
    """
    import numpy as np

    rng = np.random.default_rng(BOOTSTRAP_SEED)
    n = len(y_true)
    values = []
    skipped = 0
    for _ in range(BOOTSTRAP_RESAMPLES):
        rows = rng.integers(0, n, n)
        try:
            got = compute_metrics(
                task,
                (metric,),
                y_true.iloc[rows],
                predictions.iloc[rows],
                classes,
                positive_class=positive_class,
            )[metric]
        except ValueError:
            skipped += 1
            continue
        if np.isfinite(got):
            values.append(got)
        else:
            skipped += 1
    if not values:
        return {"metric": metric, "low": None, "high": None, "resamples": 0, "skipped": skipped}
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return {
        "metric": metric,
        "confidence": CONFIDENCE,
        "low": _r(low),
        "high": _r(high),
        "resamples": len(values),
        "skipped": skipped,
        "seed": BOOTSTRAP_SEED,
    }


def diagnostics(
    task: str,
    y_true: pd.Series,
    predictions: pd.DataFrame,
    classes: list[Any],
    positive_class: Any = None,
    *,
    regression_edges: list[float] | None = None,
) -> dict[str, Any]:
    """Everything above that applies to `task`, for one model."""
    if task == "regression":
        return {
            "predicted_vs_actual": regression_bins(y_true, predictions, regression_edges),
            "residuals": residual_histogram(y_true, predictions),
        }
    positive = positive_label(classes, positive_class) if task == "binary_classification" else None
    return {
        "labels": [str(c) for c in classes],
        "positive_class": None if positive is None else str(positive),
        "confusion_matrix": confusion(y_true, predictions, classes),
        "per_class": per_class(y_true, predictions, classes),
        "roc": roc(task, y_true, predictions, classes, positive),
        "calibration": calibration(task, y_true, predictions, classes, positive),
    }
