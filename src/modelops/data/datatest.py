"""`modelops data-test`: a model's data through every check at once.

Schema (pandera, all failures grouped), pinned digest, profile, the train/test
split and the leakage check; see `modelops.data` for the parts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelops.data.checks import run_schema
from modelops.data.profile import profile
from modelops.data.read import check_pinned_digest, data_digest, load_frame, resolve_data_path
from modelops.data.split import leakage_check, row_id_hashes, split_positions, summarise_split
from modelops.errors import DataError, SpecError
from modelops.results import CommandResult

if TYPE_CHECKING:
    from modelops.project import Project


@dataclass
class DataTestResult(CommandResult):
    """What `run_data_test` found: file, sha256, profile, schema, split and leakage."""

    @property
    def passed(self) -> bool:
        """Every check passed (schema, and the split's leakage check)."""
        return bool(self.data["passed"])

    @property
    def sha256(self) -> str:
        return str(self.data["sha256"])


def run_data_test(project: Project, model: str, *, data: Path | None = None) -> DataTestResult:
    """Test MODEL's data (the spec's file, or `data`): schema, digest, profile, split, leakage.

    The result is complete even when a check fails; its `error` says what failed.
    """
    import pandera.pandas as pa

    from modelops.modelapi import import_object
    from modelops.spec import load_pipeline

    spec = load_pipeline(project, model)
    override = data
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
    if override is None:
        check_pinned_digest(spec, digest, display=display)
    try:
        report = run_schema(schema, frame, display)
    except SpecError as exc:
        exc.file = str(spec.path)
        raise
    stats = profile(frame, spec.target, regression=spec.is_regression)
    payload: dict[str, Any] = {
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
        ids = row_id_hashes(frame, spec)
        payload["split"] = summarise_split(spec, len(train), len(test), ids[train], ids[test])
        leak = leakage_check(frame, train, test, spec, id_hashes=ids)
        del ids
        payload["leakage"] = leak
        summary += [
            f"  schema: {report.checks} checks passed",
            (
                f"  target distribution: {_distribution_text(stats['target_distribution'])}"
                if spec.is_regression
                else f"  class balance: {_balance_text(stats['class_balance'])}"
            ),
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
        # The error already names the column (its field); say the rest once.
        what = first["message"].removeprefix(f"column '{first['column']}'").lstrip(": ")
        error = DataError(
            f"{what}{more}",
            file=display,
            field=first["column"],
            hint="all failures are listed above and in the data-test result; "
            f"fix the data or the schema ({spec.data_schema})",
        )
    payload["passed"] = error is None
    return DataTestResult(
        command="data-test",
        subject=spec.name,
        data=payload,
        summary=summary,
        exit_code=0 if error is None else error.exit_code,
        error=error,
    )


def _balance_text(balance: dict[str, Any] | None) -> str:
    if not balance:
        return "n/a (no target column)"
    return ", ".join(f"{k}: {v['fraction']:.1%}" for k, v in balance.items())


def _distribution_text(distribution: dict[str, Any] | None) -> str:
    if not distribution or not distribution.get("count"):
        return "n/a (no numeric target values)"
    d = distribution
    return (
        f"mean {d['mean']:.4g}, std {d['std']:.4g}, min {d['min']:.4g}, "
        f"median {d['median']:.4g}, max {d['max']:.4g}"
        + (f", {d['zeros']} zero(s)" if d.get("zeros") else "")
    )


def _examples_text(examples: list[Any]) -> str:
    return ", ".join(repr(v) for v in examples)


def _missing_text(missing: dict[str, int]) -> str:
    if not missing:
        return "none"
    return ", ".join(f"{k} {v}" for k, v in missing.items())
