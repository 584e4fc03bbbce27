"""The example data files are exactly what their seeded generator and exporter write."""

from __future__ import annotations

from pathlib import Path

import pytest
from exampleproject import REPO

from modelops.fsutil import sha256_file


@pytest.mark.usefixtures("models_on_path")
def test_churn_csv_is_reproduced_by_its_generator(tmp_path: Path) -> None:
    """The committed churn CSV is byte-identical to a fresh run of the seeded generator."""
    from models.churn.generate import main as generate

    assert generate([str(tmp_path / "customers.csv")]) == 0
    assert sha256_file(tmp_path / "customers.csv") == sha256_file(
        REPO / "data" / "churn" / "customers.csv"
    )


@pytest.mark.usefixtures("models_on_path")
def test_digits_csv_is_reproduced_by_its_exporter(tmp_path: Path) -> None:
    """The committed digits CSV is byte-identical to a fresh export of scikit-learn's copy."""
    from models.digits.export import main as export

    assert export([str(tmp_path / "digits.csv")]) == 0
    assert sha256_file(tmp_path / "digits.csv") == sha256_file(
        REPO / "data" / "digits" / "digits.csv"
    )


@pytest.mark.usefixtures("models_on_path")
def test_diabetes_csv_is_reproduced_by_its_exporter(tmp_path: Path) -> None:
    """The committed diabetes CSV is byte-identical to a fresh export of scikit-learn's copy,
    and its sha256 is the one the spec pins."""
    from modelops.project import Project
    from modelops.spec import load_pipeline
    from models.diabetes.export import main as export

    committed = REPO / "data" / "diabetes" / "diabetes.csv"
    assert export([str(tmp_path / "diabetes.csv")]) == 0
    assert sha256_file(tmp_path / "diabetes.csv") == sha256_file(committed)
    assert load_pipeline(Project(REPO), "diabetes").data_sha256 == sha256_file(committed)


def test_diabetes_data_passes_with_its_target_distribution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The regression example's data passes data-test and profiles the target, not classes."""
    import json
    import shutil
    import sys

    from modelops.cli import main

    root = tmp_path / "proj"
    for rel in ("pipelines/diabetes.yaml", "src/models/diabetes", "data/diabetes"):
        source, dest = REPO / rel, root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, dest, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, dest)
    (root / "src" / "models" / "__init__.py").write_text("")
    monkeypatch.chdir(root)
    try:
        assert main(["data-test", "diabetes"]) == 0, capsys.readouterr().err
    finally:
        for name in [m for m in sys.modules if m == "models" or m.startswith("models.")]:
            del sys.modules[name]
    assert "target distribution: mean" in capsys.readouterr().out
    result = json.loads((root / ".modelops/results/diabetes/data-test.json").read_text())
    profile = result["profile"]
    assert profile["class_balance"] is None
    distribution = profile["target_distribution"]
    assert distribution["count"] == profile["rows"] == 442
    assert distribution["min"] == 25.0 and distribution["max"] == 346.0
    assert distribution["zeros"] == 0
