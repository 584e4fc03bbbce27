"""Realistic evaluate.json payloads (from the real diagnostics code) for report tests."""

from __future__ import annotations

from typing import Any

from modelops.diagnostics import bootstrap_interval, diagnostics
from modelops.evaluate import check_gates, flag_noise
from modelops.metrics import compute_metrics
from modelops.spec import Gate


def _classifier_frame(n: int, classes: list[Any], seed: int, skill: float) -> tuple[Any, Any]:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    y = pd.Series(rng.choice(classes, size=n))
    logits = rng.normal(size=(n, len(classes)))
    for i, label in enumerate(classes):
        logits[:, i] += skill * (y.to_numpy() == label)
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    frame = pd.DataFrame({f"proba_{c}": proba[:, i] for i, c in enumerate(classes)})
    frame.insert(0, "prediction", [classes[i] for i in proba.argmax(axis=1)])
    return y, frame


def classification_evaluation(
    classes: list[Any],
    *,
    task: str = "binary_classification",
    positive: Any = None,
    n: int = 600,
    bootstrap: bool = True,
) -> dict[str, Any]:
    """evaluate.json of a classifier against a slightly better champion, on the same rows."""
    metrics_names: tuple[str, ...] = ("roc_auc", "accuracy", "log_loss")
    y, mine = _classifier_frame(n, classes, seed=1, skill=2.0)
    _, theirs = _classifier_frame(n, classes, seed=1, skill=2.3)
    metrics = compute_metrics(task, metrics_names, y, mine, classes, positive_class=positive)
    champion = compute_metrics(task, metrics_names, y, theirs, classes, positive_class=positive)
    gates = check_gates(
        (Gate("roc_auc", min=0.6, max_drop=0.005), Gate("log_loss", max_rise=0.5)),
        metrics,
        champion,
    )
    interval = (
        bootstrap_interval(task, "roc_auc", y, mine, classes, positive)
        if bootstrap
        else {"metric": "roc_auc", "low": 0.5, "high": 0.6, "resamples": 1, "seed": 0}
    )
    flag_noise(gates, interval)
    plots = diagnostics(task, y, mine, classes, positive)
    return {
        "task": task,
        "positive_class": plots.get("positive_class"),
        "primary_metric": "roc_auc",
        "metrics": metrics,
        "interval": interval,
        "champion": {
            "version": 3,
            "metrics": champion,
            "plots": diagnostics(task, y, theirs, classes, positive),
        },
        "champion_note": "champion: prod runs version 3",
        "gates": gates,
        "passed": all(g["passed"] for g in gates),
        "split": {"test_rows": n},
        "plots": {**plots, "losses": {"train_loss": [[0, 0.9], [1, 0.5], [2, 0.4]],
                                       "val_loss": [[0, 1.0], [1, 0.7], [2, 0.6]]}},
        "changes": None,
    }  # fmt: skip


def regression_evaluation(n: int = 300) -> dict[str, Any]:
    """evaluate.json of a regressor against a champion, on the same rows."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(5)
    y = pd.Series(rng.gamma(4.0, 40.0, size=n))
    mine = pd.DataFrame({"prediction": y + rng.normal(0, 30, size=n)})
    theirs = pd.DataFrame({"prediction": y + rng.normal(0, 25, size=n)})
    names = ("rmse", "mae", "r2", "mape")
    metrics = compute_metrics("regression", names, y, mine, [])
    champion = compute_metrics("regression", names, y, theirs, [])
    gates = check_gates(
        (Gate("rmse", max=60.0, max_rise=1.0), Gate("r2", min=0.3)), metrics, champion
    )
    interval = bootstrap_interval("regression", "rmse", y, mine, [])
    flag_noise(gates, interval)
    plots = diagnostics("regression", y, mine, [])
    edges = plots["predicted_vs_actual"]["edges"]
    return {
        "task": "regression",
        "positive_class": None,
        "primary_metric": "rmse",
        "metrics": metrics,
        "interval": interval,
        "champion": {
            "version": 2,
            "metrics": champion,
            "plots": diagnostics("regression", y, theirs, [], regression_edges=edges),
        },
        "champion_note": "champion: prod runs version 2",
        "gates": gates,
        "passed": all(g["passed"] for g in gates),
        "split": {"test_rows": n},
        "plots": {**plots, "losses": {}},
        "changes": None,
    }
