"""`modelops drift`: statistics, the reference digest check, the report and exit code 3."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from gitopsproject import commit, forget_models, make_project, modelops, register_version

from modelops.drift import categorical_distance, categorical_psi, numeric_ks, numeric_psi
from modelops.project import Project


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    proj = make_project(tmp_path / "proj")
    monkeypatch.chdir(proj.root)
    register_version(proj, tmp_path)
    assert modelops(proj, "promote", "toy", "--to", "dev") == 0
    commit(proj, "dev v1")
    yield proj
    forget_models()


def _recent(tmp_path: Path, shift: float) -> Path:
    path = tmp_path / "recent.csv"
    path.write_text("x\n" + "\n".join(f"{i / 200 + shift:.4f}" for i in range(200)) + "\n")
    return path


def test_statistics_separate_same_from_shifted() -> None:
    """PSI and KS are near zero for the same distribution and large for a shifted one."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    ref = pd.Series(rng.normal(0, 1, 5000))
    same = pd.Series(rng.normal(0, 1, 5000))
    shifted = pd.Series(rng.normal(1.0, 1, 5000))
    assert numeric_psi(ref, same) < 0.02 < 0.2 < numeric_psi(ref, shifted)
    assert numeric_ks(ref, same) < 0.05 < 0.3 < numeric_ks(ref, shifted)
    cats = pd.Series(["a"] * 50 + ["b"] * 50)
    moved = pd.Series(["a"] * 90 + ["b"] * 5 + ["new"] * 5)
    assert categorical_psi(cats, cats) == 0.0
    assert categorical_psi(cats, moved) > 0.2
    assert categorical_distance(cats, moved) == pytest.approx(0.45)


def test_no_drift_on_training_like_data(project: Project, tmp_path: Path) -> None:
    """Data like the training data passes (exit 0) and still writes both reports."""
    assert (
        modelops(project, "drift", "toy", "--env", "dev", "--input", str(_recent(tmp_path, 0))) == 0
    )
    report = json.loads((project.state_dir / "reports" / "toy" / "drift-dev.json").read_text())
    assert report["drift"] is False and report["features"][0]["feature"] == "x"
    assert (project.state_dir / "reports" / "toy" / "drift-dev.md").is_file()


def test_shifted_data_exits_3_with_report(project: Project, tmp_path: Path, capsys) -> None:
    """A shifted feature is drift: exit 3, the report says which feature."""
    code = modelops(project, "drift", "toy", "--env", "dev", "--input", str(_recent(tmp_path, 0.5)))
    assert code == 3
    assert "drift detected" in capsys.readouterr().out
    md = (project.state_dir / "reports" / "toy" / "drift-dev.md").read_text()
    assert "| x | numeric | psi (deciles) |" in md and "**yes**" in md


def test_new_data_on_main_is_compared_with_the_data_at_the_source_commit(
    project: Project, tmp_path: Path
) -> None:
    """Data merged since v1 was trained: the reference is read at the manifest's source_commit."""
    data = project.root / "data" / "toy" / "toy.csv"
    data.write_text(data.read_text() + "0.5,1\n")
    commit(project, "more data, not yet in dev")
    recent = str(_recent(tmp_path, 0))
    assert modelops(project, "drift", "toy", "--env", "dev", "--input", recent) == 0
    report = json.loads((project.state_dir / "reports" / "toy" / "drift-dev.json").read_text())
    manifest = (project.root / "environments" / "dev" / "models" / "toy.yaml").read_text()
    source_commit = next(
        line.split(":", 1)[1].strip().strip("'\"")
        for line in manifest.splitlines()
        if line.startswith("source_commit:")
    )
    assert report["reference"] == f"data/toy/toy.csv@{source_commit.removesuffix('+dirty')[:12]}"


def test_changed_reference_is_refused(project: Project, tmp_path: Path, capsys) -> None:
    """Data changed and the source commit does not hold the recorded file: refused (exit 2)."""
    data = project.root / "data" / "toy" / "toy.csv"
    data.write_text(data.read_text() + "0.5,1\n")
    manifest = project.root / "environments" / "dev" / "models" / "toy.yaml"
    text = manifest.read_text()
    start = text.index("source_commit:")
    end = text.index("\n", start)
    manifest.write_text(text[:start] + "source_commit: '" + "0" * 40 + "'" + text[end:])
    assert (
        modelops(project, "drift", "toy", "--env", "dev", "--input", str(_recent(tmp_path, 0))) == 2
    )
    assert "training data changed since v1" in capsys.readouterr().err


def test_missing_feature_is_named(project: Project, tmp_path: Path, capsys) -> None:
    """Recent data without a drift feature fails with the file and the column."""
    path = tmp_path / "recent.csv"
    path.write_text("z\n1\n")
    assert modelops(project, "drift", "toy", "--env", "dev", "--input", str(path)) == 2
    err = capsys.readouterr().err
    assert "recent.csv" in err and "field 'x'" in err
