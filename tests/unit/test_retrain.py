"""`modelops retrain`: the spec points at newer labelled data for a PR, or an issue says none."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from gitopsproject import commit, forget_models, make_project, modelops, register_version

from modelops.fsutil import sha256_file
from modelops.project import Project
from modelops.spec import load_pipeline

COMMENTED = "# the toy model\n"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    """The toy project (spec with a comment) with v1, trained on data/toy/toy.csv, in dev."""
    proj = make_project(tmp_path / "proj")
    spec = proj.pipeline_path("toy")
    spec.write_text(COMMENTED + spec.read_text())
    commit(proj, "comment")
    monkeypatch.chdir(proj.root)
    register_version(proj, tmp_path)
    assert modelops(proj, "promote", "toy", "--to", "dev") == 0
    commit(proj, "dev v1")
    yield proj
    forget_models()


def _retrain(project: Project, snapshot: str, *extra: str) -> int:
    return modelops(project, "retrain", "toy", "--env", "dev", "--snapshot", snapshot, *extra)


def _result(project: Project) -> dict:
    return json.loads((project.results_dir("toy") / "retrain.json").read_text())


def test_a_newer_snapshot_rewrites_data_path_and_digest_only(project: Project) -> None:
    """The newest file of the folder (by name) is pinned; every other spec line is kept."""
    snapshots = project.root / "data" / "toy" / "labelled"
    snapshots.mkdir()
    original = (project.root / "data" / "toy" / "toy.csv").read_text()
    (snapshots / "2026-10-01.csv").write_text(original)
    (snapshots / "2026-11-01.csv").write_text(original + "0.5000,1\n")
    (snapshots / "notes.txt").write_text("not data")
    spec_file = project.pipeline_path("toy")
    before = spec_file.read_text().splitlines()
    report = project.state_dir / "reports" / "toy" / "monitor-dev.md"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text("# Performance: toy in dev (v1)\n\nwindow crossed\n")
    assert _retrain(project, "data/toy/labelled", "--trigger", "monitor") == 0
    result = _result(project)
    digest = sha256_file(snapshots / "2026-11-01.csv")
    assert result["action"] == "pr" and result["branch"] == "modelops/retrain-toy"
    assert result["snapshot"] == "data/toy/labelled/2026-11-01.csv"
    after = spec_file.read_text().splitlines()
    assert after[0] == COMMENTED.strip()
    changed = [line for line in after if line not in before]
    assert changed == [
        "  path: data/toy/labelled/2026-11-01.csv",
        f"  sha256: {digest}",
    ]
    assert len(after) == len(before) + 1
    spec = load_pipeline(project, "toy")
    assert (spec.data_path, spec.data_sha256) == (result["snapshot"], digest)
    body = (project.root / result["body"]).read_text()
    assert "Retrain toy on 2026-11-01.csv" in body and "window crossed" in body
    assert digest in body


def test_no_newer_snapshot_writes_an_issue_body_and_leaves_the_spec(project: Project) -> None:
    """The champion's own data as the newest snapshot: action issue, spec byte for byte."""
    spec_file = project.pipeline_path("toy")
    before = spec_file.read_bytes()
    assert _retrain(project, "data/toy/toy.csv", "--trigger", "drift") == 0
    result = _result(project)
    assert result["action"] == "issue"
    assert spec_file.read_bytes() == before
    body = (project.root / result["body"]).read_text()
    assert "no labelled data newer" in body and "v1" in body


@pytest.mark.parametrize(
    "snapshot",
    ["../outside.csv", "data/toy/missing.csv", "data/toy/x`y.csv", "data/toy/empty"],
)
def test_bad_snapshot_is_refused_and_nothing_is_written(
    project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str], snapshot: str
) -> None:
    """Outside the repo, missing, unsafe characters or an empty folder: exit 2, spec untouched."""
    (project.root.parent / "outside.csv").write_text("x,y\n0.1,1\n")
    (project.root / "data" / "toy" / "empty").mkdir()
    spec_file = project.pipeline_path("toy")
    before = spec_file.read_bytes()
    assert _retrain(project, snapshot) == 2
    err = capsys.readouterr().err
    assert "--snapshot" in err and "Traceback" not in err
    assert spec_file.read_bytes() == before
    assert not (project.state_dir / "reports" / "toy").exists()


def test_a_missing_location_is_no_newer_data_with_missing_ok(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """--missing-ok: no snapshot folder yet means an issue body, not bad input; the spec stays."""
    spec_file = project.pipeline_path("toy")
    before = spec_file.read_bytes()
    assert _retrain(project, "data/toy/labelled", "--missing-ok", "--trigger", "drift") == 0
    result = _result(project)
    assert result["action"] == "issue" and spec_file.read_bytes() == before
    body = (project.root / result["body"]).read_text()
    assert "no labelled snapshot is at `data/toy/labelled` yet" in body
    assert _retrain(project, "../outside", "--missing-ok") == 2, "outside the repository: refused"
    assert "inside the repository" in capsys.readouterr().err
