"""Diabetes progression regressor: scaling, then ridge regression or gradient boosting.

Implements the `modelops.modelapi` contract for a regression task: `predict`
returns one numeric `prediction` column. The model is saved with skops and loaded
only when every type in the file is on the audited `TRUSTED_TYPES` list.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelops.errors import InputError
from models.diabetes.columns import FEATURES, TARGET

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline

    from modelops.modelapi import TrainContext

__all__ = ["FEATURES", "TARGET", "load", "predict", "save", "train"]

MODEL_FILE = "model.skops"

# skops trusts scikit-learn's estimators itself; these are the remaining types a model
# built by this package contains, reviewed by hand (plain data holders, no callables).
TRUSTED_TYPES = frozenset(
    {
        "numpy.dtype",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    }
)

DEFAULTS: dict[str, Any] = {
    "regressor": "ridge",
    "alpha": 1.0,
    "learning_rate": 0.05,
    "max_iter": 200,
    "max_leaf_nodes": 8,
}


def _regressor(params: dict[str, Any], seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import Ridge

    kind = params["regressor"]
    if kind == "ridge":
        return Ridge(alpha=float(params["alpha"]))
    if kind == "hist_gradient_boosting":
        return HistGradientBoostingRegressor(
            learning_rate=float(params["learning_rate"]),
            max_iter=int(params["max_iter"]),
            max_leaf_nodes=int(params["max_leaf_nodes"]),
            early_stopping=False,  # no hidden validation split: every row trains, runs repeat
            random_state=seed,
        )
    raise InputError(
        f"unknown regressor '{kind}'",
        field="train.params.regressor",
        hint="use ridge or hist_gradient_boosting",
    )


def train(data: pd.DataFrame, params: dict[str, Any], context: TrainContext) -> Pipeline:
    """Fit scaling and the regressor on `data` (features + target)."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    unknown = sorted(set(params) - set(DEFAULTS))
    if unknown:
        raise InputError(
            f"unknown parameter(s) {unknown} for the diabetes model",
            field="train.params",
            hint=f"known: {sorted(DEFAULTS)}",
        )
    merged = {**DEFAULTS, **params}
    model = Pipeline([("scale", StandardScaler()), ("regressor", _regressor(merged, context.seed))])
    with threadpool_limits(limits=1):  # small data: extra threads only spin
        model.fit(data[list(FEATURES)].astype("float64"), data[context.target])
    context.facts["regressor"] = merged["regressor"]
    return model


def predict(model: Pipeline, data: pd.DataFrame) -> pd.DataFrame:
    """One numeric `prediction` column, indexed like `data`."""
    import pandas as pd
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        values = model.predict(data[list(FEATURES)].astype("float64"))
    return pd.DataFrame({"prediction": values}, index=data.index)


def save(model: Pipeline, directory: Path) -> None:
    """Write the fitted pipeline as skops (no pickle) into `directory`."""
    import skops.io

    directory.mkdir(parents=True, exist_ok=True)
    skops.io.dump(model, directory / MODEL_FILE)


def load(directory: Path) -> Pipeline:
    """Read what `save` wrote; refuse a file that names any type not in TRUSTED_TYPES."""
    import skops.io as skops_io

    path = directory / MODEL_FILE
    if not path.is_file():
        raise InputError(
            "model file not found", file=path, hint="was the bundle written by save()?"
        )
    try:
        found = skops_io.get_untrusted_types(file=path)
    except Exception as exc:  # a corrupt or foreign file: skops raises many kinds
        raise InputError(
            f"not a readable skops file ({type(exc).__name__}: {exc})", file=path
        ) from None
    refused = sorted(set(found) - TRUSTED_TYPES)
    if refused:
        raise InputError(
            f"refusing to load: the file contains untrusted types {refused}",
            file=path,
            hint="only models built by models.diabetes load; audit and add a type to "
            "TRUSTED_TYPES only if it is safe",
        )
    model: Pipeline = skops_io.load(path, trusted=sorted(found))
    return model
