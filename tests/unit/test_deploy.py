"""`modelops deploy` and `status` against the embedded MLflow and the local serving store."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from gitopsproject import (
    cli_process,
    commit,
    forget_models,
    make_project,
    modelops,
    register_version,
)

from modelops import registry
from modelops.project import Project
from modelops.spec import load_manifest


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    proj = make_project(tmp_path / "proj")
    monkeypatch.chdir(proj.root)
    yield proj
    forget_models()


def _live(project: Project, env: str = "dev") -> dict:
    path = project.state_dir / "serving" / env / "live.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _promoted(project: Project, tmp_path: Path, versions: int = 1) -> list[registry.VersionInfo]:
    infos = [register_version(project, tmp_path, bias=0.6 + i / 10) for i in range(versions)]
    assert modelops(project, "promote", "toy", "--to", "dev", "--version", "1") == 0
    commit(project, "dev v1")
    return infos


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def test_deploy_switches_pointer_and_alias_then_does_nothing(
    project: Project, tmp_path: Path, capsys
) -> None:
    """Deploy stores the bundle, swaps live.json, sets the alias; a second run has nothing to do."""
    (v1,) = _promoted(project, tmp_path)
    assert modelops(project, "deploy", "dev") == 0
    assert f"toy: (not deployed) → v1 (sha256 {v1.sha256[:12]})" in capsys.readouterr().out
    assert _live(project)["toy"]["sha256"] == v1.sha256
    assert registry.get_alias(project, "toy", "dev") == 1
    bundle = project.state_dir / "serving" / "dev" / "bundles" / "toy" / v1.sha256
    assert (bundle / "bundle.json").is_file()
    capsys.readouterr()
    before = _live(project)
    assert modelops(project, "deploy", "dev") == 0
    assert "nothing to do" in capsys.readouterr().out
    assert _live(project) == before


def test_dry_run_writes_nothing(project: Project, tmp_path: Path, capsys) -> None:
    """--dry-run prints the plan and leaves the store and the registry alias untouched."""
    _promoted(project, tmp_path)
    assert modelops(project, "deploy", "dev", "--dry-run") == 0
    out = capsys.readouterr().out
    assert "toy: (not deployed) → v1" in out and "planned" in out and "dry run" in out
    assert not (project.state_dir / "serving" / "dev").exists()
    assert registry.get_alias(project, "toy", "dev") is None


def test_tampered_registry_artifact_is_refused(project: Project, tmp_path: Path, capsys) -> None:
    """One flipped byte in the registered bundle: deploy exits 2 and dev stays on its version."""
    _promoted(project, tmp_path, versions=2)
    assert modelops(project, "deploy", "dev") == 0
    before = _live(project)
    assert modelops(project, "promote", "toy", "--to", "dev", "--version", "2") == 0
    commit(project, "dev v2")
    assert modelops(project, "deploy", "dev", "--dry-run") == 0
    assert "toy: v1 → v2" in capsys.readouterr().out
    run_id = registry.get_version(project, "toy", 2).run_id
    # The bundle/ that deploy downloads (mlflow-model/data/bundle/ holds a copy for MLflow).
    (model_file,) = (project.state_dir / "mlartifacts").rglob(
        f"{run_id}/artifacts/bundle/**/model.json"
    )
    _flip_byte(model_file)
    capsys.readouterr()
    assert modelops(project, "deploy", "dev") == 2
    assert "does not match the manifest" in capsys.readouterr().err
    assert _live(project) == before
    assert registry.get_alias(project, "toy", "dev") == 1


def test_manifest_digest_mismatch_is_refused(project: Project, tmp_path: Path, capsys) -> None:
    """A manifest whose sha256 was edited by hand never deploys (exit 2, nothing live)."""
    _promoted(project, tmp_path)
    path = project.manifest_path("dev", "toy")
    manifest = load_manifest(project, "dev", "toy")
    assert manifest is not None
    path.write_text(path.read_text().replace(manifest.sha256, "f" * 64))
    assert modelops(project, "deploy", "dev") == 2
    assert "digest" in capsys.readouterr().err
    assert _live(project) == {}


def test_status_reports_and_deploy_repairs_alias_and_bundle(
    project: Project, tmp_path: Path, capsys
) -> None:
    """A hand-moved alias and a deleted bundle show as drift in status; deploy repairs both."""
    (v1, _v2) = _promoted(project, tmp_path, versions=2)
    assert modelops(project, "deploy", "dev") == 0
    assert modelops(project, "status", "--env", "dev") == 0
    assert "ok" in capsys.readouterr().out
    registry.set_alias(project, "toy", "dev", 2)
    bundle = project.state_dir / "serving" / "dev" / "bundles" / "toy" / v1.sha256
    for file in sorted(bundle.rglob("*"), reverse=True):
        file.unlink() if file.is_file() else file.rmdir()
    bundle.rmdir()
    assert modelops(project, "status", "--env", "dev") == 3
    out = capsys.readouterr().out
    assert "alias 'dev' moved to v2" in out and "bundle missing" in out
    assert modelops(project, "deploy", "dev") == 0
    assert registry.get_alias(project, "toy", "dev") == 1
    assert (bundle / "bundle.json").is_file()
    capsys.readouterr()
    assert modelops(project, "status", "--env", "dev") == 0
    assert "DRIFT" not in capsys.readouterr().out


def test_altered_bundle_in_store_is_reported_and_replaced(
    project: Project, tmp_path: Path, capsys
) -> None:
    """A changed byte in the served bundle is caught by status and rewritten by deploy."""
    (v1,) = _promoted(project, tmp_path)
    assert modelops(project, "deploy", "dev") == 0
    bundle = project.state_dir / "serving" / "dev" / "bundles" / "toy" / v1.sha256
    _flip_byte(bundle / "model" / "model.json")
    capsys.readouterr()
    assert modelops(project, "status", "--env", "dev") == 3
    assert "altered" in capsys.readouterr().out
    assert modelops(project, "deploy", "dev") == 0
    from modelops.fsutil import tree_digest

    assert tree_digest(bundle) == v1.sha256


def test_noop_deploy_and_status_make_no_per_model_registry_request(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With nothing to do, deploy and status each make one registry call: the alias search.

    status over every environment still makes one: the aliases are read once, not per env.
    """
    from modelops import deploy as deploy_module

    _promoted(project, tmp_path)
    assert modelops(project, "deploy", "dev") == 0
    calls: list[str] = []
    real_client = registry.client

    class Recording:
        def __init__(self, inner: object) -> None:
            self._inner = inner

        def __getattr__(self, name: str) -> object:
            calls.append(name)
            return getattr(self._inner, name)

    monkeypatch.setattr(registry, "client", lambda p: Recording(real_client(p)))
    assert deploy_module.deploy(project, "dev", say=lambda line: None)["todo"] == 0
    assert calls == ["search_registered_models"]
    (row,) = deploy_module.status(project, ["dev"])
    assert row["ok"] and row["alias"] == 1
    assert calls == ["search_registered_models"] * 2
    rows = deploy_module.status(project, ["dev", "staging", "prod"])
    assert {r["env"] for r in rows} == {"dev"}  # only dev holds the model
    assert calls == ["search_registered_models"] * 3


