"""`modelops data-test` and the data library: bundled data, bad files, schema failures, leakage."""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from modelops.cli import main
from modelops.fsutil import sha256_file

REPO = Path(__file__).resolve().parents[2]
CHURN_CSV = REPO / "data" / "churn" / "customers.csv"
DIABETES_CSV = REPO / "data" / "diabetes" / "diabetes.csv"
DIGITS_CSV = REPO / "data" / "digits" / "digits.csv"


@pytest.fixture
def models_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Import the repository's model packages (generators, schemas) in-process."""
    monkeypatch.syspath_prepend(str(REPO / "src"))


def _rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def _write_rows(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)
    return path


def _data_test(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["data-test", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _assert_refused(code: int, err: str, *names: str) -> None:
    assert code == 2
    assert err.startswith("error: ")
    assert "Traceback" not in err
    for name in names:
        assert name in err


# -- the bundled data is what its generator writes -------------------------------


@pytest.mark.usefixtures("models_on_path")
def test_churn_csv_is_reproduced_by_its_generator(tmp_path: Path) -> None:
    """The committed churn CSV is byte-identical to a fresh run of the seeded generator."""
    from models.churn.generate import main as generate

    assert generate([str(tmp_path / "customers.csv")]) == 0
    assert sha256_file(tmp_path / "customers.csv") == sha256_file(CHURN_CSV)


@pytest.mark.usefixtures("models_on_path")
def test_digits_csv_is_reproduced_by_its_exporter(tmp_path: Path) -> None:
    """The committed digits CSV is byte-identical to a fresh export of scikit-learn's copy."""
    from models.digits.export import main as export

    assert export([str(tmp_path / "digits.csv")]) == 0
    assert sha256_file(tmp_path / "digits.csv") == sha256_file(DIGITS_CSV)


@pytest.mark.usefixtures("models_on_path")
def test_diabetes_csv_is_reproduced_by_its_exporter(tmp_path: Path) -> None:
    """The committed diabetes CSV is byte-identical to a fresh export of scikit-learn's copy,
    and its sha256 is the one the spec pins."""
    from modelops.project import Project
    from modelops.spec import load_pipeline
    from models.diabetes.export import main as export

    assert export([str(tmp_path / "diabetes.csv")]) == 0
    assert sha256_file(tmp_path / "diabetes.csv") == sha256_file(DIABETES_CSV)
    assert load_pipeline(Project(REPO), "diabetes").data_sha256 == sha256_file(DIABETES_CSV)


# -- the happy path ------------------------------------------------------------------


@pytest.mark.parametrize("model", ["churn", "digits", "diabetes"])
def test_bundled_data_passes_and_result_is_written(
    project_copy: Path, capsys: pytest.CaptureFixture[str], model: str
) -> None:
    """The example data passes its schema with no leakage; the JSON result says so."""
    code, out, _ = _data_test(capsys, model)
    assert code == 0
    assert "checks passed" in out
    assert "leakage: 0" in out
    result = json.loads((project_copy / f".modelops/results/{model}/data-test.json").read_text())
    data_file = project_copy / result["file"]
    assert result["passed"] is True
    assert result["sha256"] == sha256_file(data_file)
    assert result["leakage"]["leaked_rows"] == 0
    split = result["split"]
    assert split["train_rows"] + split["test_rows"] == result["profile"]["rows"]
    assert split["train_ids_sha256"] != split["test_ids_sha256"]
    if model == "diabetes":  # regression: the target's distribution, no class balance
        distribution = result["profile"]["target_distribution"]
        assert result["profile"]["class_balance"] is None
        assert distribution["count"] == result["profile"]["rows"] == 442
        assert distribution["min"] == 25.0 and distribution["max"] == 346.0
        assert distribution["zeros"] == 0
        return
    balance = result["profile"]["class_balance"]
    assert sum(v["count"] for v in balance.values()) == result["profile"]["rows"]


# -- bad files ---------------------------------------------------------------------------


def test_malformed_csv_names_file_and_line(
    project_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A row with extra fields is refused with the file and the CSV line."""
    lines = CHURN_CSV.read_text().splitlines()
    lines[6] += ",surplus,fields"
    bad = project_copy / "broken.csv"
    bad.write_text("\n".join(lines) + "\n")
    code, _, err = _data_test(capsys, "churn", "--data", str(bad))
    _assert_refused(code, err, "broken.csv:7", "does not parse as CSV")


def test_empty_file_is_refused(project_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A zero-byte data file is refused as empty, naming the file."""
    (project_copy / "empty.csv").touch()
    code, _, err = _data_test(capsys, "churn", "--data", "empty.csv")
    _assert_refused(code, err, "empty.csv", "empty")


def test_header_only_file_is_refused(
    project_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A header with no rows is refused: there is nothing to test or train on."""
    header = CHURN_CSV.read_text().splitlines()[0]
    (project_copy / "header.csv").write_text(header + "\n")
    code, _, err = _data_test(capsys, "churn", "--data", "header.csv")
    _assert_refused(code, err, "header.csv", "no data rows")


def test_directory_is_refused(project_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A directory given as the data file is refused, naming it."""
    code, _, err = _data_test(capsys, "churn", "--data", "data/churn")
    _assert_refused(code, err, "data/churn", "is a directory")


def test_missing_file_is_refused(project_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A data path that does not exist is refused, naming it."""
    code, _, err = _data_test(capsys, "churn", "--data", "nowhere/customers.csv")
    _assert_refused(code, err, "nowhere/customers.csv", "not found")


def test_path_through_a_file_is_refused(
    project_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A path that treats a file as a folder cannot be read and says so."""
    code, _, err = _data_test(capsys, "churn", "--data", "data/churn/customers.csv/x.csv")
    _assert_refused(code, err, "customers.csv/x.csv")


@pytest.mark.skipif(
    sys.platform == "win32" or os.geteuid() == 0, reason="root reads files whatever their mode"
)
def test_unreadable_file_is_refused(project_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A data file without read permission is refused with a permission message."""
    locked = project_copy / "data" / "churn" / "customers.csv"
    locked.chmod(0)
    try:
        code, _, err = _data_test(capsys, "churn")
    finally:
        locked.chmod(0o644)
    _assert_refused(code, err, "customers.csv", "permission denied")


def test_unsupported_extension_is_refused(
    project_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A data file of an unknown type is refused with the supported ones listed."""
    (project_copy / "customers.xlsx").write_bytes(CHURN_CSV.read_bytes())
    code, _, err = _data_test(capsys, "churn", "--data", "customers.xlsx")
    _assert_refused(code, err, "customers.xlsx", ".csv", ".parquet")


def test_not_a_parquet_file_is_refused(
    project_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A CSV renamed to .parquet is refused as unreadable Parquet, not a traceback."""
    (project_copy / "customers.parquet").write_bytes(CHURN_CSV.read_bytes())
    code, _, err = _data_test(capsys, "churn", "--data", "customers.parquet")
    _assert_refused(code, err, "customers.parquet", "Parquet")


def test_parquet_file_is_tested_like_csv(
    project_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same data as Parquet passes the same schema."""
    import pandas as pd

    pd.read_csv(CHURN_CSV).to_parquet(project_copy / "customers.parquet")
    code, out, _ = _data_test(capsys, "churn", "--data", "customers.parquet")
    assert code == 0
    assert "checks passed" in out


def test_unknown_model_is_refused(project_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A model without a pipeline spec is refused, listing the known ones."""
    code, _, err = _data_test(capsys, "fraud")
    _assert_refused(code, err, "pipelines/fraud.yaml", "unknown model", "churn, diabetes, digits")


# -- schema failures ------------------------------------------------------------------


def _failures(project: Path, model: str = "churn") -> list[dict[str, object]]:
    result = json.loads((project / f".modelops/results/{model}/data-test.json").read_text())
    assert result["passed"] is False
    failures: list[dict[str, object]] = result["schema"]["failures"]
    return failures


def test_run_data_test_returns_failures_instead_of_raising(project_copy: Path) -> None:
    """The library call returns the complete result of failing data: passed False, the
    grouped failures, and the DataError (exit 2) as its error, for the caller to report."""
    from modelops.data.datatest import DataTestResult, run_data_test
    from modelops.errors import DataError
    from modelops.project import Project

    rows = _rows(CHURN_CSV)
    rows[1][5] = "-3"  # support_calls must not be negative
    bad = _write_rows(project_copy / "negative.csv", rows)
    result = run_data_test(Project(project_copy), "churn", data=bad)
    assert isinstance(result, DataTestResult)
    assert result.passed is False and result.exit_code == 2
    assert isinstance(result.error, DataError) and result.error.field == "support_calls"
    assert [f["column"] for f in result.data["schema"]["failures"]] == ["support_calls"]
    assert result.sha256 == sha256_file(bad)
    clean = run_data_test(Project(project_copy), "churn")
    assert clean.passed and clean.error is None and clean.data["leakage"]["passed"]


def test_missing_column_is_reported(project_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A data file without one of the schema's columns names that column."""
    rows = [r[:5] + r[6:] for r in _rows(CHURN_CSV)]  # drop support_calls
    bad = _write_rows(project_copy / "no_calls.csv", rows)
    code, _, err = _data_test(capsys, "churn", "--data", str(bad))
    _assert_refused(code, err, "no_calls.csv", "support_calls", "missing")
    assert [f["column"] for f in _failures(project_copy)] == ["support_calls"]


def test_wrong_type_is_reported_with_the_row(
    project_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Text in an integer column is reported with its column, line and value."""
    rows = _rows(CHURN_CSV)
    rows[10][1] = "ten"  # tenure_months
    bad = _write_rows(project_copy / "typed.csv", rows)
    code, _, err = _data_test(capsys, "churn", "--data", str(bad))
    _assert_refused(code, err, "typed.csv", "tenure_months", "is not int64")
    (failure,) = _failures(project_copy)
    assert failure["examples"] == [{"row": 9, "line": 11, "value": "ten"}]


def test_fraction_in_integer_column_is_reported_beside_empty_cells(
    project_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """3.5 in an int column is shown by line; an empty cell there is one not_nullable failure."""
    rows = _rows(CHURN_CSV)
    rows[3][1], rows[5][1] = "", "3.5"  # tenure_months
    bad = _write_rows(project_copy / "fraction.csv", rows)
    code, _, err = _data_test(capsys, "churn", "--data", str(bad))
    _assert_refused(code, err, "fraction.csv", "tenure_months", "is not int64", "line 6: 3.5")
    failures = {f["check"]: f for f in _failures(project_copy)}
    assert set(failures) == {"dtype('int64')", "not_nullable"}
    assert failures["not_nullable"]["examples"] == [{"row": 2, "line": 4, "value": None}]


def test_semicolon_separated_file_is_refused(
    project_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A CSV saved with semicolons is refused with that diagnosis, not ten missing columns."""
    (project_copy / "semi.csv").write_text(CHURN_CSV.read_text().replace(",", ";"))
    code, _, err = _data_test(capsys, "churn", "--data", "semi.csv")
    _assert_refused(code, err, "semi.csv:1", "semicolons")


def test_all_failures_are_reported_at_once(
    project_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Out-of-range values in several columns are all reported, with counts and examples."""
    rows = _rows(CHURN_CSV)
    rows[3][1], rows[5][1], rows[8][1] = "-4", "99", "120"  # tenure_months
    rows[7][3] = "9999.99"  # monthly_charges
    rows[9][2] = "weekly"  # contract
    rows[12][5] = "-1"  # support_calls
    bad = _write_rows(project_copy / "ranges.csv", rows)
    code, out, err = _data_test(capsys, "churn", "--data", str(bad))
    _assert_refused(code, err, "ranges.csv", "tenure_months", "3 more failing check(s)")
    by_column = {f["column"]: f for f in _failures(project_copy)}
    assert set(by_column) == {"tenure_months", "monthly_charges", "contract", "support_calls"}
    assert by_column["tenure_months"]["failing_rows"] == 3
    assert [e["value"] for e in by_column["tenure_months"]["examples"]] == [-4, 99, 120]
    assert by_column["contract"]["examples"] == [{"row": 8, "line": 10, "value": "weekly"}]
    for column in by_column:  # the summary lists every failure, not only the first
        assert column in out


def test_duplicate_ids_fail_the_schema(
    project_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two rows with one customer id fail the uniqueness check, both rows shown."""
    rows = _rows(CHURN_CSV)
    rows[4][0] = rows[2][0]
    bad = _write_rows(project_copy / "dups.csv", rows)
    code, _, err = _data_test(capsys, "churn", "--data", str(bad))
    _assert_refused(code, err, "dups.csv", "customer_id")
    (failure,) = _failures(project_copy)
    assert [e["line"] for e in failure["examples"]] == [3, 5]


def test_unknown_column_and_nulls_are_reported(
    project_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An extra column and an empty cell in a non-nullable column are both reported."""
    rows = _rows(DIGITS_CSV)
    rows[0].append("comment")
    for row in rows[1:]:
        row.append("ok")
    rows[2][-2] = ""  # label
    bad = _write_rows(project_copy / "digits_extra.csv", rows)
    code, _, err = _data_test(capsys, "digits", "--data", str(bad))
    _assert_refused(code, err, "digits_extra.csv")
    failures = _failures(project_copy, "digits")
    assert {f["column"] for f in failures} >= {"comment", "label"}


# -- leakage, split, pinned digests -------------------------------------------------


def test_many_duplicate_rows_are_leakage(
    project_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Rows repeated under new ids, above the allowed share of the test split, fail the test."""
    rows = _rows(DIGITS_CSV)
    copies = [[str(100_000 + i), *row[1:]] for i, row in enumerate(rows[1:201])]
    bad = _write_rows(project_copy / "repeated.csv", rows + copies)
    code, out, err = _data_test(capsys, "digits", "--data", str(bad))
    _assert_refused(code, err, "repeated.csv", "repeat a training row", "max_duplicate_share")
    result = json.loads((project_copy / ".modelops/results/digits/data-test.json").read_text())
    leak = result["leakage"]
    assert leak["by_id"] == 0
    assert leak["by_features"] > 0
    assert leak["duplicate_share"] > leak["max_duplicate_share"] == 0.01
    assert leak["leaked_rows"] == leak["by_features"]
    assert len(leak["feature_examples"]) == min(5, leak["by_features"])
    assert "leakage:" in out


def test_a_few_chance_duplicates_pass_and_are_reported(
    project_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Duplicate rows under the spec's max_duplicate_share are counted and shown, not failed."""
    spec_file = project_copy / "pipelines" / "digits.yaml"
    text = spec_file.read_text()
    assert "  split:\n" in text
    spec_file.write_text(text.replace("  split:\n", "  split:\n    max_duplicate_share: 0.5\n"))
    rows = _rows(DIGITS_CSV)
    copies = [[str(100_000 + i), *row[1:]] for i, row in enumerate(rows[1:201])]
    repeated = _write_rows(project_copy / "repeated.csv", rows + copies)
    code, out, _ = _data_test(capsys, "digits", "--data", str(repeated))
    assert code == 0
    leak = json.loads((project_copy / ".modelops/results/digits/data-test.json").read_text())[
        "leakage"
    ]
    assert 0 < leak["duplicate_share"] <= leak["max_duplicate_share"] == 0.5
    assert leak["passed"] is True
    assert "repeat a training row" in out and "e.g." in out


def _split_of(project_copy: Path, frame: Any) -> tuple[Any, Any, Any]:
    from modelops.data.split import split_positions
    from modelops.project import Project
    from modelops.spec import load_pipeline

    spec = load_pipeline(Project(project_copy), "churn")
    train, test = split_positions(spec, frame)
    return spec, train, test


def test_leakage_check_finds_shared_ids(project_copy: Path) -> None:
    """The same id on both sides is leakage even when the rows differ otherwise."""
    import pandas as pd

    from modelops.data.split import leakage_check

    frame = pd.read_csv(CHURN_CSV)
    spec, train, test = _split_of(project_copy, frame)
    shared = frame["customer_id"].iloc[train[5]]
    frame.loc[frame.index[test[0]], "customer_id"] = shared
    result = leakage_check(frame, train, test, spec)
    assert result["by_id"] == 1
    assert result["id_examples"] == [shared]
    assert result["by_features"] == 0
    assert result["passed"] is False


def test_leakage_check_counts_rows_equal_in_every_column_but_the_id(project_copy: Path) -> None:
    """A test row equal to a train row in features and target is a duplicate; one differing
    only in the target is not."""
    import pandas as pd

    from modelops.data.split import leakage_check

    frame = pd.read_csv(CHURN_CSV)
    spec, train, test = _split_of(project_copy, frame)
    columns = [c for c in frame.columns if c != "customer_id"]
    source, twin, near = train[0], test[0], test[1]
    frame.loc[frame.index[twin], columns] = frame.loc[frame.index[source], columns].to_numpy()
    frame.loc[frame.index[near], columns] = frame.loc[frame.index[source], columns].to_numpy()
    frame.loc[frame.index[near], "churned"] = 1 - frame["churned"].iloc[source]
    result = leakage_check(frame, train, test, spec)
    assert result["by_features"] == 1
    assert result["feature_examples"] == [frame["customer_id"].iloc[twin]]
    assert result["by_id"] == 0
    assert result["passed"] is True  # 1 of 1000 test rows is under the 1% default


def test_split_sizes_classes_and_seeds(project_copy: Path) -> None:
    """Per seed the split is the same rows every time, sized by test_fraction, stratified
    per class, disjoint and complete; another seed picks other rows."""
    import dataclasses

    import numpy as np
    import pandas as pd

    from modelops.data.split import split_positions

    frame = pd.read_csv(CHURN_CSV)
    spec, _, _ = _split_of(project_copy, frame)
    n = len(frame)
    for stratify in (True, False):
        spec = dataclasses.replace(spec, stratify=stratify)
        train, test = split_positions(spec, frame)
        again_train, again_test = split_positions(spec, frame.copy())
        assert list(train) == list(again_train) and list(test) == list(again_test)
        assert len(test) == int(np.ceil(spec.test_fraction * n)) and len(train) + len(test) == n
        assert set(train).isdisjoint(test) and set(train) | set(test) == set(range(n))
        other_train, _ = split_positions(dataclasses.replace(spec, split_seed=1), frame)
        assert set(other_train) != set(train)
    spec = dataclasses.replace(spec, stratify=True)
    _, test = split_positions(spec, frame)
    whole = frame["churned"].value_counts()
    picked = frame["churned"].iloc[test].value_counts()
    for label, count in whole.items():  # each class gets its share of the test rows, ±1
        assert abs(picked[label] - count * len(test) / n) <= 1


def test_a_class_too_rare_to_stratify_is_a_clear_error(project_copy: Path) -> None:
    """A class with one member cannot be stratified: a DataError naming the spec and data.split."""
    import pandas as pd

    from modelops.data.split import split
    from modelops.errors import DataError

    frame = pd.read_csv(CHURN_CSV)
    spec, _, _ = _split_of(project_copy, frame)
    frame.loc[frame.index[0], "churned"] = 7  # a third class with a single row
    with pytest.raises(DataError) as err:
        split(spec, frame)
    assert err.value.field == "data.split" and err.value.file == str(spec.path)
    assert "cannot split the data" in str(err.value)


def test_split_is_deterministic_and_stratified(project_copy: Path) -> None:
    """The same spec and data give the same rows; each class keeps its share in the test split."""
    import pandas as pd

    from modelops.data.split import rows_digest, split
    from modelops.project import Project
    from modelops.spec import load_pipeline

    spec = load_pipeline(Project(project_copy), "churn")
    frame = pd.read_csv(CHURN_CSV)
    train_a, test_a = split(spec, frame)
    train_b, test_b = split(spec, frame.copy())
    assert rows_digest(test_a, spec) == rows_digest(test_b, spec)
    assert list(train_a.index) == list(train_b.index)
    assert len(test_a) == round(len(frame) * spec.test_fraction)
    assert abs(test_a["churned"].mean() - frame["churned"].mean()) < 0.002
    assert set(train_a["customer_id"]).isdisjoint(test_a["customer_id"])


def test_pinned_digest_mismatch_is_refused(
    project_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """When the spec pins data.sha256, changed data is refused naming that field."""
    spec_file = project_copy / "pipelines" / "churn.yaml"
    text = spec_file.read_text().replace(
        "  target: churned\n", "  target: churned\n  sha256: " + "ab" * 32 + "\n"
    )
    spec_file.write_text(text)
    code, _, err = _data_test(capsys, "churn")
    _assert_refused(code, err, "data/churn/customers.csv", "data.sha256")


def test_data_override_needs_no_download(
    project_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With --data, a spec whose data lives on S3 is tested on the local file, offline."""
    spec_file = project_copy / "pipelines" / "churn.yaml"
    text = spec_file.read_text().replace(
        "  path: data/churn/customers.csv\n",
        "  path: s3://bucket/customers.csv\n  sha256: " + "ab" * 32 + "\n",
    )
    spec_file.write_text(text)
    code, out, _ = _data_test(capsys, "churn", "--data", "data/churn/customers.csv")
    assert code == 0
    assert "checks passed" in out


def test_profile_counts_missing_values_and_balance() -> None:
    """The profile counts empty cells per column and the share of each class."""
    import pandas as pd

    from modelops.data.profile import profile

    frame = pd.DataFrame({"x": [1.0, None, 3.0, None], "y": ["a", "b", "b", "b"]})
    stats = profile(frame, "y")
    assert stats["missing"] == {"x": 2}
    assert stats["class_balance"] == {
        "a": {"count": 1, "fraction": 0.25},
        "b": {"count": 3, "fraction": 0.75},
    }
