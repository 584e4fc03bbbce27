"""`modelops validate`: schemas plus cross-references, every problem reported at once."""

from __future__ import annotations

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
    assert "environments/dev/models/toy.yaml: field" in err
    assert "5 problem(s) in 4 file(s)" in err


def test_named_models_only(toy: Path, capsys) -> None:
    """`validate MODEL` checks only that spec; an unknown name is exit 2."""
    (toy / "pipelines" / "other.yaml").write_text("name: other\n")
    assert main(["validate", "toy"]) == 0
    capsys.readouterr()
    assert main(["validate", "nosuch"]) == 2
    assert "unknown model 'nosuch'" in capsys.readouterr().err
