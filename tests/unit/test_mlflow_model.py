"""Registered versions are MLflow pyfunc models: MLflow's own loader and server use them safely."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from gitopsproject import commit, forget_models, make_project, modelops, register_version

from modelops import mlflow_loader, registry
from modelops.bundle import pickle_files
from modelops.errors import IntegrityError
from modelops.fsutil import tree_digest
from modelops.project import Project


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    proj = make_project(tmp_path / "proj")
    monkeypatch.chdir(proj.root)
    monkeypatch.delenv(mlflow_loader.PIN_ENV, raising=False)
    yield proj
    forget_models()


def _prod(project: Project, tmp_path: Path, **kwargs: object) -> registry.VersionInfo:
    info = register_version(project, tmp_path, **kwargs)  # type: ignore[arg-type]
    registry.set_alias(project, "toy", "prod", info.version)
    return info


def _load(project: Project, uri: str = "models:/toy@prod"):  # type: ignore[no-untyped-def]
    import mlflow

    mlflow.set_tracking_uri(project.tracking_uri())
    mlflow.set_registry_uri(project.tracking_uri())
    return mlflow.pyfunc.load_model(uri)


def _artifact(info: registry.VersionInfo) -> Path:
    """The version's MLflow model folder in the embedded artifact store."""
    return Path(urlparse(info.source).path)


def test_mlflow_loads_and_scores_the_prod_alias(project: Project, tmp_path: Path) -> None:
    """`mlflow.pyfunc.load_model("models:/toy@prod")` scores as the team's own predict does."""
    import pandas as pd

    info = _prod(project, tmp_path)
    import models.toy as toy  # the project's package, put on sys.path by registering

    model = _load(project)
    frame = pd.DataFrame({"x": [0.05, 0.5, 0.95]})
    got = model.predict(frame)
    fitted = toy.load(_artifact(info) / "data" / "bundle" / "model")
    pd.testing.assert_frame_equal(got.reset_index(drop=True), toy.predict(fitted, frame))
    signature = model.metadata.signature
    assert signature.inputs.input_names() == ["x"]
    assert signature.outputs.input_names() == ["prediction", "proba_0", "proba_1"]
    assert model.metadata.get_input_schema() is not None
    assert model.metadata.load_input_example(str(_artifact(info))) is not None


def test_the_model_artifact_holds_no_pickle_and_no_code(project: Project, tmp_path: Path) -> None:
    """MLmodel names the toolkit's loader; no pickle, no Python in the artifact; same digest."""
    import mlflow.artifacts
    import yaml

    info = _prod(project, tmp_path)
    folder = Path(
        mlflow.artifacts.download_artifacts(
            artifact_uri=info.source,
            dst_path=str(tmp_path / "dl"),
            tracking_uri=project.tracking_uri(),
        )
    )
    mlmodel = yaml.safe_load((folder / "MLmodel").read_text())
    pyfunc = mlmodel["flavors"]["python_function"]
    assert pyfunc["loader_module"] == "modelops.mlflow_loader"
    assert pyfunc["data"] == "data/bundle"
    assert (
        not pyfunc.get("code")
        and "python_model" not in pyfunc
        and "cloudpickle_version" not in pyfunc
    )
    assert list(mlmodel["flavors"]) == ["python_function"]
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert "data/bundle/bundle.json" in files and "MLmodel" in files
    assert pickle_files(folder) == []
    assert not [f for f in files if f.endswith((".py", ".pyc", ".pkl", ".pickle", ".joblib"))]
    # The digest manifests pin is still the bundle's: the same tree as the run's bundle/.
    assert tree_digest(folder / "data" / "bundle") == info.sha256
    assert mlmodel["metadata"]["modelops"]["sha256"] == info.sha256
    run_bundle = registry.download_bundle(project, "toy", info.version, tmp_path / "b" / "bundle")
    assert tree_digest(run_bundle) == info.sha256


def test_an_altered_bundle_in_the_artifact_is_refused(project: Project, tmp_path: Path) -> None:
    """A changed byte in the registered bundle: MLflow's load fails on the digest, loads nothing."""
    info = _prod(project, tmp_path)
    weights = _artifact(info) / "data" / "bundle" / "model" / "model.json"
    weights.write_text(weights.read_text().replace("0.6", "0.9"))
    with pytest.raises(IntegrityError, match="differs from the recorded"):
        _load(project)


def test_a_planted_pickle_is_refused_even_with_a_matching_digest(
    project: Project, tmp_path: Path
) -> None:
    """A pickle added to the bundle, MLmodel re-pinned to the new digest: still never unpickled."""
    import pickle

    from mlflow.models import Model

    info = _prod(project, tmp_path)
    root = _artifact(info)
    marker = tmp_path / "pwned"
    (root / "data" / "bundle" / "model" / "extra.bin").write_bytes(
        pickle.dumps((os.mkdir, (str(marker),)))
    )
    mlmodel = Model.load(str(root / "MLmodel"))
    mlmodel.metadata["modelops"]["sha256"] = tree_digest(root / "data" / "bundle")
    mlmodel.save(str(root / "MLmodel"))
    with pytest.raises(IntegrityError, match="pickle"):
        _load(project)
    assert not marker.exists()


