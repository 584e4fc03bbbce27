"""Data: loading files, pandera data tests, digests, a deterministic split and a leakage check.

`modelops data-test MODEL` runs them all. `train`, `evaluate` and `report` use
`load_frame`, `data_digest`, `split` and `split_summary` so that every command
reads the same rows and can say which ones it used. The data test itself works on
row positions and 64-bit row hashes: no copy of the frame beyond pandera's own.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelops.errors import DataError, InputError, SpecError
from modelops.fsutil import sha256_bytes, sha256_file
from modelops.results import CommandResult

if TYPE_CHECKING:
    import argparse

    import pandas as pd

    from modelops.project import Project
    from modelops.spec import PipelineSpec

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
EXAMPLES = 5  # example rows shown per failing check
_CHECK_TEXT = 80  # long checks (isin with many values) are cut in messages


# -- loading ---------------------------------------------------------------


def resolve_data_path(project: Project, spec: PipelineSpec, override: Path | None = None) -> Path:
    """The data file a command reads: `--data PATH` (relative to cwd) or the spec's path.

    `s3://` data is downloaded once into the state folder and verified against
    the spec's `data.sha256` (required for remote data) before anything reads it.
    """
    if override is not None:
        return override.resolve()
    if spec.is_remote_data:
        return fetch_remote(project, spec)
    return spec.data_file(project)


def fetch_remote(project: Project, spec: PipelineSpec) -> Path:
    """`.modelops/data/<sha256>/<name>`: the S3 object, downloaded and digest-checked.

    The cache is keyed by the pinned digest, so a later run reads the same bytes
    without the network; a download whose sha256 differs is discarded, never cached.
    Endpoint: `MODELOPS_S3_ENDPOINT_URL` or `AWS_ENDPOINT_URL` (S3-compatible stores).
    """
    import tempfile

    from modelops.errors import IntegrityError

    expected = spec.data_sha256 or ""
    bucket, _, key = spec.data_path.removeprefix("s3://").partition("/")
    cached = project.state_dir / "data" / expected / (Path(key).name or "data")
    if cached.is_file() and sha256_file(cached) == expected:
        return cached
    cached.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=cached.parent, prefix=f".{cached.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            _download(bucket, key, fh, spec)
        got = sha256_file(tmp)
        if got != expected:
            raise IntegrityError(
                f"downloaded object has sha256 {got[:12]}…, the spec pins {expected[:12]}…",
                file=spec.data_path,
                field="data.sha256",
                hint=f"the object changed; if that is intended, update data.sha256 in {spec.path}",
            )
        tmp.replace(cached)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return cached


def _download(bucket: str, key: str, fh: Any, spec: PipelineSpec) -> None:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    from modelops.errors import ServiceError

    endpoint = os.environ.get("MODELOPS_S3_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL")
    # Fail fast when the endpoint is gone: a CI job should report, not hang.
    config = Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 2})
    client = boto3.client("s3", endpoint_url=endpoint, config=config)
    try:
        client.download_fileobj(bucket, key, fh)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", "?"))
        if code in ("404", "NoSuchKey", "NoSuchBucket"):
            raise InputError(
                "data object not found",
                file=spec.data_path,
                field="data.path",
                hint="check the bucket and key in the spec",
            ) from None
        raise ServiceError(
            f"downloading the data failed ({code})",
            file=spec.data_path,
            hint="check the credentials and the bucket policy",
        ) from None
    except BotoCoreError as exc:
        raise ServiceError(
            f"downloading the data failed: {exc}",
            file=spec.data_path,
            hint="is the S3 endpoint reachable? "
            "(MODELOPS_S3_ENDPOINT_URL selects an S3-compatible store)",
        ) from None


def load_frame(
    path: Path, *, display: str | None = None, allow_empty: bool = False
) -> pd.DataFrame:
    """Read a CSV or Parquet file; every way it can fail becomes one clear error.

    `display` is how the file is named in messages (e.g. relative to the project).
    """
    import pandas as pd

    name = display or str(path)
    kind = FORMATS.get(path.suffix.lower())
    _check_readable(path, name)
    if kind is None:
        raise InputError(
            f"unsupported file type '{path.suffix or '(none)'}'",
            file=name,
            hint=f"use one of {', '.join(sorted(FORMATS))}",
        )
    if path.stat().st_size == 0:
        raise DataError("file is empty", file=name, hint="expected a header row and data rows")
    try:
        frame = pd.read_csv(path) if kind == "csv" else pd.read_parquet(path)
    except pd.errors.EmptyDataError:
        raise DataError(
            "file has no columns (blank)", file=name, hint="expected a header row and data rows"
        ) from None
    except pd.errors.ParserError as exc:
        text = str(exc).strip()
        match = re.search(r"(?:line|row) (\d+)", text)
        raise DataError(
            f"does not parse as CSV: {text.splitlines()[-1]}",
            file=name,
            line=int(match.group(1)) if match else None,
            hint="every row needs as many fields as the header; quote fields with commas",
        ) from None
    except UnicodeDecodeError as exc:
        raise DataError(
            f"is not UTF-8 text ({exc.reason} at byte {exc.start})",
            file=name,
            hint="save the file as UTF-8 CSV",
        ) from None
    except Exception as exc:  # pyarrow raises several unrelated classes for a bad Parquet file
        if kind == "csv":
            raise
        raise DataError(
            f"does not read as Parquet: {type(exc).__name__}: {exc}", file=name
        ) from None
    if kind == "csv" and len(frame.columns) == 1:
        header = str(frame.columns[0])
        for sep, label in ((";", "semicolons"), ("\t", "tabs"), ("|", "pipes")):
            if sep in header:
                raise DataError(
                    f"the header is one column separated by {label}, expected commas",
                    file=name,
                    line=1,
                    hint="save the file as comma-separated CSV",
                )
    if frame.empty and not allow_empty:
        raise DataError("file has a header but no data rows", file=name)
    return frame


def _check_readable(path: Path, name: str) -> None:
    try:
        with path.open("rb"):
            pass
    except FileNotFoundError:
        raise InputError("data file not found", file=name, hint="check the path") from None
    except IsADirectoryError:
        raise InputError("is a directory, expected a data file", file=name) from None
    except NotADirectoryError:
        raise InputError(
            "path goes through a file as if it were a folder", file=name, hint="check the path"
        ) from None
    except PermissionError:
        raise InputError(
            "data file is not readable (permission denied)",
            file=name,
            hint="check the file's permissions",
        ) from None
    if not path.is_file():  # a FIFO or device: reading it could block forever
        raise InputError("is not a regular file", file=name)


def data_digest(path: str | Path) -> str:
    """sha256 of the file's bytes (what `data.sha256` pins and runs record)."""
    if str(path).startswith("s3://"):
        raise InputError(
            "cannot digest remote data in place",
            file=str(path),
            hint="fetch it first (resolve_data_path) and digest the local copy",
        )
    return sha256_file(Path(path))


