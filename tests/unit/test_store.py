"""The serving store: bundle copies verified by digest, the pointer document, store selection."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelops.errors import InputError, IntegrityError
from modelops.fsutil import tree_digest
from modelops.project import Project
from modelops.store import LocalStore, S3Store, open_store


def _bundle(root: Path, content: str = "w") -> tuple[Path, str]:
    (root / "model").mkdir(parents=True)
    (root / "bundle.json").write_text("{}")
    (root / "model" / "w.json").write_text(content)
    return root, tree_digest(root)


def test_put_verify_fetch_roundtrip(tmp_path: Path) -> None:
    """A stored bundle keeps its digest; a missing or altered one is reported as such."""
    store = LocalStore(tmp_path / "store")
    source, digest = _bundle(tmp_path / "b")
    assert store.bundle_problem("m", digest) == "bundle missing from the store"
    store.put_bundle("m", digest, source)
    assert store.bundle_problem("m", digest) is None
    fetched = store.fetch_bundle("m", digest, tmp_path / "dl")
    assert tree_digest(fetched) == digest
    (tmp_path / "store" / "bundles" / "m" / digest / "model" / "w.json").write_text("x")
    assert "altered" in (store.bundle_problem("m", digest) or "")
    store.put_bundle("m", digest, source)  # repair replaces the altered copy whole
    assert store.bundle_problem("m", digest) is None


def test_cheap_check_trusts_an_unchanged_listing_and_rehashes_a_changed_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without verify an unchanged stamp skips hashing; a rewrite or deletion is still caught."""
    import modelops.store as store_module

    store = LocalStore(tmp_path / "store")
    source, digest = _bundle(tmp_path / "b")
    store.put_bundle("m", digest, source)
    assert digest in "".join((tmp_path / "store" / "verified.json").read_text().split())
    hashed: list[Path] = []
    real = store_module.tree_digest
    monkeypatch.setattr(store_module, "tree_digest", lambda p: hashed.append(p) or real(p))
    fresh = LocalStore(tmp_path / "store")  # a new process: the stamp comes from the file
    assert fresh.bundle_problem("m", digest) is None and hashed == []
    assert fresh.bundle_problem("m", digest, verify=True) is None and len(hashed) == 1
    weights = tmp_path / "store" / "bundles" / "m" / digest / "model" / "w.json"
    weights.write_text("x")  # same size, new content: mtime and ctime move
    assert fresh.bundle_problem("m", digest) == "bundle in the store was altered (digest differs)"
    weights.unlink()
    assert "altered" in (LocalStore(tmp_path / "store").bundle_problem("m", digest) or "")


def test_status_never_writes_stamps(tmp_path: Path) -> None:
    """A check without save_stamps leaves verified.json as it was (status is read-only)."""
    store = LocalStore(tmp_path / "store")
    source, digest = _bundle(tmp_path / "b")
    store.put_bundle("m", digest, source)
    stamps = tmp_path / "store" / "verified.json"
    stamps.unlink()
    assert LocalStore(tmp_path / "store").bundle_problem("m", digest) is None
    assert not stamps.exists()


def test_put_refuses_a_bundle_under_the_wrong_digest(tmp_path: Path) -> None:
    """Copying a bundle under a digest it does not have fails after the copy is checked."""
    store = LocalStore(tmp_path / "store")
    source, _ = _bundle(tmp_path / "b")
    with pytest.raises(IntegrityError):
        store.put_bundle("m", "a" * 64, source)


def test_live_document_is_replaced_whole(tmp_path: Path) -> None:
    """live.json reads empty before the first deploy and round-trips; garbage is an error."""
    store = LocalStore(tmp_path)
    assert store.read_live() == {}
    store.write_live({"m": {"version": 1, "sha256": "a" * 64}})
    assert store.read_live()["m"]["version"] == 1
    (tmp_path / "live.json").write_text("{not json")
    with pytest.raises(IntegrityError, match="not valid JSON"):
        store.read_live()


def test_open_store_picks_local_or_s3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without MODELOPS_STORE the store is under .modelops/serving/<env>; s3:// picks S3."""
    project = Project(tmp_path)
    local = open_store(project, "dev")
    assert (
        isinstance(local, LocalStore) and local.root == tmp_path / ".modelops" / "serving" / "dev"
    )
    monkeypatch.setenv("MODELOPS_STORE", "s3://bucket/serving")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    s3 = open_store(project, "prod")
    assert isinstance(s3, S3Store) and s3.uri == "s3://bucket/serving/prod"
    monkeypatch.setenv("MODELOPS_STORE", "gs://bucket")
    with pytest.raises(InputError, match="unsupported store"):
        open_store(project, "dev")
