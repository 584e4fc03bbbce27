"""The train/test split (scikit-learn's `train_test_split`) and the train/test leakage check.

The split is deterministic: the same data and spec (seed, test fraction, stratify)
give the same rows. The leakage check works on row positions and 64-bit row
hashes: no copy of the frame.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelops.data.checks import EXAMPLES, jsonable
from modelops.errors import DataError, SpecError
from modelops.fsutil import sha256_bytes

if TYPE_CHECKING:
    import pandas as pd

    from modelops.spec import PipelineSpec

DEFAULT_MAX_DUPLICATE_SHARE = 0.01


def split_positions(spec: PipelineSpec, df: pd.DataFrame) -> tuple[Any, Any]:
    """Train and test row positions from scikit-learn's `train_test_split`.

    `random_state` is the spec's `data.split.seed`, `test_size` its `test_fraction`,
    and `stratify` the target when `data.split.stratify` is on.
    """
    import numpy as np
    from sklearn.model_selection import train_test_split

    _require_columns(spec, df)
    positions = np.arange(len(df))
    try:
        train, test = train_test_split(
            positions,
            test_size=spec.test_fraction,
            random_state=spec.split_seed,
            shuffle=True,
            stratify=df[spec.target].to_numpy() if spec.stratify else None,
        )
    except (ValueError, TypeError) as exc:  # too few rows or members of a class; mixed types
        raise _split_error(str(exc)) from None
    return train, test


def _split_error(reason: str) -> DataError:
    return DataError(
        f"cannot split the data: {reason}",
        field="data.split",
        hint="set data.split.stratify: false or add rows for the rare classes",
    )


def split(spec: PipelineSpec, df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train and test rows (copies, original index kept) at `split_positions`."""
    try:
        train, test = split_positions(spec, df)
    except DataError as exc:
        exc.file = str(spec.path)
        raise
    return df.take(train), df.take(test)


def _require_columns(spec: PipelineSpec, df: pd.DataFrame) -> None:
    """The spec's target and id column exist in the data (else the spec or data is wrong)."""
    named = [("data.target", spec.target)]
    if spec.id_column:
        named.append(("data.id_column", spec.id_column))
    for field_name, column in named:
        if column not in df.columns:
            raise SpecError(
                f"column '{column}' is not in the data",
                file=spec.path,
                field=field_name,
                hint=f"the data has: {', '.join(map(str, df.columns[:12]))}"
                + (", …" if len(df.columns) > 12 else ""),
            )
    check_target(spec, df)


def check_target(spec: PipelineSpec, df: pd.DataFrame) -> None:
    """The target fits the task: numeric for regression; holding the positive class for binary."""
    import pandas as pd

    from modelops.metrics import match_label

    column = df[spec.target]
    if spec.task == "regression":
        if pd.api.types.is_bool_dtype(column) or not pd.api.types.is_numeric_dtype(column):
            examples = [jsonable(v) for v in column.dropna().unique()[:EXAMPLES]]
            raise SpecError(
                f"a regression target must be numeric; column '{spec.target}' of "
                f"{spec.data_path} holds {column.dtype} values (e.g. {examples})",
                file=spec.path,
                field="data.target",
                hint="evaluate.task regression needs numbers; labels need a classification task",
            )
        zeros = int((column == 0).sum())
        if "mape" in spec.metrics and zeros:
            raise SpecError(
                f"mape is undefined: {zeros} value(s) of '{spec.target}' in {spec.data_path} "
                "are 0 (a percentage of 0 has no meaning)",
                file=spec.path,
                field="evaluate.metrics",
                hint="remove mape from evaluate.metrics and use mae or rmse",
            )
        return
    if spec.task == "binary_classification" and spec.positive_class is not None:
        labels = sorted(column.dropna().unique().tolist(), key=str)
        if match_label(labels, spec.positive_class) is None:
            quoted = (
                " (YAML read an unquoted yes/no/true/false as a boolean: quote it)"
                if isinstance(spec.positive_class, bool)
                else ""
            )
            raise SpecError(
                f"positive class {spec.positive_class!r} is not a label of '{spec.target}' in "
                f"{spec.data_path}; the labels are {[jsonable(v) for v in labels[:EXAMPLES]]}"
                + quoted,
                file=spec.path,
                field="evaluate.positive_class",
                hint="write the label as it appears in the data",
            )