# -- schema tests ------------------------------------------------------------


@dataclass
class SchemaReport:
    """The outcome of a pandera schema run: every failure, grouped by column and check."""

    checks: int
    failures: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def count_checks(schema: Any) -> int:
    """How many checks a schema holds: per column its type, checks, nullability, uniqueness."""
    total = len(schema.checks) + (1 if schema.unique else 0)
    for column in schema.columns.values():
        total += 2 + len(column.checks) + (1 if column.unique else 0)
    return total


def run_schema(schema: Any, df: pd.DataFrame, file: str) -> SchemaReport:
    """Validate lazily so that all failures come back at once, each with examples.

    A failure is `{column, check, message, failing_rows, examples: [{row, line?, value}]}`;
    `failing_rows` is None when the check is about the column as a whole (missing,
    unexpected, of the wrong type). `line` is the CSV line of a row (header = line 1).
    """
    import pandera.errors

    try:
        schema.validate(df, lazy=True)
    except pandera.errors.SchemaErrors as exc:
        failures = _group_failures(
            exc.failure_cases, schema, df, is_csv=file.lower().endswith(".csv")
        )
        return SchemaReport(checks=count_checks(schema), failures=failures)
    except Exception as exc:  # the team's schema itself is broken, not the data
        raise SpecError(
            f"running the schema failed: {type(exc).__name__}: {exc}",
            field="data.schema",
            hint="fix the pandera schema",
        ) from None
    return SchemaReport(checks=count_checks(schema))


