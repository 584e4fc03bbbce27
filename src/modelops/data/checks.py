"""Data checks: run a pandera schema and group every failure by column and check, with examples."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelops.errors import SpecError

if TYPE_CHECKING:
    import pandas as pd

EXAMPLES = 5  # example rows shown per failing check
_CHECK_TEXT = 80  # long checks (isin with many values) are cut in messages


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
            example: dict[str, Any] = {"row": index, "value": jsonable(value)}
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


def jsonable(value: Any) -> Any:
    """A failure case as JSON: numbers and strings as they are, NaN as None, others as text."""
    import math

    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool | int | float | str):
        return value
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        return jsonable(item())
    return str(value)