def test_verify_rehashes_a_bundle_whose_stamp_was_forged(project: Project, tmp_path: Path) -> None:
    """An edit hidden from the stat check (stamp rewritten) is found and repaired by --verify."""
    from modelops import deploy as deploy_module
    from modelops.fsutil import tree_digest
    from modelops.store import LocalStore

    (v1,) = _promoted(project, tmp_path)
    assert modelops(project, "deploy", "dev") == 0
    root = project.state_dir / "serving" / "dev"
    bundle = root / "bundles" / "toy" / v1.sha256
    _flip_byte(bundle / "model" / "model.json")
    # Forge the stamp so the cheap check sees the altered files as verified.
    stamps = json.loads((root / "verified.json").read_text())
    stamps[f"bundles/toy/{v1.sha256}"] = LocalStore(root)._listing(bundle)
    (root / "verified.json").write_text(json.dumps(stamps))
    quiet = {"say": lambda line: None}
    assert deploy_module.deploy(project, "dev", **quiet)["todo"] == 0
    (row,) = deploy_module.status(project, ["dev"], verify=True)
    assert not row["ok"] and "altered" in " ".join(row["problems"])
    assert deploy_module.deploy(project, "dev", verify=True, **quiet)["todo"] == 1
    assert tree_digest(bundle) == v1.sha256


def test_removed_manifest_retires_the_model(project: Project, tmp_path: Path) -> None:
    """Deleting the manifest in git drops the model from live.json and deletes its alias."""
    _promoted(project, tmp_path)
    assert modelops(project, "deploy", "dev") == 0
    project.manifest_path("dev", "toy").unlink()
    commit(project, "retire toy from dev")
    assert modelops(project, "deploy", "dev") == 0
    assert "toy" not in _live(project)
    assert registry.get_alias(project, "toy", "dev") is None


def test_rollback_then_deploy_restores_the_earlier_version(
    project: Project, tmp_path: Path
) -> None:
    """Deploying after a rollback serves the earlier bundle again, verified by digest."""
    (v1, v2) = _promoted(project, tmp_path, versions=2)
    assert modelops(project, "deploy", "dev") == 0
    assert modelops(project, "promote", "toy", "--to", "dev", "--version", "2") == 0
    commit(project, "dev v2")
    assert modelops(project, "deploy", "dev") == 0
    assert _live(project)["toy"]["sha256"] == v2.sha256
    assert (
        modelops(project, "rollback", "toy", "--env", "dev", "--to-version", "1", "--reason", "bad")
        == 0
    )
    commit(project, "rollback")
    assert modelops(project, "deploy", "dev") == 0
    assert _live(project)["toy"]["sha256"] == v1.sha256
    assert registry.get_alias(project, "toy", "dev") == 1


