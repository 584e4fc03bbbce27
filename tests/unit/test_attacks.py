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


# -- 6: live.json is input ------------------------------------------------------


@pytest.mark.parametrize(
    "corrupt",
    [
        {"toy": {"version": 1, "sha256": "../../../../../../etc"}},
        {"toy": {"version": "v2", "sha256": "a" * 64}},
        {"toy": {"version": 1, "sha256": "A" * 64 + "\n"}},
        {"../x": {"version": 1, "sha256": "a" * 64}},
        ["not", "a", "mapping"],
        "{not json",
    ],
)
def test_corrupt_live_json_is_reported_by_status_and_healed_by_deploy(
    project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str], corrupt: object
) -> None:
    """A live.json that fails its schema: status exits 3 naming it, a dry run plans the rewrite
    and writes nothing, deploy rewrites it from git."""
    info = _deployed(project, tmp_path)
    live = _store(project) / "live.json"
    live.write_text(corrupt if isinstance(corrupt, str) else json.dumps(corrupt))
    capsys.readouterr()
    assert modelops(project, "status", "--env", "dev") == 3
    out = capsys.readouterr()
    assert "live.json" in out.out and "Traceback" not in out.err
    before = live.read_bytes()
    assert modelops(project, "deploy", "dev", "--dry-run") == 0
    out = capsys.readouterr()
    assert "nothing to do" not in out.out and "would rewrite" in out.out
    assert live.read_bytes() == before  # a dry run writes nothing
    assert modelops(project, "deploy", "dev") == 0
    assert json.loads(live.read_text())["toy"]["sha256"] == info.sha256
    assert modelops(project, "status", "--env", "dev") == 0


def test_store_never_builds_a_path_from_unchecked_names(tmp_path: Path) -> None:
    """A model name or digest with path pieces is refused before any file is touched."""
    from modelops.errors import IntegrityError
    from modelops.store import LocalStore

    store = LocalStore(tmp_path / "store")
    for model, sha in (("toy", "../../../.."), ("../x", "a" * 64), ("toy", "a" * 64 + "\n")):
        with pytest.raises(IntegrityError):
            store.bundle_problem(model, sha)


# -- 7: symlinks ----------------------------------------------------------------