def _group_failures(
    cases: pd.DataFrame, schema: Any, df: pd.DataFrame, *, is_csv: bool
) -> list[dict[str, Any]]:
    import pandas as pd

    order = {name: i for i, name in enumerate(schema.columns)}
    # pandera reports a missing or unexpected column with the column name as the failure case.
    whole_column = {
        "column_in_dataframe": "column is missing",
        "column_in_schema": "unexpected column (not in the schema)",
    }
    dtype_columns = {
        str(row.column) for row in cases.itertuples() if str(row.check).startswith("dtype(")
    }
    groups: dict[tuple[str | None, str], list[tuple[Any, Any]]] = {}
    for row in cases.itertuples():
        check = str(row.check)
        column = str(row.failure_case) if check in whole_column else row.column
        column = (
            None
            if column is None or (not isinstance(column, str) and pd.isna(column))
            else str(column)
        )
        index = None if row.index is None or pd.isna(row.index) else int(row.index)
        if check.startswith("dtype(") and column in df.columns:
            # pandera names the rows of some type errors but not others (3.5 in an int
            # column); find the offending values the same way for every column.
            groups[(column, check)] = _type_offenders(df[column], check)
            continue
        # A check that could not run because the column has the wrong type adds nothing.
        if column in dtype_columns and not check.startswith("dtype(") and index is None:
            continue
        groups.setdefault((column, check), []).append((index, row.failure_case))

    failures = []
    for (column, check), items in groups.items():
        if check.startswith("dtype(") and not items:
            if column is not None and _only_nulls_break_type(df[column], check):
                continue  # the empty cells are the not_nullable failure; don't count them twice
            items = [(None, str(df[column].dtype) if column in df.columns else "?")]
        rows = sorted({i for i, _ in items if i is not None})
        examples = []
        for index, value in sorted(
            ((i, v) for i, v in items if i is not None), key=lambda iv: iv[0]
        )[:EXAMPLES]:
            example: dict[str, Any] = {"row": index, "value": _jsonable(value)}
            if is_csv:
                example["line"] = index + 2
            examples.append(example)
        failures.append(
            {
                "column": column,
                "check": check,
                "failing_rows": len(rows) if rows else None,
                "examples": examples,
                "message": _describe(column, check, rows, examples, items, whole_column),
            }
        )
    failures.sort(
        key=lambda f: (
            f["check"] not in whole_column,
            order.get(f["column"], len(order)),
            f["check"],
        )
    )
    return failures


def _type_offenders(column: pd.Series, check: str) -> list[tuple[Any, Any]]:
    """(row, value) of the non-empty cells that do not fit a numeric column's type."""
    import pandas as pd

    expected = check.removeprefix("dtype(")[:-1].strip("'")
    if not expected.startswith(("int", "float")):
        return []
    present = column.dropna()
    numbers = pd.to_numeric(present, errors="coerce")
    bad = numbers.isna()
    if expected.startswith("int"):
        bad |= numbers.notna() & (numbers % 1 != 0)
    return [(int(i), v) for i, v in present[bad].items()]


