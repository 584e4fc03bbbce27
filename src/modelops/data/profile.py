"""The data profile: rows, columns, missing values, and the target's class balance or
distribution; and the training-data profile a bundle keeps for the next challenger."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

BINS = 10
MAX_CATEGORIES = 50
# Empty bins would make PSI infinite; this floor is the customary one.
EPSILON = 1e-4


def _r(value: Any) -> float | None:
    number = float(value)
    return round(number, 6) if math.isfinite(number) else None


def target_distribution(column: pd.Series) -> dict[str, Any]:
    """A numeric target's count, mean, std, min, quartiles and max (missing values left out)."""
    values = column.dropna().astype("float64")
    if values.empty:
        return {"count": 0}
    q = values.quantile([0.25, 0.5, 0.75])
    return {
        "count": len(values),
        "mean": _r(values.mean()),
        "std": _r(values.std()),
        "min": _r(values.min()),
        "p25": _r(q[0.25]),
        "median": _r(q[0.5]),
        "p75": _r(q[0.75]),
        "max": _r(values.max()),
        "zeros": int((values == 0).sum()),
    }


def profile(df: pd.DataFrame, target: str, *, regression: bool = False) -> dict[str, Any]:
    """Rows, columns, missing values per column (non-zero only), and the target's class
    balance (classification) or distribution (regression)."""
    missing = {str(k): int(v) for k, v in df.isna().sum().items() if v}
    balance = None
    distribution = None
    if target in df.columns and regression:
        import pandas as pd

        if pd.api.types.is_numeric_dtype(df[target]) and not pd.api.types.is_bool_dtype(df[target]):
            distribution = target_distribution(df[target])
    elif target in df.columns:
        counts = df[target].value_counts(dropna=False).sort_index()
        balance = {
            str(label): {"count": int(n), "fraction": round(float(n) / len(df), 4)}
            for label, n in counts.items()
        }
    return {
        "rows": len(df),
        "columns": len(df.columns),
        "missing": missing,
        "missing_total": sum(missing.values()),
        "class_balance": balance,
        "target_distribution": distribution,
    }


def _is_numeric(column: pd.Series) -> bool:
    import pandas as pd

    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def feature_bins(column: pd.Series) -> dict[str, Any]:
    """A numeric feature's decile edges and the share of rows in each bin (open-ended outer
    bins); a categorical one's category shares (the MAX_CATEGORIES most frequent, the rest
    as one "<other>")."""
    import numpy as np

    if _is_numeric(column):
        values = column.dropna().to_numpy(dtype="float64")
        if len(values) == 0:
            return {"kind": "numeric", "edges": [], "fractions": []}
        edges = np.unique(np.quantile(values, np.linspace(0, 1, BINS + 1))[1:-1])
        counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
        return {
            "kind": "numeric",
            "edges": [_r(e) for e in edges],
            "fractions": [_r(c / len(values)) for c in counts],
        }
    shares = column.astype("string").fillna("<missing>").value_counts(normalize=True)
    top = shares.head(MAX_CATEGORIES)
    out = {str(k): _r(v) for k, v in top.items()}
    if len(shares) > MAX_CATEGORIES:
        out["<other>"] = _r(shares.iloc[MAX_CATEGORIES:].sum())
    return {"kind": "categorical", "shares": out}


def training_profile(
    df: pd.DataFrame, features: list[str], target: str, *, regression: bool
) -> dict[str, Any]:
    """What a bundle records about its training split: rows, target, per-feature bins."""
    stats = profile(df[[*features, target]], target, regression=regression)
    return {
        "rows": len(df),
        "class_balance": stats["class_balance"],
        "target_distribution": stats["target_distribution"],
        "features": {str(f): feature_bins(df[f]) for f in features},
    }


def psi(expected: list[float], actual: list[float]) -> float:
    """Population stability index of two share vectors over the same bins."""
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        e, a = max(e, EPSILON), max(a, EPSILON)
        total += (a - e) * math.log(a / e)
    return total


def psi_against(bins: dict[str, Any], column: pd.Series) -> float | None:
    """PSI of `column` against a reference's `feature_bins` (its edges or categories)."""
    import numpy as np

    if bins.get("kind") == "numeric":
        if not _is_numeric(column) or not bins.get("fractions"):
            return None
        values = column.dropna().to_numpy(dtype="float64")
        if len(values) == 0:
            return None
        edges = np.asarray(bins["edges"], dtype="float64")
        counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
        return _r(psi([f or 0.0 for f in bins["fractions"]], list(counts / len(values))))
    reference = {k: v or 0.0 for k, v in (bins.get("shares") or {}).items()}
    shares = column.astype("string").fillna("<missing>").value_counts(normalize=True)
    actual: dict[str, float] = {}
    for key, share in shares.items():
        name = str(key) if str(key) in reference else "<other>"
        actual[name] = actual.get(name, 0.0) + float(share)
    keys = sorted(set(reference) | set(actual))
    return _r(psi([reference.get(k, 0.0) for k in keys], [actual.get(k, 0.0) for k in keys]))


def compare_training(
    champion: dict[str, Any] | None, challenger: dict[str, Any], train: pd.DataFrame
) -> dict[str, Any] | None:
    """How the challenger's training data differs from the champion's: rows, target, PSI."""
    if not champion or not isinstance(champion.get("profile"), dict):
        return None
    reference = champion["profile"]
    mine = challenger["profile"]
    features = reference.get("features") or {}
    psi_rows = []
    for name in sorted(features):
        if name in train.columns and isinstance(features[name], dict):
            value = psi_against(features[name], train[name])
            psi_rows.append({"feature": name, "psi": value})
        else:
            psi_rows.append({"feature": name, "psi": None})
    psi_rows.sort(key=lambda r: -(r["psi"] or 0.0))
    return {
        "rows": {"champion": reference.get("rows"), "challenger": mine.get("rows")},
        "class_balance": {
            "champion": reference.get("class_balance"),
            "challenger": mine.get("class_balance"),
        },
        "target_distribution": {
            "champion": reference.get("target_distribution"),
            "challenger": mine.get("target_distribution"),
        },
        "psi": psi_rows,
        "new_features": sorted(set(mine.get("features") or {}) - set(features)),
    }