def test_symlink_in_a_stored_bundle_is_reported_and_replaced(
    project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bundle file swapped for a symlink (to an identical copy, edited later) is refused."""
    info = _deployed(project, tmp_path)
    target = _store(project) / "bundles" / "toy" / info.sha256 / "model" / "model.json"
    copy = tmp_path / "outside.json"
    copy.write_bytes(target.read_bytes())
    target.unlink()
    target.symlink_to(copy)
    capsys.readouterr()
    assert modelops(project, "status", "--env", "dev") == 3
    assert "symlink" in capsys.readouterr().out
    copy.write_text('{"majority": 0}')  # the edit that the stamp would otherwise hide
    assert modelops(project, "status", "--env", "dev") == 3
    assert modelops(project, "deploy", "dev") == 0
    assert not target.is_symlink() and target.is_file()
    assert modelops(project, "status", "--env", "dev") == 0


def test_tree_digest_and_verify_refuse_symlinks(tmp_path: Path) -> None:
    """A symlink anywhere in a bundle makes its digest (and so verify and load) refuse it."""
    from modelops.errors import IntegrityError
    from modelops.fsutil import tree_digest

    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "f").write_text("x")
    (tmp_path / "b" / "link").symlink_to(tmp_path / "b" / "f")
    with pytest.raises(IntegrityError, match="symlink"):
        tree_digest(tmp_path / "b")


# -- 4: holds -------------------------------------------------------------------


def _held(project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """dev runs v1 under a hold placed by 'Rita Rollback' (git author), v2 registered."""
    register_version(project, tmp_path, bias=0.6)
    register_version(project, tmp_path, bias=0.7)
    for version in (1, 2):
        assert modelops(project, "promote", "toy", "--to", "dev", "--version", str(version)) == 0
        commit(project, f"dev v{version}")
    monkeypatch.setenv("USER", "os-login")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Rita Rollback")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "rita@example.com")
    args = ("rollback", "toy", "--env", "dev", "--to-version", "1", "--reason", "incident 42")
    assert modelops(project, *args) == 0
    commit(project, "rollback")


def test_promotion_into_a_held_environment_is_refused_without_release_hold(
    project: Project,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`promote` (what the action runs) cannot lift a hold; the error names who placed it."""
    from modelops.spec import load_manifest

    _held(project, tmp_path, monkeypatch)
    held = load_manifest(project, "dev", "toy")
    assert held is not None and held.hold is not None
    assert held.hold["by"] == "Rita Rollback <rita@example.com>"
    capsys.readouterr()
    for extra in ((), ("--automated",), ("--automated", "--release-hold")):
        assert modelops(project, "promote", "toy", "--to", "dev", "--version", "2", *extra) == 2
        err = capsys.readouterr().err
        assert "Rita Rollback" in err and "--release-hold" in err and "Traceback" not in err
        assert load_manifest(project, "dev", "toy") == held


def test_release_hold_is_explicit_and_recorded_with_the_git_author(
    project: Project,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`--release-hold` lifts the hold; the manifest and PR body name the git author, not $USER."""
    from modelops.spec import load_manifest

    _held(project, tmp_path, monkeypatch)
    monkeypatch.delenv("GIT_AUTHOR_NAME")
    monkeypatch.delenv("GIT_AUTHOR_EMAIL")
    project.git("config", "user.name", "Pat Person")
    project.git("config", "user.email", "pat@example.com")
    capsys.readouterr()
    assert (
        modelops(project, "promote", "toy", "--to", "dev", "--version", "2", "--release-hold") == 0
    )
    out = capsys.readouterr().out
    assert "Pat Person" in out and "os-login" not in out
    manifest = load_manifest(project, "dev", "toy")
    assert manifest is not None and manifest.version == 2 and manifest.hold is None
    assert manifest.raw["hold_released"]["by"] == "Pat Person <pat@example.com>"
    assert manifest.raw["hold_released"]["hold"]["reason"] == "incident 42"


# -- 3: gates from immutable run metrics; the PR body escaped -------------------


def test_editing_the_metrics_tag_does_not_pass_a_failing_gate(
    project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A version tag edited from failing to passing is ignored: the run's logged metrics decide."""
    from modelops.spec import load_manifest

    info = register_version(project, tmp_path, accuracy=0.3)
    mc = registry.client(project)
    forged = json.dumps({"accuracy": 0.99, "roc_auc": 0.99})
    mc.set_model_version_tag("toy", str(info.version), "modelops.metrics", forged)
    capsys.readouterr()
    assert modelops(project, "promote", "toy", "--to", "dev") == 2
    assert "accuracy 0.3000 < min 0.5" in capsys.readouterr().err
    assert load_manifest(project, "dev", "toy") is None


def test_a_metric_logged_again_on_the_run_is_refused(
    project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A second value logged later for an evaluation metric (a rewrite) refuses the promotion."""
    info = register_version(project, tmp_path, accuracy=0.3)
    registry.client(project).log_metric(info.run_id, "modelops.eval.accuracy", 0.99, step=1)
    capsys.readouterr()
    assert modelops(project, "promote", "toy", "--to", "dev") == 2
    assert "logged more than once" in capsys.readouterr().err


HOSTILE = (
    "## ✅ All gates passed — approved by @boss <img src=x onerror=alert(1)> [ok](https://e.vil)"
)


def test_pr_body_escapes_every_value_it_quotes(
    project: Project,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Hostile hold and manifest text reaches the PR body inert: no heading, mention, link, HTML."""
    register_version(project, tmp_path, bias=0.6)
    register_version(project, tmp_path, bias=0.7)
    for version in (1, 2):
        assert modelops(project, "promote", "toy", "--to", "dev", "--version", str(version)) == 0
        commit(project, f"dev v{version}")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Mallory @boss <b>x</b>")
    args = ("rollback", "toy", "--env", "dev", "--to-version", "1", "--reason", HOSTILE)
    assert modelops(project, *args) == 0
    manifest = project.manifest_path("dev", "toy")
    manifest.write_text(
        manifest.read_text().replace("source_commit: ", "source_commit: '`|## x' #")
    )
    commit(project, "rollback")
    body = tmp_path / "body.md"
    capsys.readouterr()
    assert (
        modelops(
            project,
            "promote",
            "toy",
            "--to",
            "dev",
            "--version",
            "2",
            "--release-hold",
            "--pr-body",
            str(body),
        )
        == 0
    )
    text = body.read_text()
    assert "All gates passed" in text
    assert "<img" not in text and "<b>" not in text and "](https" not in text
    assert "@boss" not in text and "https://e.vil" not in text
    assert not any(line.lstrip().startswith("#") and "gates" in line for line in text.splitlines())
    assert "`|## x" not in text


# -- 8: defence in depth --------------------------------------------------------


def test_bundle_entrypoint_must_be_the_specs_before_import(
    project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bundle.json naming another module (validly digested) is refused before it is imported."""
    import shutil

    from modelops.bundle import BUNDLE_JSON
    from modelops.fsutil import tree_digest

    info = _deployed(project, tmp_path)
    marker = tmp_path / "imported"
    evil = project.root / "src" / "models" / "evil.py"
    evil.write_text(f"import pathlib\npathlib.Path({str(marker)!r}).mkdir()\n")
    store = _store(project)
    old = store / "bundles" / "toy" / info.sha256
    staged = tmp_path / "staged"
    shutil.copytree(old, staged)
    meta = json.loads((staged / BUNDLE_JSON).read_text())
    meta["entrypoint"] = "models.evil"
    (staged / BUNDLE_JSON).write_text(json.dumps(meta))
    digest = tree_digest(staged)
    shutil.copytree(staged, store / "bundles" / "toy" / digest)
    live = json.loads((store / "live.json").read_text())
    live["toy"]["sha256"] = digest
    (store / "live.json").write_text(json.dumps(live))
    source = tmp_path / "in.csv"
    source.write_text("x\n0.5\n")
    capsys.readouterr()
    out = tmp_path / "o.csv"
    assert (
        modelops(
            project, "predict", "toy", "--env", "dev", "--input", str(source), "--output", str(out)
        )
        == 2
    )
    assert "entrypoint" in capsys.readouterr().err
    assert not marker.exists() and not out.exists()


def _pickle_variants(tmp_path: Path) -> dict[str, Path]:
    import pickle
    import zipfile

    import numpy as np

    files = {}
    for proto in (0, 1):
        path = tmp_path / f"p{proto}.bin"
        path.write_bytes(pickle.dumps({"a": [1, 2]}, protocol=proto))
        files[f"protocol {proto}"] = path
    torch_zip = tmp_path / "weights.bin"
    with zipfile.ZipFile(torch_zip, "w") as zf:
        zf.writestr("archive/data.pkl", pickle.dumps({"w": 1}, protocol=2))
        zf.writestr("archive/version", "3\n")
    files["torch zip"] = torch_zip
    npy = tmp_path / "arr.data"
    np.save(npy.with_suffix(".npy"), np.array([{"a": 1}], dtype=object), allow_pickle=True)
    npy.with_suffix(".npy").rename(npy)
    files["object npy"] = npy
    return files


def test_pickle_scan_catches_every_pickle_container(tmp_path: Path) -> None:
    """Protocol 0/1 pickles, torch zips and object .npy files are found whatever their name."""
    import numpy as np

    from modelops.bundle import pickle_files

    bad = tmp_path / "bad"
    bad.mkdir()
    variants = _pickle_variants(bad)
    good = tmp_path / "good"
    good.mkdir()
    (good / "model.json").write_text('{"a": [1, 2], "c": "(dp0"}')
    (good / "notes.txt").write_text("(lp0\nI1\na.")  # text, but truly a protocol-0 pickle
    np.save(good / "plain.npy", np.arange(5))
    assert sorted(pickle_files(bad)) == sorted(p.name for p in variants.values())
    assert pickle_files(good) == ["notes.txt"]


def test_tree_digest_refuses_control_characters_in_names(tmp_path: Path) -> None:
    """A newline in a file name could forge a digest line: refused (the digest stays injective)."""
    from modelops.errors import IntegrityError
    from modelops.fsutil import tree_digest

    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "a\n0000  x").write_text("x")
    with pytest.raises(IntegrityError, match="control character"):
        tree_digest(tmp_path / "b")


def test_schema_patterns_refuse_a_trailing_newline(tmp_path: Path) -> None:
    """`$` in Python's re accepts a trailing newline; every shipped pattern refuses it."""
    from modelops.errors import SpecError
    from modelops.spec import load_schema, validate_document

    doc = {"toy": {"version": 1, "sha256": "a" * 64 + "\n"}}
    with pytest.raises(SpecError):
        validate_document(doc, "live", tmp_path / "live.json")
    for name in ("pipeline", "environment", "manifest", "live"):
        text = json.dumps(load_schema(name))
        assert '$"' not in text, name


def test_cli_model_names_are_validated(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """`../x` as a model name is one error line (exit 2); nothing is written outside results/."""
    for argv in (("train", "../x"), ("evaluate", "../../x"), ("history", "a/b", "--env", "dev")):
        assert modelops(project, *argv) == 2
        assert "model name" in capsys.readouterr().err
    assert not (project.state_dir / "x").exists() and not (project.root / "x").exists()


def test_yaml_alias_bomb_is_refused_at_read_time(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """A billion-laughs alias bomb in train.params fails `validate` with a clear error (exit 2)."""
    spec = project.pipeline_path("toy")
    bomb = 'a: &a ["x","x","x","x","x","x","x","x","x"]\n'
    for i in range(1, 9):
        prev = chr(ord("a") + i - 1)
        cur = chr(ord("a") + i)
        bomb += f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]\n"
    params = "".join(f"    {line}\n" for line in bomb.splitlines())
    spec.write_text(spec.read_text().replace("  params: {bias: 0.6}\n", "  params:\n" + params))
    assert modelops(project, "validate") == 2
    err = capsys.readouterr().err
    assert "alias" in err and "pipelines/toy.yaml" in err
