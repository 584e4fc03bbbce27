"""The MLflow registry wrapper (embedded sqlite) and `modelops register`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from toyproject import git_commit_all, write_toy

from modelops import registry
from modelops.bundle import verify
from modelops.cli import main
from modelops.errors import PromotionError, ServiceError
from modelops.fsutil import tree_digest
from modelops.project import Project


@pytest.fixture
def toy_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    root = write_toy(tmp_path / "proj")
    git_commit_all(root)
    monkeypatch.chdir(root)
    yield Project(root)
    for name in [m for m in sys.modules if m == "models" or m.startswith("models.")]:
        del sys.modules[name]


def _fake_run(project: Project, tmp_path: Path, content: str = "m") -> tuple[str, str]:
    """A run with a `bundle/` artifact, logged straight through MLflow; returns (run_id, digest)."""
    import mlflow

    bundle_dir = tmp_path / f"bundle-{content}"
    (bundle_dir / "model").mkdir(parents=True)
    (bundle_dir / "bundle.json").write_text("{}")
    (bundle_dir / "model" / "w.json").write_text(content)
    digest = tree_digest(bundle_dir)
    exp = registry.ensure_experiment(project, "toy")
    mlflow.set_tracking_uri(project.tracking_uri())
    with mlflow.start_run(experiment_id=exp) as run:
        mlflow.log_artifacts(str(bundle_dir), artifact_path="bundle")
        mlflow.set_tag("modelops.sha256", digest)
    return run.info.run_id, digest


def test_embedded_store_lives_under_modelops(toy_project: Project, tmp_path: Path) -> None:
    """With no MLFLOW_TRACKING_URI, runs and artifacts stay under the project's .modelops/."""
    _run_id, _ = _fake_run(toy_project, tmp_path)
    assert (toy_project.root / ".modelops" / "mlflow.db").is_file()
    assert list((toy_project.root / ".modelops" / "mlartifacts").rglob("w.json"))
    assert not (toy_project.root / "mlruns").exists()


def test_register_is_idempotent_and_versions_increase(toy_project: Project, tmp_path: Path) -> None:
    """The same run registered twice is one version; another run is the next version."""
    run_a, digest = _fake_run(toy_project, tmp_path, "a")
    tags = {"modelops.sha256": digest, "modelops.metrics": json.dumps({"accuracy": 0.9})}
    first = registry.register_run(toy_project, "toy", run_a, tags=tags)
    again = registry.register_run(toy_project, "toy", run_a, tags=tags)
    run_b, _ = _fake_run(toy_project, tmp_path, "b")
    second = registry.register_run(toy_project, "toy", run_b, tags={})
    assert (first.version, again.version, second.version) == (1, 1, 2)
    assert first.sha256 == digest and first.metrics == {"accuracy": 0.9}
    assert [v.version for v in registry.list_versions(toy_project, "toy")] == [1, 2]
    assert registry.latest_version(toy_project, "toy").version == 2  # type: ignore[union-attr]


def test_aliases_set_get_delete(toy_project: Project, tmp_path: Path) -> None:
    """Aliases point at versions; deleting a missing alias is not an error."""
    run_id, _ = _fake_run(toy_project, tmp_path)
    registry.register_run(toy_project, "toy", run_id, tags={})
    assert registry.get_alias(toy_project, "toy", "prod") is None
    registry.set_alias(toy_project, "toy", "prod", 1)
    assert registry.get_alias(toy_project, "toy", "prod") == 1
    registry.delete_alias(toy_project, "toy", "prod")
    registry.delete_alias(toy_project, "toy", "prod")
    assert registry.get_alias(toy_project, "toy", "prod") is None


def test_all_aliases_in_one_read_match_mlflow(toy_project: Project, tmp_path: Path) -> None:
    """One batched read returns every model's aliases as MLflow records them."""
    assert registry.all_aliases(toy_project) == {}  # no database yet: nothing registered
    for content in ("a", "b"):
        run_id, _ = _fake_run(toy_project, tmp_path, content)
        registry.register_run(toy_project, "toy", run_id, tags={})
    registry.set_alias(toy_project, "toy", "dev", 2)
    registry.set_alias(toy_project, "toy", "prod", 1)
    assert registry.all_aliases(toy_project) == {"toy": {"dev": 2, "prod": 1}}


def test_download_bundle_matches_digest(toy_project: Project, tmp_path: Path) -> None:
    """The downloaded bundle/ has the digest the run recorded."""
    run_id, digest = _fake_run(toy_project, tmp_path)
    registry.register_run(toy_project, "toy", run_id, tags={"modelops.sha256": digest})
    got = registry.download_bundle(toy_project, "toy", 1, tmp_path / "dl" / "bundle")
    verify(got, digest, source="models:/toy/1")


def test_a_pinned_digest_the_registry_does_not_record_is_refused(
    toy_project: Project, tmp_path: Path
) -> None:
    """require_digest passes the recorded sha256 and refuses any other, naming the pin."""
    from modelops.errors import IntegrityError

    run_id, digest = _fake_run(toy_project, tmp_path)
    registry.register_run(toy_project, "toy", run_id, tags={"modelops.sha256": digest})
    info = registry.require_digest(
        toy_project, "toy", 1, digest, file="m.yaml", pinned_by="the manifest"
    )
    assert info.sha256 == digest
    with pytest.raises(IntegrityError) as err:
        registry.require_digest(
            toy_project, "toy", 1, "0" * 64, file="m.yaml", pinned_by="the manifest"
        )
    assert err.value.file == "m.yaml" and err.value.field == "sha256"
    assert "the manifest pins 000000000000" in str(err.value)


def test_unknown_version_is_refused(toy_project: Project, tmp_path: Path) -> None:
    """Asking for a version that does not exist is a PromotionError, not a crash."""
    run_id, _ = _fake_run(toy_project, tmp_path)
    registry.register_run(toy_project, "toy", run_id, tags={})
    with pytest.raises(PromotionError, match="no version 7"):
        registry.get_version(toy_project, "toy", 7)


def test_unreachable_server_is_a_service_error(
    toy_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tracking server that does not answer ends in ServiceError (exit 4)."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    with pytest.raises(ServiceError) as info:
        registry.list_versions(toy_project, "toy")
    assert info.value.exit_code == 4


def test_register_refuses_without_evaluation(toy_project: Project, capsys) -> None:
    """`modelops register` before train/evaluate exits 2 and says what to run."""
    code = main(["register", "toy"])
    err = capsys.readouterr().err
    assert code == 2
    assert "modelops train toy" in err