def row_id_hashes(frame: pd.DataFrame, spec: PipelineSpec) -> Any:
    """64-bit hashes of the row ids (the id column, else the row index labels)."""
    import pandas as pd

    ids = frame[spec.id_column] if spec.id_column in frame.columns else frame.index.to_series()
    # Ids are (nearly) unique: encoding them as categories first would only add a pass.
    return pd.util.hash_pandas_object(ids, index=False, categorize=False).to_numpy()


def _sorted_digest(hashes: Any) -> str:
    import numpy as np

    return sha256_bytes(np.sort(hashes).astype("<u8").tobytes())


def rows_digest(frame: pd.DataFrame, spec: PipelineSpec) -> str:
    """sha256 of the sorted 64-bit hashes of the row ids: which rows, whatever their order."""
    return _sorted_digest(row_id_hashes(frame, spec))


def split_summary(spec: PipelineSpec, train: pd.DataFrame, test: pd.DataFrame) -> dict[str, Any]:
    """What evaluate and report state about the split: sizes, settings, row-id digests."""
    return summarise_split(
        spec, len(train), len(test), row_id_hashes(train, spec), row_id_hashes(test, spec)
    )


def summarise_split(
    spec: PipelineSpec, train_rows: int, test_rows: int, train_ids: Any, test_ids: Any
) -> dict[str, Any]:
    return {
        "train_rows": train_rows,
        "test_rows": test_rows,
        "test_fraction": spec.test_fraction,
        "seed": spec.split_seed,
        "stratify": spec.stratify,
        "train_ids_sha256": _sorted_digest(train_ids),
        "test_ids_sha256": _sorted_digest(test_ids),
    }


def max_duplicate_share(spec: PipelineSpec) -> float:
    """`data.split.max_duplicate_share`: the share of test rows that may repeat a train row."""
    split_doc = (spec.raw.get("data") or {}).get("split") or {}
    return float(split_doc.get("max_duplicate_share", DEFAULT_MAX_DUPLICATE_SHARE))


def leakage_check(
    frame: pd.DataFrame, train: Any, test: Any, spec: PipelineSpec, *, id_hashes: Any = None
) -> dict[str, Any]:
    """Test rows that training also saw, for the rows at positions `train` and `test`.

    A shared id (`data.id_column`) is always leakage. A test row equal to a train row
    in every column but the id (features and target) is a duplicate: natural data with
    a few discrete columns repeats by chance, so duplicates fail the check only above
    `data.split.max_duplicate_share` of the test rows; they are always counted.
    Each side is one vectorised pass of 64-bit row hashes (NaN equals NaN, as in a file);
    a shared id is confirmed on the values themselves, so a hash collision never fails a run.
    """
    import numpy as np
    import pandas as pd

    id_col = spec.id_column if spec.id_column in frame.columns else None
    result: dict[str, Any] = {"id_column": id_col}
    leaked = np.zeros(len(test), dtype=bool)
    if id_col is not None:
        ids = row_id_hashes(frame, spec) if id_hashes is None else id_hashes
        maybe = np.flatnonzero(_isin(ids[test], ids[train]))
        if len(maybe):  # confirm on the values: equal hashes of different ids are not leakage
            column = frame[id_col]
            twins = train[np.isin(ids[train], ids[test[maybe]])]
            maybe = maybe[column.iloc[test[maybe]].isin(column.iloc[twins]).to_numpy()]
        leaked[maybe] = True
        result["by_id"] = len(maybe)
        result["id_examples"] = [jsonable(v) for v in frame[id_col].iloc[test[maybe[:EXAMPLES]]]]
    compared = [c for c in frame.columns if c != id_col]
    rows = pd.util.hash_pandas_object(frame[compared], index=False).to_numpy()
    dup = np.flatnonzero(_isin(rows[test], rows[train]))
    del rows
    leaked[dup] = True
    share = len(dup) / len(test) if len(test) else 0.0
    limit = max_duplicate_share(spec)
    shown = test[dup[:EXAMPLES]]
    examples = frame[id_col].iloc[shown] if id_col else frame.index[shown]
    result.update(
        by_features=len(dup),
        compared_columns=len(compared),
        duplicate_share=round(share, 6),
        max_duplicate_share=limit,
        feature_examples=[jsonable(v) for v in examples],
        leaked_rows=int(leaked.sum()),
        passed=not result.get("by_id") and share <= limit,
    )
    return result


def _isin(values: Any, pool: Any) -> Any:
    """A boolean mask: which of the hashes `values` occur in `pool` (one hash-table pass)."""
    import pandas as pd

    return pd.Series(values, copy=False).isin(pool).to_numpy()


# -- the command -----------------------------------------------------------------
