"""`schema_version`: absent means the current format; a newer one is refused with a way out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from gitopsproject import commit, forget_models, make_project, modelops, register_version

from modelops.project import Project
from modelops.schemaversion import MIGRATION_DOC, SCHEMA_VERSION

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    proj = make_project(tmp_path / "proj")
    monkeypatch.chdir(proj.root)
    yield proj
    forget_models()


def _set_version(path: Path, value: object, **extra: object) -> None:
    doc = {k: v for k, v in yaml.safe_load(path.read_text()).items() if k != "schema_version"}
    path.write_text(yaml.safe_dump({"schema_version": value, **doc, **extra}, sort_keys=False))


def test_absent_and_current_versions_are_read(project: Project, capsys) -> None:
    """A spec without schema_version (older files) and one with the current version both pass."""
    assert "schema_version" not in project.pipeline_path("toy").read_text()
    assert modelops(project, "validate") == 0
    _set_version(project.pipeline_path("toy"), SCHEMA_VERSION)
    _set_version(project.environment_dir("prod") / "environment.yaml", SCHEMA_VERSION)
    assert modelops(project, "validate") == 0


@pytest.mark.parametrize("kind", ["pipeline", "environment"])
def test_newer_format_is_refused_with_a_migration_note(project: Project, capsys, kind) -> None:
    """A file written for a newer format exits 2 naming file and field, before any unknown field."""
    path = (
        project.pipeline_path("toy")
        if kind == "pipeline"
        else project.environment_dir("staging") / "environment.yaml"
    )
    # A newer format may add fields: the version is what the reader must be told about.
    _set_version(path, SCHEMA_VERSION + 1, field_of_the_future=True)
    capsys.readouterr()
    assert modelops(project, "validate") == 2
    err = capsys.readouterr().err
    assert project.relative(path) in err and "field 'schema_version'" in err
    assert f"format version {SCHEMA_VERSION + 1}" in err and MIGRATION_DOC in err
    assert "unknown field" not in err and "Traceback" not in err


def test_newer_manifest_is_refused_by_status(project: Project, tmp_path: Path, capsys) -> None:
    """Promote writes the current schema_version; a manifest from a newer toolkit exits 2."""
    register_version(project, tmp_path)
    assert modelops(project, "promote", "toy", "--to", "dev") == 0
    manifest = project.manifest_path("dev", "toy")
    assert yaml.safe_load(manifest.read_text())["schema_version"] == SCHEMA_VERSION
    _set_version(manifest, SCHEMA_VERSION + 1)
    commit(project, "dev v1, as a newer toolkit wrote it")
    capsys.readouterr()
    assert modelops(project, "status") == 2
    err = capsys.readouterr().err
    assert "environments/dev/models/toy.yaml" in err and "field 'schema_version'" in err


@pytest.mark.parametrize("value", ["one", 0, True])
def test_malformed_version_is_a_schema_error(project: Project, capsys, value: object) -> None:
    """schema_version that is not a positive integer is refused naming the field."""
    _set_version(project.pipeline_path("toy"), value)
    capsys.readouterr()
    assert modelops(project, "validate") == 2
    assert "schema_version" in capsys.readouterr().err


def test_migration_doc_covers_the_current_version() -> None:
    """docs/migration.md, which the error points at, has a section for the current format."""
    text = (REPO / MIGRATION_DOC).read_text()
    assert f"## Format {SCHEMA_VERSION}" in text


def test_newer_format_is_the_only_problem_reported(tmp_path: Path) -> None:
    """With every-problem reporting, a newer format still yields one problem: the version."""
    from modelops.errors import SpecError
    from modelops.spec import validate_document

    doc = {"schema_version": SCHEMA_VERSION + 1, "name": "qa", "renamed_field": 1}
    with pytest.raises(SpecError) as info:
        validate_document(doc, "environment", tmp_path / "environment.yaml")
    assert [(p.field, p.file) for p in info.value.problems] == [
        ("schema_version", str(tmp_path / "environment.yaml"))
    ]