def _only_nulls_break_type(column: pd.Series, check: str) -> bool:
    """An integer column read as float only because it has empty cells."""
    import pandas as pd

    expected = check.removeprefix("dtype(")[:-1].strip("'")
    present = column.dropna()
    return (
        bool(column.isna().any())
        and expected.startswith("int")
        and pd.api.types.is_numeric_dtype(present)
        and bool((present % 1 == 0).all())
    )


def _describe(
    column: str | None,
    check: str,
    rows: list[int],
    examples: list[dict[str, Any]],
    items: list[tuple[Any, Any]],
    whole_column: dict[str, str],
) -> str:
    subject = f"column '{column}'" if column else "the table"
    if check in whole_column:
        return f"{subject}: {whole_column[check]}"
    short = check if len(check) <= _CHECK_TEXT else check[: _CHECK_TEXT - 1] + "…"
    if not rows:  # about the column as a whole, e.g. its dtype
        found = ", ".join(str(v) for _, v in items[:EXAMPLES])
        if check.startswith("dtype("):
            expected = check.removeprefix("dtype(")[:-1].strip("'")
            return f"{subject} has type {found}, expected {expected}"
        return f"{subject} fails {short} ({found})"
    where = "line" if examples and "line" in examples[0] else "row"
    shown = ", ".join(
        f"{where} {e[where]}: {'(empty)' if e['value'] is None else repr(e['value'])}"
        for e in examples
    )
    plural = "row" if len(rows) == 1 else "rows"
    if check.startswith("dtype("):
        expected = check.removeprefix("dtype(")[:-1].strip("'")
        return f"{subject} is not {expected} in {len(rows)} {plural} (e.g. {shown})"
    return f"{subject} fails {short} in {len(rows)} {plural} (e.g. {shown})"


def _jsonable(value: Any) -> Any:
    """A failure case as JSON: numbers and strings as they are, NaN as None, others as text."""
    import math

    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool | int | float | str):
        return value
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        return _jsonable(item())
    return str(value)


# -- profile, split, leakage ---------------------------------------------------

DEFAULT_MAX_DUPLICATE_SHARE = 0.01


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


def split_positions(spec: PipelineSpec, df: pd.DataFrame) -> tuple[Any, Any]:
    """Train and test row positions, the same for the same data and spec (seed, fraction, stratify).

    The rows are exactly those of scikit-learn's `train_test_split` (ShuffleSplit or
    StratifiedShuffleSplit, `random_state=seed`), computed here with numpy so that a
    data test neither imports scikit-learn (a second at start) nor copies the frame.
    """
    import math

    import numpy as np

    _require_columns(spec, df)
    n = len(df)
    n_test = math.ceil(spec.test_fraction * n)
    n_train = n - n_test
    if n_train <= 0 or n_test <= 0:
        raise _split_error(f"{n} row(s) leave nothing to train or test on")
    rng = np.random.RandomState(spec.split_seed)
    if not spec.stratify:
        order = rng.permutation(n)
        return order[n_test:], order[:n_test]
    y = df[spec.target].to_numpy()
    try:
        classes, y_indices, class_counts = np.unique(y, return_inverse=True, return_counts=True)
    except TypeError as exc:  # mixed types in the target, e.g. numbers and text
        raise _split_error(f"the target's values cannot be ordered ({exc})") from None
    if class_counts.min() < 2:
        rare = classes[class_counts < 2].tolist()
        raise _split_error(f"the least populated classes have only 1 member: {rare}")
    if n_train < len(classes) or n_test < len(classes):
        raise _split_error(
            f"train {n_train} / test {n_test} rows cannot hold each of {len(classes)} classes"
        )
    class_indices = np.split(np.argsort(y_indices, kind="stable"), np.cumsum(class_counts)[:-1])
    n_i = _approximate_mode(class_counts, n_train, rng)
    t_i = _approximate_mode(class_counts - n_i, n_test, rng)
    train_parts, test_parts = [], []
    for i, count in enumerate(class_counts):
        shuffled = class_indices[i].take(rng.permutation(count), mode="clip")
        train_parts.append(shuffled[: n_i[i]])
        test_parts.append(shuffled[n_i[i] : n_i[i] + t_i[i]])
    train = rng.permutation(np.concatenate(train_parts))
    test = rng.permutation(np.concatenate(test_parts))
    return train, test


