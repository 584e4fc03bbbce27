"""Pipeline specs: broken ones are refused naming file, line or field."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from modelops.cli import main
from modelops.errors import InputError, SpecError
from modelops.project import Project
from modelops.spec import load_pipeline

# The sample project (tests/fixtures/sample), never the repository's own pipelines/.
SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "sample"


def _edit(root: Path, model: str, change: Callable[[str], str]) -> None:
    path = root / "pipelines" / f"{model}.yaml"
    before = path.read_text()
    after = change(before)
    assert after != before, "the edit did not apply"
    path.write_text(after)


def _refused(root: Path, model: str = "churn") -> InputError:
    with pytest.raises(InputError) as info:
        load_pipeline(Project(root), model)
    return info.value


def test_malformed_yaml_names_the_line(project_copy: Path) -> None:
    """A YAML syntax error is reported with the spec file and the line."""
    _edit(project_copy, "churn", lambda t: t.replace("  target: churned", "  target: [churned"))
    error = _refused(project_copy)
    assert error.file == "pipelines/churn.yaml"
    assert error.line is not None
    assert "malformed YAML" in error.message


def test_wrong_type_names_the_field_path(project_copy: Path) -> None:
    """A value of the wrong type is reported with its dotted field path."""
    _edit(project_copy, "churn", lambda t: t.replace("test_fraction: 0.2", "test_fraction: most"))
    error = _refused(project_copy)
    assert isinstance(error, SpecError)
    assert error.field == "data.split.test_fraction"
    assert "'most' is not of type 'number'" in error.message


def test_missing_field_is_named(project_copy: Path) -> None:
    """A required field that is absent is named."""
    _edit(project_copy, "churn", lambda t: t.replace('owner: "@acme/ml-churn"\n', ""))
    error = _refused(project_copy)
    assert error.field == "owner"
    assert error.message == "required field is missing"


def test_unknown_field_is_refused(project_copy: Path) -> None:
    """A misspelt key is refused instead of being silently ignored."""
    _edit(project_copy, "churn", lambda t: t.replace("  seed: 42\n", "  seed: 42\n  sead: 1\n"))
    error = _refused(project_copy)
    assert error.field == "train"
    assert "unknown field" in error.message
    assert "sead" in error.message


def test_name_must_match_file_name(project_copy: Path) -> None:
    """A spec whose name differs from its file name is refused."""
    _edit(project_copy, "churn", lambda t: t.replace("name: churn", "name: attrition"))
    error = _refused(project_copy)
    assert error.field == "name"
    assert "attrition" in error.message


def test_gate_on_a_metric_not_computed(project_copy: Path) -> None:
    """A gate on a metric that evaluate does not compute is refused, naming the gate."""
    _edit(
        project_copy,
        "churn",
        lambda t: t.replace("    log_loss: {max: 0.55}", "    recall: {min: 0.5}"),
    )
    error = _refused(project_copy)
    assert error.field == "evaluate.gates.recall"
    assert "not computed" in error.message


def test_primary_metric_must_be_computed(project_copy: Path) -> None:
    """The primary metric has to be one of the metrics."""
    _edit(
        project_copy,
        "digits",
        lambda t: t.replace("primary_metric: accuracy", "primary_metric: roc_auc"),
    )
    error = _refused(project_copy, "digits")
    assert error.field == "evaluate.primary_metric"


def test_gpu_without_instance_types(project_copy: Path) -> None:
    """A GPU job must say which instance types it may run on."""
    _edit(
        project_copy,
        "digits",
        lambda t: t.replace("    instance_types: [g5.xlarge, g4dn.xlarge]\n", ""),
    )
    error = _refused(project_copy, "digits")
    assert error.field == "train.compute.instance_types"


def test_remote_data_must_be_pinned(project_copy: Path) -> None:
    """Data on S3 without a sha256 is refused: training would not be reproducible."""
    _edit(
        project_copy,
        "churn",
        lambda t: t.replace("path: data/churn/customers.csv", "path: s3://acme-data/churn.csv"),
    )
    error = _refused(project_copy)
    assert error.field == "data.sha256"


def test_empty_spec_is_refused(project_copy: Path) -> None:
    """An empty spec file is refused as not being a mapping."""
    (project_copy / "pipelines" / "churn.yaml").write_text("# nothing yet\n")
    error = _refused(project_copy)
    assert "expected a mapping" in error.message


def test_bad_spec_through_the_cli(project_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """data-test on a broken spec exits 2 with one line naming file and field, no traceback."""
    _edit(project_copy, "churn", lambda t: t.replace("  seed: 42\n", "  seed: 42\n  oops: 1\n"))
    code = main(["data-test", "churn"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: pipelines/churn.yaml")
    assert "Traceback" not in err
    assert not (project_copy / ".modelops" / "results" / "churn" / "data-test.json").exists()


def test_schema_reference_that_does_not_import(
    project_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A data.schema pointing at a missing module is refused naming that field."""
    _edit(
        project_copy,
        "churn",
        lambda t: t.replace("models.churn.schema:SCHEMA", "models.churn.schemas:SCHEMA"),
    )
    code = main(["data-test", "churn"])
    err = capsys.readouterr().err
    assert code == 2
    assert "field 'data.schema'" in err
    assert "models.churn.schemas" in err