def test_a_bundle_naming_another_entrypoint_is_refused_before_import(
    project: Project, tmp_path: Path
) -> None:
    """MLmodel records the spec's entrypoint; a bundle naming another module is refused by the
    loader (MLmodel re-pinned to the altered bundle) and by register, before any import."""
    from mlflow.models import Model

    from modelops.bundle import BUNDLE_JSON

    info = _prod(project, tmp_path)
    root = _artifact(info)
    assert Model.load(str(root / "MLmodel")).metadata["modelops"]["entrypoint"] == "models.toy"
    meta_file = root / "data" / "bundle" / BUNDLE_JSON
    meta = json.loads(meta_file.read_text())
    meta_file.write_text(json.dumps({**meta, "entrypoint": "antigravity"}))
    mlmodel = Model.load(str(root / "MLmodel"))
    mlmodel.metadata["modelops"]["sha256"] = tree_digest(root / "data" / "bundle")
    mlmodel.save(str(root / "MLmodel"))
    with pytest.raises(IntegrityError, match="names the entrypoint 'antigravity'"):
        _load(project)
    assert "antigravity" not in sys.modules

    before = [v.version for v in registry.list_versions(project, "toy")]
    with pytest.raises(IntegrityError, match=r"the model's is 'models\.other'"):
        registry.register_run(
            project, "toy2", info.run_id, tags={"modelops.sha256": info.sha256},
            entrypoint="models.other",
        )  # fmt: skip
    assert [v.version for v in registry.list_versions(project, "toy")] == before
    assert "toy2" not in {m.name for m in registry.client(project).search_registered_models()}


def test_a_pinned_digest_refuses_another_model(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MODELOPS_EXPECTED_SHA256 (a manifest's digest) refuses a model recording another one."""
    info = _prod(project, tmp_path)
    monkeypatch.setenv(mlflow_loader.PIN_ENV, "0" * 64)
    with pytest.raises(IntegrityError, match="pins 000000000000"):
        _load(project)
    monkeypatch.setenv(mlflow_loader.PIN_ENV, info.sha256)
    assert len(_load(project).predict({"x": [0.2]})) == 1


def test_code_inside_the_artifact_is_never_imported(project: Project) -> None:
    """An entrypoint that resolves inside the artifact folder is refused."""
    from modelops.modelapi import load_model_module

    load_model_module(project, "models.toy", file=Path("toy.yaml"))  # from the project's src/
    with pytest.raises(IntegrityError, match="inside the model artifact"):
        mlflow_loader.import_entrypoint(
            "models.toy", artifact_root=project.root / "src", file=Path("bundle.json")
        )


def test_versions_registered_the_old_way_still_deploy_and_score(
    project: Project, tmp_path: Path
) -> None:
    """A bare-bundle version (no MLmodel) is promoted, deployed and scored by the toolkit."""
    info = register_version(project, tmp_path, mlflow_model=False)
    assert info.source.endswith("/bundle")
    assert modelops(project, "promote", "toy", "--to", "dev") == 0
    commit(project, "dev v1")
    assert modelops(project, "deploy", "dev") == 0
    source = tmp_path / "in.csv"
    source.write_text("x\n0.1\n0.7\n")
    out = tmp_path / "out.csv"
    assert (
        modelops(
            project, "predict", "toy", "--env", "dev", "--input", str(source), "--output", str(out)
        )
        == 0
    )
    assert len(out.read_text().splitlines()) == 3


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_mlflow_models_serve_answers_a_real_request(project: Project, tmp_path: Path) -> None:
    """`mlflow models serve -m models:/toy@prod --env-manager local` scores over loopback HTTP."""
    _prod(project, tmp_path)
    port = _free_port()
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(project.root / "src"), os.environ.get("PYTHONPATH", "")) if p
        ),
        "MLFLOW_TRACKING_URI": project.tracking_uri(),
    }
    # MLflow starts its scoring server as `uvicorn` from PATH.
    assert shutil.which("uvicorn", path=env["PATH"]), "uvicorn is installed with mlflow"
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "models", "serve", "-m", "models:/toy@prod",
         "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("server did not start: " + (tmp_path / "serve.log").read_text())
                time.sleep(0.5)
        body = {"dataframe_split": {"columns": ["x"], "data": [[0.1], [0.9]]}}
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (http only)
            answer = json.loads(response.read())
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()
    rows = answer["predictions"]
    assert [r["prediction"] for r in rows] == [0, 0]
    assert all(abs(r["proba_0"] + r["proba_1"] - 1) < 1e-9 for r in rows)


def test_requirements_come_from_the_run_and_are_validated() -> None:
    """requirements.txt pins the packages the run recorded; python and malformed entries are not."""
    tags = {
        "modelops.versions": json.dumps(
            {
                "python": "3.11.7",
                "scikit-learn": "1.9.1",
                "torch": "2.13.0+cpu",
                "--index-url": "http://evil",
                "pandas": "3.1; os_name=='nt'",
            }
        )
    }
    assert registry._pip_requirements(tags) == ["scikit-learn==1.9.1", "torch==2.13.0+cpu"]
    assert registry._pip_requirements({"modelops.versions": "not json"}) == []
