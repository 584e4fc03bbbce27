"""`modelops promote`, `history` and `rollback`: the rules of moving a version up the stages."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from gitopsproject import commit, forget_models, make_project, modelops, register_version

from modelops.project import Project
from modelops.spec import load_manifest


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    monkeypatch.delenv("MODELOPS_AUTOMATION", raising=False)
    proj = make_project(tmp_path / "proj")
    monkeypatch.chdir(proj.root)
    yield proj
    forget_models()


def _tree(project: Project) -> dict[str, bytes]:
    return {
        p.relative_to(project.root).as_posix(): p.read_bytes()
        for p in (project.root / "environments").rglob("*")
        if p.is_file()
    }


def test_promote_into_dev_pins_version_and_digest(project: Project, tmp_path: Path, capsys) -> None:
    """Promotion into dev writes the newest version with its sha256 and prints a PR body."""
    (project.root / "CODEOWNERS").write_text("* @acme/all\n/environments/dev/ @acme/dev\n")
    register_version(project, tmp_path, bias=0.6)
    v2 = register_version(project, tmp_path, bias=0.7, accuracy=0.85)
    assert modelops(project, "promote", "toy", "--to", "dev", "--pr-body", "pr.md") == 0
    manifest = load_manifest(project, "dev", "toy")
    assert manifest is not None
    assert (manifest.version, manifest.sha256) == (v2.version, v2.sha256)
    assert manifest.raw["promoted_from"] == "registry"
    out = capsys.readouterr().out
    assert "Promote toy v2 to dev (was nothing)" in out
    body = (project.root / "pr.md").read_text()
    assert "| accuracy | — | 0.8500 |" in body
    assert "Approvers for `dev`: @ml-team, @acme/dev (" in body  # environment.yaml, CODEOWNERS


def test_same_version_again_changes_nothing(project: Project, tmp_path: Path, capsys) -> None:
    """Promoting the version an environment already runs leaves the manifest byte for byte."""
    register_version(project, tmp_path)
    assert modelops(project, "promote", "toy", "--to", "dev") == 0
    before = _tree(project)
    assert modelops(project, "promote", "toy", "--to", "dev") == 0
    assert _tree(project) == before
    assert "nothing to change" in capsys.readouterr().out


def test_stage_skip_is_refused(project: Project, tmp_path: Path, capsys) -> None:
    """prod accepts only what staging ran: a dev-only version is refused with exit 2."""
    register_version(project, tmp_path)
    assert modelops(project, "promote", "toy", "--to", "dev") == 0
    commit(project, "dev v1")
    before = _tree(project)
    assert modelops(project, "promote", "toy", "--to", "prod") == 2
    assert "'staging' does not run 'toy'" in capsys.readouterr().err
    assert modelops(project, "promote", "toy", "--to", "prod", "--version", "1") == 2
    assert "refusing to skip a stage" in capsys.readouterr().err
    assert _tree(project) == before


def test_unknown_version_is_refused(project: Project, tmp_path: Path, capsys) -> None:
    """A version the registry does not have is refused with exit 2 and nothing written."""
    register_version(project, tmp_path)
    before = _tree(project)
    assert modelops(project, "promote", "toy", "--to", "dev", "--version", "9") == 2
    assert "no version 9" in capsys.readouterr().err
    assert _tree(project) == before


def test_gates_are_rechecked(project: Project, tmp_path: Path, capsys) -> None:
    """A registered version whose recorded accuracy is below the spec's gate is not promoted."""
    register_version(project, tmp_path, accuracy=0.3)
    assert modelops(project, "promote", "toy", "--to", "dev") == 2
    assert "accuracy 0.3000 < min 0.5" in capsys.readouterr().err
    assert load_manifest(project, "dev", "toy") is None


def test_staging_takes_a_version_dev_ran_earlier(project: Project, tmp_path: Path) -> None:
    """Git history counts: staging may take v1 after dev has moved on to v2."""
    register_version(project, tmp_path, bias=0.6)
    register_version(project, tmp_path, bias=0.7)
    assert modelops(project, "promote", "toy", "--to", "dev", "--version", "1") == 0
    commit(project, "dev v1")
    assert modelops(project, "promote", "toy", "--to", "dev", "--version", "2") == 0
    commit(project, "dev v2")
    assert modelops(project, "promote", "toy", "--to", "staging", "--version", "1") == 0
    staging = load_manifest(project, "staging", "toy")
    assert staging is not None and staging.version == 1
    assert staging.raw["promoted_from"] == "dev"


def test_history_lists_versions_from_git(project: Project, tmp_path: Path, capsys) -> None:
    """history reads each commit of the manifest: newest first, with its version and digest."""
    v1 = register_version(project, tmp_path, bias=0.6)
    v2 = register_version(project, tmp_path, bias=0.7)
    for version in (1, 2):
        assert modelops(project, "promote", "toy", "--to", "dev", "--version", str(version)) == 0
        commit(project, f"dev v{version}")
    capsys.readouterr()
    assert modelops(project, "history", "toy", "--env", "dev") == 0
    out = capsys.readouterr().out
    assert out.index(v2.sha256[:12]) < out.index(v1.sha256[:12])
    assert "2 change(s)" in out


