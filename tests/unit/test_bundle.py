"""The model bundle: written whole, digest-verified before anything is loaded, never a pickle."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from toyproject import write_toy

from modelops import bundle
from modelops.errors import IntegrityError, SpecError
from modelops.fsutil import tree_digest
from modelops.modelapi import TrainContext, load_model_module
from modelops.project import Project
from modelops.spec import load_pipeline


@pytest.fixture
def toy(tmp_path: Path):
    root = write_toy(tmp_path / "proj")
    project = Project(root)
    spec = load_pipeline(project, "toy")
    module = load_model_module(project, spec.entrypoint, file=spec.path)
    import pandas as pd

    df = pd.read_csv(root / "data/toy/toy.csv")
    model = module.train(df, spec.params, TrainContext(seed=0, target="y"))
    yield project, spec, module, model, df
    import sys

    for name in [m for m in sys.modules if m == "models" or m.startswith("models.")]:
        del sys.modules[name]


def _write(toy, directory: Path) -> str:
    _project, spec, module, model, df = toy
    return bundle.write_bundle(
        directory,
        module=module,
        model=model,
        spec=spec,
        features=["x"],
        classes=[0, 1],
        input_example=df.head(3),
    )


def test_write_returns_tree_digest_and_layout(toy, tmp_path: Path) -> None:
    """write_bundle returns the tree digest and writes bundle.json, the example and model/."""
    digest = _write(toy, tmp_path / "b")
    assert digest == tree_digest(tmp_path / "b")
    meta = bundle.read_meta(tmp_path / "b")
    assert meta["entrypoint"] == "models.toy"
    assert meta["signature"] == {"x": "float64"}
    assert meta["classes"] == [0, 1]
    assert bundle.read_input_example(tmp_path / "b") == [{"x": 0.0}, {"x": 0.005}, {"x": 0.01}]
    assert (tmp_path / "b" / "model" / "model.json").is_file()


def test_load_verified_round_trip(toy, tmp_path: Path) -> None:
    """A bundle loads back into a model that predicts like the original."""
    project, _, _module, model, _df = toy
    digest = _write(toy, tmp_path / "b")
    _, loaded, meta = bundle.load_verified(project, tmp_path / "b", digest, entrypoint="models.toy")
    assert loaded == model
    assert meta["model"] == "toy"


def test_flipped_byte_is_refused_before_loading(toy, tmp_path: Path) -> None:
    """One changed byte in the model file fails verification; load() is never called."""
    project = toy[0]
    digest = _write(toy, tmp_path / "b")
    target = tmp_path / "b" / "model" / "model.json"
    data = bytearray(target.read_bytes())
    data[0] ^= 1
    target.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="differs from the recorded"):
        bundle.load_verified(project, tmp_path / "b", digest, entrypoint="models.toy")


def test_pickle_saved_by_a_model_is_refused(toy, tmp_path: Path) -> None:
    """A save() that writes a pickle fails the bundle, and no bundle folder is left behind."""
    _project, spec, _module, model, df = toy

    class Pickler:
        @staticmethod
        def save(m, directory: Path) -> None:
            (directory / "model.bin").write_bytes(pickle.dumps(m, protocol=4))

    with pytest.raises(SpecError, match="pickle"):
        bundle.write_bundle(
            tmp_path / "b",
            module=Pickler,
            model=model,
            spec=spec,  # type: ignore[arg-type]
            features=["x"],
            classes=[0, 1],
            input_example=df.head(2),
        )
    assert not (tmp_path / "b").exists()
    assert list(tmp_path.glob(".b.*")) == []


def test_bundle_with_pickle_is_refused_on_load_even_if_digest_matches(toy, tmp_path: Path) -> None:
    """A recorded digest that covers a pickle still does not get the pickle loaded."""
    project = toy[0]
    _write(toy, tmp_path / "b")
    (tmp_path / "b" / "model" / "extra.pkl").write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(IntegrityError, match="pickle"):
        bundle.load_verified(
            project, tmp_path / "b", tree_digest(tmp_path / "b"), entrypoint="models.toy"
        )


def test_existing_folder_is_not_overwritten(toy, tmp_path: Path) -> None:
    """A bundle is immutable: writing onto an existing folder is refused."""
    (tmp_path / "b").mkdir()
    with pytest.raises(SpecError, match="already exists"):
        _write(toy, tmp_path / "b")
