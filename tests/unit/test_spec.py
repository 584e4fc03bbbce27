"""Pipeline specs: the shipped ones load; broken ones are refused naming file, line or field."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from modelops.cli import main
from modelops.errors import InputError, SpecError
from modelops.project import Project
from modelops.spec import load_pipeline

REPO = Path(__file__).resolve().parents[2]


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


@pytest.mark.parametrize("model", ["churn", "digits", "diabetes"])
def test_shipped_specs_load(model: str) -> None:
    """The example specs are valid and their gates are on computed metrics."""
    spec = load_pipeline(Project(REPO), model)
    assert spec.name == model
    assert spec.primary_metric in spec.metrics
    assert {g.metric for g in spec.gates} <= set(spec.metrics)
    assert spec.drift is not None


def test_digits_asks_for_a_gpu_with_fallbacks() -> None:
    """The torch example requests spot GPUs with an on-demand fallback and a time cap."""
    compute = load_pipeline(Project(REPO), "digits").compute
    assert compute.type == "gpu"
    assert compute.instance_types == ("g5.xlarge", "g4dn.xlarge")
    assert compute.spot and compute.on_demand_fallback
    assert compute.max_minutes == 30


@pytest.mark.parametrize("model", ["churn", "digits", "diabetes"])
def test_specs_point_editors_at_the_schema(model: str) -> None:
    """Each spec's yaml-language-server comment names the schema file that exists."""
    first = (REPO / "pipelines" / f"{model}.yaml").read_text().splitlines()[0]
    match = re.fullmatch(r"# yaml-language-server: \$schema=(\S+)", first)
    assert match is not None
    assert (REPO / "pipelines" / match.group(1)).resolve().is_file()


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


def test_every_schema_problem_of_a_file_at_once(project_copy: Path) -> None:
    """Three bad fields give one error that carries all three, sorted by field path."""
    _edit(
        project_copy,
        "churn",
        lambda t: (
            t.replace("test_fraction: 0.2", "test_fraction: most")
            .replace('owner: "@acme/ml-churn"\n', "")
            .replace("  seed: 42\n", "  seed: 42\n  sead: 1\n")
        ),
    )
    error = _refused(project_copy)
    fields = [p.field for p in error.problems]
    assert fields == ["data.split.test_fraction", "owner", "train"]
    assert {p.file for p in error.problems} == {"pipelines/churn.yaml"}
    assert "and 2 more problem(s)" in error.message


def test_every_consistency_problem_of_a_file_at_once(project_copy: Path) -> None:
    """Name, primary metric and a gate that are inconsistent are all reported together."""
    _edit(
        project_copy,
        "churn",
        lambda t: t.replace("name: churn", "name: attrition").replace(
            "primary_metric: roc_auc", "primary_metric: recall"
        ),
    )
    error = _refused(project_copy)
    assert [p.field for p in error.problems] == ["name", "evaluate.primary_metric"]


def test_environment_fields_that_did_nothing_are_refused(tmp_path: Path) -> None:
    """`order` and `policy.deploy_on_merge` are gone: a file still holding them is told so."""
    from modelops.spec import load_environment

    env_dir = tmp_path / "environments" / "dev"
    env_dir.mkdir(parents=True)
    (env_dir / "environment.yaml").write_text(
        "name: dev\norder: 1\npolicy:\n  deploy_on_merge: true\n"
    )
    with pytest.raises(SpecError) as info:
        load_environment(Project(tmp_path), "dev")
    extra = "unknown field: Additional properties are not allowed ({} was unexpected)"
    assert [(p.field, p.message) for p in info.value.problems] == [
        ("(top level)", extra.format("'order'")),
        ("policy", extra.format("'deploy_on_merge'")),
    ]
    assert {p.file for p in info.value.problems} == {"environments/dev/environment.yaml"}