def test_schema_reference_that_is_not_a_schema(
    project_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A data.schema naming something other than a pandera schema is refused."""
    _edit(
        project_copy,
        "churn",
        lambda t: t.replace("models.churn.schema:SCHEMA", "models.churn.schema:TARGET"),
    )
    code = main(["data-test", "churn"])
    err = capsys.readouterr().err
    assert code == 2
    assert "not a pandera DataFrameSchema" in err


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("target: churned", "target: churn", "data.target"),
        ("id_column: customer_id", "id_column: customer", "data.id_column"),
    ],
)
def test_spec_column_not_in_the_data(
    project_copy: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, field: str
) -> None:
    """A spec naming a target or id column the data lacks is refused naming that field."""
    _edit(project_copy, "churn", lambda t: t.replace(old, new))
    code = main(["data-test", "churn"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"error: pipelines/churn.yaml: field '{field}'")
    assert "Traceback" not in err


_MANIFEST = {
    "model": "churn",
    "version": 3,
    "model_uri": "models:/churn/3",
    "sha256": "a" * 64,
    "run_id": "r1",
    "source_commit": "c" * 40,
    "data_sha256": "b" * 64,
    "metrics": {"roc_auc": 0.9},
    "promoted_from": "staging",
    "promoted_at": "2025-01-01T00:00:00Z",
    "hold": {"reason": "rollback", "by": "@x"},
}
_ODD_VALUES = [None, True, 0, -1, 1.5, "", "x", "@acme/x", [], ["a", "a"], {}, {"k": 1}, 10**9]


def _mutations(doc: object) -> Iterator[object]:
    """The document with one leaf replaced, one key dropped or one unknown key added."""
    yield doc
    if isinstance(doc, dict):
        yield {**doc, "unexpected": 1}
        for key, value in doc.items():
            yield {k: v for k, v in doc.items() if k != key}
            for odd in [*_ODD_VALUES, *_mutations(value)]:
                yield {**doc, key: odd}
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            for odd in [*_ODD_VALUES, *_mutations(value)]:
                yield [*doc[:i], odd, *doc[i + 1 :]]


@pytest.mark.parametrize(
    ("schema", "source"),
    [
        ("pipeline", "pipelines/churn.yaml"),
        ("pipeline", "pipelines/digits.yaml"),
        ("environment", "environments/prod/environment.yaml"),
        ("manifest", None),
    ],
)
def test_fast_schema_check_never_accepts_what_jsonschema_refuses(
    schema: str, source: str | None
) -> None:
    """The jsonschema-free fast path agrees on valid documents and never passes an invalid one."""
    from jsonschema import Draft202012Validator

    from modelops.fsutil import read_yaml
    from modelops.spec import conforms, load_schema

    validator = Draft202012Validator(load_schema(schema))
    doc = read_yaml(SAMPLE / source) if source else _MANIFEST
    assert validator.is_valid(doc) and conforms(doc, schema)
    checked = refused = 0
    for mutated in _mutations(doc):
        checked += 1
        if not validator.is_valid(mutated):
            refused += 1
            assert not conforms(mutated, schema), mutated
    assert refused > 50, f"only {refused} of {checked} mutations were invalid"