def test_an_older_checkout_is_refused_unless_it_is_a_rollback(
    project: Project, tmp_path: Path, capsys
) -> None:
    """Re-running an old deploy (an older commit) never rolls back; a rollback (hold) may."""
    # A real repository keeps the local state out of git, so its checkouts are clean.
    (project.root / ".gitignore").write_text(".modelops/\n")
    project.git("rm", "-r", "-q", "--cached", "--ignore-unmatch", ".modelops")
    commit(project, "ignore the local state")
    (v1, v2) = _promoted(project, tmp_path, versions=2)
    old = project.git("rev-parse", "HEAD")
    assert modelops(project, "promote", "toy", "--to", "dev", "--version", "2") == 0
    commit(project, "dev v2")
    new = project.git("rev-parse", "HEAD")
    assert modelops(project, "deploy", "dev") == 0
    assert _live(project)["toy"]["commit"] == new
    capsys.readouterr()

    project.git("checkout", "-q", old)  # what a re-run of the first deploy run checks out
    assert modelops(project, "deploy", "dev") == 2
    err = capsys.readouterr().err
    assert "refusing to deploy an older commit" in err and new[:12] in err
    assert _live(project)["toy"]["sha256"] == v2.sha256, "nothing switched"

    project.git("checkout", "-q", "-")
    rollback = ["rollback", "toy", "--env", "dev", "--to-version", "1", "--reason", "bad"]
    assert modelops(project, *rollback) == 0
    commit(project, "rollback")
    assert modelops(project, "deploy", "dev") == 0
    assert _live(project)["toy"]["sha256"] == v1.sha256


def test_concurrent_deploys_serialise(project: Project, tmp_path: Path) -> None:
    """Two deploy processes of one environment run one after the other and end on git's version."""
    import subprocess
    import sys

    (v1, _v2) = _promoted(project, tmp_path, versions=2)
    assert modelops(project, "promote", "toy", "--to", "dev", "--version", "2") == 0
    commit(project, "dev v2")
    env = {**os.environ, "MODELOPS_LOCK_TIMEOUT": "120"}
    argv = [sys.executable, "-m", "modelops", "-C", str(project.root), "deploy", "dev"]
    procs = [
        subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    said = "".join(o for o, _ in outs)
    # Exactly one did the work; the other found nothing left (it read the state under the lock).
    assert said.count("deployed (") == 1 and said.count("nothing to do") == 1
    assert _live(project)["toy"]["version"] == 2
    assert registry.get_alias(project, "toy", "dev") == 2
    assert v1.sha256 != _live(project)["toy"]["sha256"]


def test_lock_timeout_is_reported(project: Project, tmp_path: Path) -> None:
    """A deploy that cannot get the environment lock in time exits 4 naming the lock."""
    import fcntl

    _promoted(project, tmp_path)
    lock = project.state_dir / "serving" / "dev" / "deploy.lock"  # the store's lock
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        proc = cli_process(
            project, "deploy", "dev", env={**os.environ, "MODELOPS_LOCK_TIMEOUT": "1"}
        )
    assert proc.returncode == 4
    assert "timed out after 1s waiting for the deploy lock of 'dev'" in proc.stderr
    assert _live(project) == {}


class _Exploit:
    """Unpickling this creates a folder: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.mkdir, (str(self.marker),))


def test_pickle_in_registry_artifact_never_runs(project: Project, tmp_path: Path, capsys) -> None:
    """A pickle swapped into the registered bundle is refused by digest; its code never runs."""
    import pickle

    _promoted(project, tmp_path)
    run_id = registry.get_version(project, "toy", 1).run_id
    # The bundle/ that deploy downloads (mlflow-model/data/bundle/ holds a copy for MLflow).
    (model_file,) = (project.state_dir / "mlartifacts").rglob(
        f"{run_id}/artifacts/bundle/**/model.json"
    )
    marker = tmp_path / "pwned"
    model_file.write_bytes(pickle.dumps(_Exploit(marker)))
    assert modelops(project, "deploy", "dev") == 2
    assert "does not match the manifest" in capsys.readouterr().err
    assert not marker.exists() and _live(project) == {}


def test_deploy_says_what_it_changed(project: Project, tmp_path: Path, capsys) -> None:
    """The output names the change (`toy: v1 → v2`), not the state found before it."""
    _promoted(project, tmp_path, versions=2)
    assert modelops(project, "deploy", "dev") == 0
    assert modelops(project, "promote", "toy", "--to", "dev", "--version", "2") == 0
    commit(project, "dev v2")
    capsys.readouterr()
    assert modelops(project, "deploy", "dev") == 0
    out = capsys.readouterr().out
    v2 = registry.get_version(project, "toy", 2)
    assert f"  toy: v1 → v2 (sha256 {v2.sha256[:12]})\n" in out
    assert "planned" not in out and "live is" not in out