def _approximate_mode(class_counts: Any, n_draws: int, rng: Any) -> Any:
    """Rows per class for `n_draws` draws; ties broken by `rng` (scikit-learn's algorithm)."""
    import numpy as np

    continuous = class_counts / class_counts.sum() * n_draws
    floored = np.floor(continuous)
    need_to_add = int(n_draws - floored.sum())
    if need_to_add > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (inds,) = np.where(remainder == value)
            add_now = min(len(inds), need_to_add)
            inds = rng.choice(inds, size=add_now, replace=False)
            floored[inds] += 1
            need_to_add -= add_now
            if need_to_add == 0:
                break
    return floored.astype(int)


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


def _id_hashes(frame: pd.DataFrame, spec: PipelineSpec) -> Any:
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
    return _sorted_digest(_id_hashes(frame, spec))


def split_summary(spec: PipelineSpec, train: pd.DataFrame, test: pd.DataFrame) -> dict[str, Any]:
    """What evaluate and report state about the split: sizes, settings, row-id digests."""
    return _summary(spec, len(train), len(test), _id_hashes(train, spec), _id_hashes(test, spec))


def _summary(
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
        ids = _id_hashes(frame, spec) if id_hashes is None else id_hashes
        maybe = np.flatnonzero(_isin(ids[test], ids[train]))
        if len(maybe):  # confirm on the values: equal hashes of different ids are not leakage
            column = frame[id_col]
            twins = train[np.isin(ids[train], ids[test[maybe]])]
            maybe = maybe[column.iloc[test[maybe]].isin(column.iloc[twins]).to_numpy()]
        leaked[maybe] = True
        result["by_id"] = len(maybe)
        result["id_examples"] = [_jsonable(v) for v in frame[id_col].iloc[test[maybe[:EXAMPLES]]]]
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
        feature_examples=[_jsonable(v) for v in examples],
        leaked_rows=int(leaked.sum()),
        passed=not result.get("by_id") and share <= limit,
    )
    return result


def _isin(values: Any, pool: Any) -> Any:
    """A boolean mask: which of the hashes `values` occur in `pool` (one hash-table pass)."""
    import pandas as pd

    return pd.Series(values, copy=False).isin(pool).to_numpy()


# -- the command -----------------------------------------------------------------


