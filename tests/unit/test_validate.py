"""`modelops validate`: schemas plus cross-references, every problem reported at once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from toyproject import TOY_SPEC, write_toy

from modelops.cli import main


@pytest.fixture
def toy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    root = write_toy(tmp_path / "proj")
    monkeypatch.chdir(root)
    yield root
    for name in [m for m in sys.modules if m == "models" or m.startswith("models.")]:
        del sys.modules[name]


def _validate(capsys) -> tuple[int, str]:
    code = main(["validate"])
    return code, capsys.readouterr().err


def test_sound_project_passes(toy: Path, capsys) -> None:
    """A consistent spec validates with exit 0 and writes a result."""
    assert main(["validate"]) == 0
    assert "1 pipeline spec(s)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("old", "new", "field", "message"),
    [
        (
            "entrypoint: models.toy",
            "entrypoint: models.nosuch",
            "train.entrypoint",
            "cannot import",
        ),
        (
            "schema: models.toy.schema:SCHEMA",
            "schema: models.toy.schema:NOPE",
            "data.schema",
            "has no attribute 'NOPE'",
        ),
        ("path: data/toy/toy.csv", "path: data/toy/missing.csv", "data.path", "does not exist"),
        ("target: y", "target: label", "data.target", "not in the schema"),
        ("features: [x]", "features: [x, zz]", "drift.features[1]", "'zz' is not a column"),
    ],
)
def test_each_cross_reference_problem(toy: Path, capsys, old, new, field, message) -> None:
    """Each broken reference is named by file and field, exit 2, nothing written."""
    (toy / "pipelines" / "toy.yaml").write_text(TOY_SPEC.replace(old, new))
    code, err = _validate(capsys)
    assert code == 2
    assert f"pipelines/toy.yaml: field '{field}'" in err and message in err
    assert not (toy / ".modelops" / "results").exists()


def test_entrypoint_lacking_the_contract(toy: Path, capsys) -> None:
    """A model package without predict/save/load is reported as such."""
    (toy / "src" / "models" / "toy" / "__init__.py").write_text("def train(d, p, c): pass\n")
    code, err = _validate(capsys)
    assert code == 2 and "lacks predict, save, load" in err


def test_all_problems_in_all_files_are_listed(toy: Path, capsys) -> None:
    """Problems in two specs, an environment and a manifest are all printed, then counted."""
    broken = TOY_SPEC.replace("target: y", "target: label").replace(
        "features: [x]", "features: [zz]"
    )
    (toy / "pipelines" / "toy.yaml").write_text(broken)
    (toy / "pipelines" / "other.yaml").write_text("name: other\nowner: [unclosed\n")
    manifests = toy / "environments" / "dev" / "models"
    manifests.mkdir(parents=True)
    (manifests / "toy.yaml").write_text("model: toy\nversion: 0\n")
    code, err = _validate(capsys)
    assert code == 2
    assert "pipelines/other.yaml:3: malformed YAML" in err
    assert "field 'data.target'" in err and "field 'drift.features[0]'" in err
    assert "environments/dev/environment.yaml: unknown environment 'dev'" in err
    manifest = "environments/dev/models/toy.yaml: field"
    assert f"{manifest} 'sha256': required field is missing" in err
    assert f"{manifest} 'version': 0 is less than the minimum of 1" in err
    assert "13 problem(s) in 4 file(s)" in err


def test_named_models_only(toy: Path, capsys) -> None:
    """`validate MODEL` checks only that spec; an unknown name is exit 2."""
    (toy / "pipelines" / "other.yaml").write_text("name: other\n")
    assert main(["validate", "toy"]) == 0
    capsys.readouterr()
    assert main(["validate", "nosuch"]) == 2
    assert "unknown model 'nosuch'" in capsys.readouterr().err


def test_an_error_raised_by_team_code_names_the_field(toy: Path, capsys) -> None:
    """A model package that raises on import is reported against train.entrypoint, exit 2."""
    init = toy / "src" / "models" / "toy" / "__init__.py"
    init.write_text("raise RuntimeError('broken at import')\n" + init.read_text())
    code, err = _validate(capsys)
    assert code == 2
    assert "field 'train.entrypoint': importing 'models.toy' failed: RuntimeError" in err


def test_imports_only_the_models_it_checks(toy: Path) -> None:
    """`validate toy` imports toy's package and schema, not another model's package."""
    other = toy / "src" / "models" / "other"
    other.mkdir()
    (other / "__init__.py").write_text("raise RuntimeError('other was imported')\n")
    (toy / "pipelines" / "other.yaml").write_text(
        TOY_SPEC.replace("name: toy", "name: other").replace(
            "entrypoint: models.toy", "entrypoint: models.other"
        )
    )
    code = (
        "import sys; from modelops.cli import main; rc = main(['validate', 'toy']); "
        "print(rc, sorted(m for m in sys.modules if m.startswith('models.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=toy, capture_output=True, text=True)
    assert out.stdout.splitlines()[-1] == "0 ['models.toy', 'models.toy.schema']", out.stderr


def test_columns_of_a_schema_built_by_a_call_are_checked(toy: Path, capsys) -> None:
    """A schema whose columns a function builds is imported and its columns checked."""
    (toy / "src" / "models" / "toy" / "schema.py").write_text(
        "import pandera.pandas as pa\n"
        "def _columns():\n    return {'x': pa.Column(float), 'label': pa.Column(int)}\n"
        "SCHEMA = pa.DataFrameSchema(_columns())\n"
    )
    code, err = _validate(capsys)
    assert code == 2 and "column 'y' is not in the schema" in err


def test_syntax_error_in_team_code_names_the_field(toy: Path, capsys) -> None:
    """A model package that does not parse is reported against the spec field."""
    (toy / "src" / "models" / "toy" / "__init__.py").write_text("def train(:\n")
    code, err = _validate(capsys)
    assert code == 2
    assert "field 'train.entrypoint': importing 'models.toy' failed: SyntaxError" in err


def test_import_flag_is_accepted_and_changes_nothing(toy: Path, capsys) -> None:
    """`--import` is a deprecated no-op: the same checks run with and without it."""
    (toy / "pipelines" / "toy.yaml").write_text(TOY_SPEC.replace("target: y", "target: label"))
    assert _validate(capsys) == _validate_import(capsys)


def test_a_schema_that_is_a_function_is_refused(toy: Path, capsys) -> None:
    """`data.schema` naming a function (not a DataFrameSchema) is refused."""
    (toy / "src" / "models" / "toy" / "schema.py").write_text("def SCHEMA():\n    pass\n")
    code, err = _validate(capsys)
    assert code == 2 and "is a function, not a pandera DataFrameSchema" in err


def _validate_import(capsys) -> tuple[int, str]:
    code = main(["validate", "--import"])
    return code, capsys.readouterr().err