def _dev_v2_rolled_back_to_v1(project: Project, tmp_path: Path, reason: str) -> None:
    """Register v2 (v1 already is), promote v1 then v2 into dev, then roll dev back to v1."""
    register_version(project, tmp_path, bias=0.7)
    for version in (1, 2):
        assert modelops(project, "promote", "toy", "--to", "dev", "--version", str(version)) == 0
        commit(project, f"dev v{version}")
    assert (
        modelops(
            project, "rollback", "toy", "--env", "dev", "--to-version", "1", "--reason", reason
        )
        == 0
    )


def test_rollback_holds_against_automation(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """A rollback writes the earlier manifest with a hold; automated promotion is then refused."""
    v1 = register_version(project, tmp_path, bias=0.6)
    _dev_v2_rolled_back_to_v1(project, tmp_path, "v2 misroutes refunds")
    held = load_manifest(project, "dev", "toy")
    assert held is not None and held.sha256 == v1.sha256
    assert held.hold is not None and held.hold["reason"] == "v2 misroutes refunds"
    assert held.raw["promoted_from"] == "rollback"
    commit(project, "rollback dev")
    register_version(project, tmp_path, bias=0.8)
    monkeypatch.setenv("MODELOPS_AUTOMATION", "true")
    assert modelops(project, "promote", "toy", "--to", "dev") == 2
    assert "held in 'dev' at version 1" in capsys.readouterr().err
    still = load_manifest(project, "dev", "toy")
    assert still is not None and still.version == 1


def test_automation_respects_policy(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """Automation may promote into dev (auto_promote) but not into staging."""
    register_version(project, tmp_path)
    assert modelops(project, "promote", "toy", "--to", "dev", "--automated") == 0
    commit(project, "dev v1")
    assert modelops(project, "promote", "toy", "--to", "staging", "--automated") == 2
    assert "policy.auto_promote" in capsys.readouterr().err
    assert load_manifest(project, "staging", "toy") is None


def test_rollback_to_a_version_never_run_is_refused(
    project: Project, tmp_path: Path, capsys
) -> None:
    """Rollback only restores a version from the environment's own git history."""
    register_version(project, tmp_path)
    assert modelops(project, "promote", "toy", "--to", "dev") == 0
    commit(project, "dev v1")
    assert (
        modelops(project, "rollback", "toy", "--env", "dev", "--to-version", "5", "--reason", "x")
        == 2
    )
    assert "never ran in 'dev'" in capsys.readouterr().err


def test_a_person_promoting_over_a_hold_lifts_it(project: Project, tmp_path: Path, capsys) -> None:
    """A hand promotion with --release-hold lifts the hold and says so in the PR."""
    register_version(project, tmp_path, bias=0.6)
    _dev_v2_rolled_back_to_v1(project, tmp_path, "incident 42")
    commit(project, "rollback")
    capsys.readouterr()
    args = ("promote", "toy", "--to", "dev", "--version", "2")
    assert modelops(project, *args, "--release-hold") == 0
    assert "lifts the hold" in capsys.readouterr().out
    manifest = load_manifest(project, "dev", "toy")
    assert manifest is not None and manifest.version == 2 and manifest.hold is None


_CODEOWNERS = """\
# comment
*                          @acme/platform
/environments/             @acme/envs
environments/*/models/     @acme/manifests
/environments/prod/        @acme/release
*.md                       @acme/docs
"""


@pytest.mark.parametrize(
    ("path", "owners"),
    [
        ("environments/prod/models/churn.yaml", ["@acme/release"]),  # the last match wins
        ("environments/staging/models/churn.yaml", ["@acme/manifests"]),  # a `*` glob
        ("environments/staging/environment.yaml", ["@acme/envs"]),
        ("environments/prod/README.md", ["@acme/docs"]),  # a later, broader rule still wins
        ("src/models/churn/__init__.py", ["@acme/platform"]),
    ],
)
def test_codeowners_last_matching_line_wins(tmp_path: Path, path: str, owners: list[str]) -> None:
    """CODEOWNERS is read with GitHub's rules: globs, anchors, and the last matching line wins."""
    from modelops.promote import _codeowners

    (tmp_path / ".github").mkdir()
    (tmp_path / ".github" / "CODEOWNERS").write_text(_CODEOWNERS)
    (tmp_path / "CODEOWNERS").write_text("* @ignored\n")  # .github/ is read first
    assert _codeowners(Project(tmp_path), path) == owners


def test_no_codeowners_file_means_no_owners(tmp_path: Path) -> None:
    """Without a CODEOWNERS file the approvers come from environment.yaml alone."""
    from modelops.promote import _codeowners

    assert _codeowners(Project(tmp_path), "environments/prod/models/x.yaml") == []