def cli_data_test(project: Project, args: argparse.Namespace) -> CommandResult:
    """`modelops data-test MODEL [--data PATH]`."""
    import pandera.pandas as pa

    from modelops.modelapi import import_object
    from modelops.spec import load_pipeline

    spec = load_pipeline(project, args.model)
    override: Path | None = getattr(args, "data", None)
    path = resolve_data_path(project, spec, override)
    display = project.relative(path) if override is not None else spec.data_path
    schema = import_object(project, spec.data_schema, file=spec.path, field_name="data.schema")
    if not isinstance(schema, pa.DataFrameSchema):
        raise SpecError(
            f"'{spec.data_schema}' is a {type(schema).__name__}, not a pandera DataFrameSchema",
            file=spec.path,
            field="data.schema",
        )
    # The digest streams the file in a thread while pandas parses it (both release the
    # GIL), so pinning the bytes costs no extra pass of wall time on a free core.
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(data_digest, path)
        frame = load_frame(path, display=display)
        digest = pending.result()
    if override is None and spec.data_sha256 and digest != spec.data_sha256:
        raise DataError(
            f"sha256 {digest[:12]}… differs from the pinned {spec.data_sha256[:12]}…",
            file=display,
            field="data.sha256",
            hint=f"if the change is intended, update data.sha256 in {spec.path}",
        )
    try:
        report = run_schema(schema, frame, display)
    except SpecError as exc:
        exc.file = str(spec.path)
        raise
    stats = profile(frame, spec.target)
    data: dict[str, Any] = {
        "model": spec.name,
        "file": display,
        "sha256": digest,
        "profile": stats,
        "schema": {
            "name": spec.data_schema,
            "checks": report.checks,
            "passed": report.passed,
            "failures": report.failures,
        },
        "split": None,
        "leakage": None,
    }
    summary = [
        f"data-test {spec.name}: {display}",
        f"  rows {stats['rows']}, columns {stats['columns']}, sha256 {digest[:12]}…",
    ]
    error: DataError | None = None
    if report.passed:
        try:
            train, test = split_positions(spec, frame)
        except DataError as exc:
            exc.file = str(spec.path)
            raise
        ids = _id_hashes(frame, spec)
        data["split"] = _summary(spec, len(train), len(test), ids[train], ids[test])
        leak = leakage_check(frame, train, test, spec, id_hashes=ids)
        del ids
        data["leakage"] = leak
        summary += [
            f"  schema: {report.checks} checks passed",
            f"  class balance: {_balance_text(stats['class_balance'])}",
            f"  missing values: {_missing_text(stats['missing'])}",
            f"  split: train {len(train)} / test {len(test)} (seed {spec.split_seed}"
            f"{', stratified' if spec.stratify else ''})",
            f"  leakage: {leak.get('by_id', 0)} test rows share an id with training; "
            f"{leak['by_features']} ({leak['duplicate_share']:.2%}) repeat a training row "
            f"(limit {leak['max_duplicate_share']:.2%})"
            + (f", e.g. {_examples_text(leak['feature_examples'])}" if leak["by_features"] else ""),
        ]
        if leak.get("by_id"):
            error = DataError(
                f"{leak['by_id']} test rows share an id with training rows "
                f"(e.g. {_examples_text(leak['id_examples'])})",
                file=display,
                field=leak["id_column"],
                hint="each id must be in one split only; remove the repeated ids",
            )
        elif not leak["passed"]:
            error = DataError(
                f"{leak['by_features']} test rows ({leak['duplicate_share']:.2%}) repeat a "
                f"training row in every column (e.g. {_examples_text(leak['feature_examples'])}), "
                f"more than data.split.max_duplicate_share {leak['max_duplicate_share']:.2%}",
                file=display,
                field="data.split.max_duplicate_share",
                hint="remove the duplicate rows, or raise the limit if they are natural",
            )
    else:
        failures = report.failures
        summary.append(f"  schema: {len(failures)} failing check(s) of {report.checks}:")
        summary += [f"    - {f['message']}" for f in failures]
        first = failures[0]
        more = f"; {len(failures) - 1} more failing check(s)" if len(failures) > 1 else ""
        result_path = getattr(args, "result", None) or (
            project.results_dir(spec.name) / "data-test.json"
        )
        # The error already names the column (its field); say the rest once.
        what = first["message"].removeprefix(f"column '{first['column']}'").lstrip(": ")
        error = DataError(
            f"{what}{more}",
            file=display,
            field=first["column"],
            hint=f"all failures are listed above and in {project.relative(Path(result_path))}; "
            f"fix the data or the schema ({spec.data_schema})",
        )
    data["passed"] = error is None
    return CommandResult(
        command="data-test",
        subject=spec.name,
        data=data,
        summary=summary,
        exit_code=0 if error is None else error.exit_code,
        error=error,
    )


def _balance_text(balance: dict[str, Any] | None) -> str:
    if not balance:
        return "n/a (no target column)"
    return ", ".join(f"{k}: {v['fraction']:.1%}" for k, v in balance.items())


def _examples_text(examples: list[Any]) -> str:
    return ", ".join(repr(v) for v in examples)


def _missing_text(missing: dict[str, int]) -> str:
    if not missing:
        return "none"
    return ", ".join(f"{k} {v}" for k, v in missing.items())
