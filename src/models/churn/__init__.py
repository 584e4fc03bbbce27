"""Churn classifier: one-hot + scaling in a ColumnTransformer, then gradient boosting.

Implements the `modelops.modelapi` contract. The model is saved with skops and
loaded only when every type in the file is on the audited `TRUSTED_TYPES` list.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelops.errors import InputError
from models.churn.columns import CATEGORICAL_FEATURES, FEATURES, NUMERIC_FEATURES, TARGET

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline

    from modelops.modelapi import TrainContext

__all__ = ["FEATURES", "TARGET", "load", "predict", "save", "train"]

MODEL_FILE = "model.skops"

# skops trusts scikit-learn's estimators itself; these are the remaining types a
# model built by this package contains, reviewed by hand (plain data holders, no
# callables). A file naming any other type is refused before anything is built.
TRUSTED_TYPES = frozenset(
    {
        "numpy.dtype",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    }
)

DEFAULTS: dict[str, Any] = {
    "classifier": "hist_gradient_boosting",
    "learning_rate": 0.05,
    "max_iter": 150,
    "max_leaf_nodes": 15,
    "l2_regularization": 0.0,
    "C": 1.0,
}


def _classifier(params: dict[str, Any], seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    kind = params["classifier"]
    if kind == "hist_gradient_boosting":
        return HistGradientBoostingClassifier(
            learning_rate=float(params["learning_rate"]),
            max_iter=int(params["max_iter"]),
            max_leaf_nodes=int(params["max_leaf_nodes"]),
            l2_regularization=float(params["l2_regularization"]),
            early_stopping=False,  # no hidden validation split: every row trains, runs repeat
            random_state=seed,
        )
    if kind == "logistic_regression":
        return LogisticRegression(C=float(params["C"]), max_iter=1000, random_state=seed)
    raise InputError(
        f"unknown classifier '{kind}'",
        field="train.params.classifier",
        hint="use hist_gradient_boosting or logistic_regression",
    )


def train(data: pd.DataFrame, params: dict[str, Any], context: TrainContext) -> Pipeline:
    """Fit preprocessing and classifier on `data` (features + target)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    from threadpoolctl import threadpool_limits

    unknown = sorted(set(params) - set(DEFAULTS))
    if unknown:
        raise InputError(
            f"unknown parameter(s) {unknown} for the churn model",
            field="train.params",
            hint=f"known: {sorted(DEFAULTS)}",
        )
    merged = {**DEFAULTS, **params}
    numeric = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
    preprocess = ColumnTransformer(
        [
            ("numeric", numeric, list(NUMERIC_FEATURES)),
            # Categories unseen in training (a new payment method) encode as all zeros.
            ("categorical", OneHotEncoder(handle_unknown="ignore"), list(CATEGORICAL_FEATURES)),
        ],
        sparse_threshold=0.0,
    )
    model = Pipeline(
        [("preprocess", preprocess), ("classifier", _classifier(merged, context.seed))]
    )
    # One thread: on 4,000 rows OpenMP threads mostly spin, and on a busy shared runner
    # two of them made a fit 20-40x slower than one.
    with threadpool_limits(limits=1):
        model.fit(data[list(FEATURES)], data[context.target])
    context.facts["classifier"] = merged["classifier"]
    return model


def predict(model: Pipeline, data: pd.DataFrame) -> pd.DataFrame:
    """`prediction` and one `proba_<label>` column per class, indexed like `data`."""
    import pandas as pd
    from threadpoolctl import threadpool_limits

    features = data[list(FEATURES)]
    with threadpool_limits(limits=1):  # see train(): faster on shared runners
        proba = model.predict_proba(features)
    classes = list(model.classes_)
    out = pd.DataFrame(
        {f"proba_{label}": proba[:, i] for i, label in enumerate(classes)}, index=data.index
    )
    out.insert(0, "prediction", [classes[i] for i in proba.argmax(axis=1)])
    return out


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
            hint="only models built by models.churn load; audit and add a type to "
            "TRUSTED_TYPES only if it is safe",
        )
    model: Pipeline = skops_io.load(path, trusted=sorted(found))
    return model
