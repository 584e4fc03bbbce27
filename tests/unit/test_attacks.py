"""Issue 13's attack findings: each attack ends in a refusal (exit 2) or a healed state."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from gitopsproject import commit, forget_models, make_project, modelops, register_version

from modelops import registry
from modelops.project import Project


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    proj = make_project(tmp_path / "proj")
    monkeypatch.chdir(proj.root)
    yield proj
    forget_models()


def _deployed(project: Project, tmp_path: Path, env: str = "dev") -> registry.VersionInfo:
    """Register v1, promote it into dev, commit and deploy dev."""
    info = register_version(project, tmp_path)
    assert modelops(project, "promote", "toy", "--to", "dev") == 0
    commit(project, "dev v1")
    assert modelops(project, "deploy", env) == 0
    return info


def _store(project: Project, env: str = "dev") -> Path:
    return project.state_dir / "serving" / env


# -- 10: predict with the target column; status exit code ----------------------


def test_predict_accepts_and_ignores_the_target_column(
    project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A labelled hold-out (target column present) scores under a strict schema; labels ignored."""
    schema = project.root / "src" / "models" / "toy" / "schema.py"
    schema.write_text(
        "import pandera.pandas as pa\n"
        'SCHEMA = pa.DataFrameSchema({"x": pa.Column(float), "y": pa.Column(int)}, strict=True)\n'
    )
    commit(project, "strict schema")
    _deployed(project, tmp_path)
    labelled = project.root / "data" / "toy" / "toy.csv"
    out = tmp_path / "scored.csv"
    capsys.readouterr()
    assert (
        modelops(
            project,
            "predict",
            "toy",
            "--env",
            "dev",
            "--input",
            str(labelled),
            "--output",
            str(out),
        )
        == 0
    )
    assert "ignored" in capsys.readouterr().out
    scored = out.read_text().splitlines()
    assert len(scored) == 201 and "y" not in scored[0].split(",")


def test_status_exits_3_when_it_reports_drift(project: Project, tmp_path: Path) -> None:
    """`status` exits 0 in sync and 3 ("drift found") once the store differs from git."""
    info = _deployed(project, tmp_path)
    assert modelops(project, "status") == 0
    (_store(project) / "bundles" / "toy" / info.sha256 / "bundle.json").write_text("{}")
    assert modelops(project, "status", "--env", "dev") == 3


# -- 9: missing values are drift ---------------------------------------------


def test_missing_value_rate_is_its_own_drift_test() -> None:
    """An all-null feature and a 0 % → 60 % null feature are both flagged as drift."""
    import numpy as np
    import pandas as pd

    from modelops.drift import compare
    from modelops.spec import DriftSpec

    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"a": rng.normal(size=1000), "b": rng.normal(size=1000)})
    recent = reference.copy()
    recent["a"] = np.nan
    recent.loc[recent.index[:600], "b"] = np.nan
    for test in ("psi", "ks"):
        rows = compare(reference, recent, DriftSpec(features=("a", "b"), test=test, threshold=0.2))
        assert [r["drifted"] for r in rows] == [True, True], rows
        assert rows[1]["missing_rate"] == {"reference": 0.0, "recent": 0.6}
    same = compare(reference, reference, DriftSpec(features=("a", "b"), threshold=0.2))
    assert not any(r["drifted"] for r in same)


# -- 1: overlapping stores; the lock belongs to the store -----------------------


def _set_store(project: Project, env: str, store: str) -> None:
    path = project.environment_dir(env) / "environment.yaml"
    text = path.read_text().replace(f"  alias: {env}\n", f"  alias: {env}\n  store: {store}\n")
    assert "store:" in text
    path.write_text(text)


def test_overlapping_stores_are_refused_by_validate_and_deploy(
    project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """dev pointed at prod's store (or inside it) is refused; prod's live.json is untouched."""
    register_version(project, tmp_path)
    prod_live = _store(project, "prod") / "live.json"
    prod_live.parent.mkdir(parents=True)
    prod_live.write_text(json.dumps({"toy": {"version": 1, "sha256": "a" * 64}}) + "\n")
    before = prod_live.read_bytes()
    for shared in (str(_store(project, "prod")), ".modelops/serving/prod/sub"):
        _set_store(project, "dev", shared)
        capsys.readouterr()
        assert modelops(project, "validate") == 2
        err = capsys.readouterr().err
        assert "overlaps" in err and "environments/prod" in err
        assert modelops(project, "deploy", "dev") == 2
        assert prod_live.read_bytes() == before
        (project.environment_dir("dev") / "environment.yaml").write_text(
            (project.environment_dir("dev") / "environment.yaml")
            .read_text()
            .replace(f"  store: {shared}\n", "")
        )


def test_two_checkouts_sharing_a_folder_store_share_its_lock(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deploy lock lives in the store: held there, it blocks a deploy from another checkout."""
    from modelops.lock import file_lock
    from modelops.store import LOCK

    shared = tmp_path / "shared-store"
    monkeypatch.setenv("MODELOPS_STORE", str(shared))
    monkeypatch.setenv("MODELOPS_LOCK_TIMEOUT", "0.5")
    _deployed(project, tmp_path)
    other = make_project(tmp_path / "other")
    with file_lock(shared / "dev" / LOCK, what="a deploy from the first checkout", timeout=1):
        assert modelops(other, "deploy", "dev") == 4
    assert modelops(other, "deploy", "dev") == 0


# -- 2: deploy touches only the aliases of the models it manages ----------------


def test_deploy_leaves_aliases_of_unmanaged_models_alone(project: Project, tmp_path: Path) -> None:
    """An alias 'dev' on a model this project does not manage ('ghost') survives `deploy dev`."""
    info = _deployed(project, tmp_path)
    mc = registry.client(project)
    mc.create_registered_model("ghost")
    mc.create_model_version("ghost", info.source, run_id=info.run_id)
    mc.set_registered_model_alias("ghost", "dev", "1")
    assert modelops(project, "deploy", "dev") == 0
    assert registry.get_alias(project, "ghost", "dev") == 1
    assert modelops(project, "status", "--env", "dev") == 0
