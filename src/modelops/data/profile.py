"""The data profile: rows, columns, missing values and class balance."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


def profile(df: pd.DataFrame, target: str) -> dict[str, Any]:
    """Rows, columns, missing values per column (non-zero only) and class balance."""
    missing = {str(k): int(v) for k, v in df.isna().sum().items() if v}
    balance = None
    if target in df.columns:
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
    }
