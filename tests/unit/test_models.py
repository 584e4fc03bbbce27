"""The example model packages: contract, safe save/load, determinism, resumable training."""

from __future__ import annotations

import pickle
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from modelops.errors import InputError
from modelops.modelapi import TrainContext, load_model_module
from modelops.project import Project

REPO = Path(__file__).resolve().parents[2]
FAST_DIGITS = {"epochs": 6, "checkpoint_every": 2, "hidden": 32}


@pytest.fixture(scope="module")
def models_path() -> Iterator[None]:
    """The repository's model packages importable; unloaded afterwards for other tests."""
    # An earlier test may have imported `models` from a scratch copy that is gone now.
    for name in [m for m in sys.modules if m == "models" or m.startswith("models.")]:
        del sys.modules[name]
    sys.path.insert(0, str(REPO / "src"))
    yield
    sys.path.remove(str(REPO / "src"))
    for name in [m for m in sys.modules if m == "models" or m.startswith("models.")]:
        del sys.modules[name]


@pytest.fixture(scope="module")
def churn(models_path: None) -> ModuleType:
    import models.churn

    return models.churn


@pytest.fixture(scope="module")
def digits(models_path: None) -> ModuleType:
    import models.digits

    return models.digits


@pytest.fixture(scope="module")
def churn_split() -> tuple[Any, Any]:
    import pandas as pd

    frame = pd.read_csv(REPO / "data" / "churn" / "customers.csv")
    return frame.iloc[:4000], frame.iloc[4000:]


@pytest.fixture(scope="module")
def digits_split() -> tuple[Any, Any]:
    import pandas as pd

    frame = pd.read_csv(REPO / "data" / "digits" / "digits.csv")
    return frame.iloc[:1400], frame.iloc[1400:]


def _churn_context(seed: int = 0) -> TrainContext:
    return TrainContext(seed=seed, target="churned")


# -- contract ---------------------------------------------------------------------


@pytest.mark.parametrize("entrypoint", ["models.churn", "models.digits", "models.diabetes"])
def test_example_models_implement_the_contract(entrypoint: str) -> None:
    """The example packages expose train, predict, save and load, FEATURES and TARGET."""
    module = load_model_module(Project(REPO), entrypoint, file=Path("pipelines/x.yaml"))
    assert module.FEATURES
    assert module.TARGET not in module.FEATURES
    for name in [m for m in sys.modules if m == "models" or m.startswith("models.")]:
        del sys.modules[name]


# -- churn (scikit-learn + skops) ------------------------------------------------------


def test_churn_learns_a_plausible_but_imperfect_model(
    churn: ModuleType, churn_split: tuple[Any, Any]
) -> None:
    """On held-out rows the churn model ranks well (AUC 0.8–0.95) but not perfectly."""
    from sklearn.metrics import roc_auc_score

    train, test = churn_split
    model = churn.train(train, {}, _churn_context())
    scores = churn.predict(model, test)
    assert list(scores.columns) == ["prediction", "proba_0", "proba_1"]
    assert list(scores.index) == list(test.index)
    assert 0.8 < roc_auc_score(test["churned"], scores["proba_1"]) < 0.95


def test_churn_training_is_deterministic(churn: ModuleType, churn_split: tuple[Any, Any]) -> None:
    """The same data, params and seed give the same probabilities."""
    train, test = churn_split
    first = churn.predict(churn.train(train, {}, _churn_context(3)), test)
    second = churn.predict(churn.train(train, {}, _churn_context(3)), test)
    assert first.equals(second)


@pytest.mark.parametrize("classifier", ["hist_gradient_boosting", "logistic_regression"])
def test_churn_save_load_round_trip(
    churn: ModuleType, churn_split: tuple[Any, Any], tmp_path: Path, classifier: str
) -> None:
    """A saved and reloaded churn model predicts exactly what the original did."""
    train, test = churn_split
    model = churn.train(train, {"classifier": classifier}, _churn_context())
    churn.save(model, tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["model.skops"]
    assert churn.predict(churn.load(tmp_path), test).equals(churn.predict(model, test))


def test_churn_load_refuses_untrusted_types(churn: ModuleType, tmp_path: Path) -> None:
    """A skops file that would call os.system is refused before anything is built."""
    import os

    import skops.io
    from sklearn.preprocessing import FunctionTransformer

    skops.io.dump(FunctionTransformer(func=os.system), tmp_path / "model.skops")
    with pytest.raises(InputError, match=r"untrusted types \['posix.system'\]"):
        churn.load(tmp_path)


def test_churn_load_refuses_a_pickle(churn: ModuleType, tmp_path: Path) -> None:
    """A pickle saved under the skops name is not a readable skops file."""
    (tmp_path / "model.skops").write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    with pytest.raises(InputError, match="not a readable skops file"):
        churn.load(tmp_path)


def test_churn_rejects_unknown_params(churn: ModuleType, churn_split: tuple[Any, Any]) -> None:
    """A misspelt hyper-parameter is an error naming train.params, not silently ignored."""
    with pytest.raises(InputError, match="max_iters") as info:
        churn.train(churn_split[0], {"max_iters": 10}, _churn_context())
    assert info.value.field == "train.params"


# -- diabetes (scikit-learn regression + skops) ------------------------------------------


@pytest.fixture(scope="module")
def diabetes(models_path: None) -> ModuleType:
    import models.diabetes

    return models.diabetes


@pytest.fixture(scope="module")
def diabetes_split() -> tuple[Any, Any]:
    import pandas as pd
    from sklearn.model_selection import train_test_split

    frame = pd.read_csv(REPO / "data" / "diabetes" / "diabetes.csv")
    return tuple(train_test_split(frame, test_size=0.2, random_state=7))  # type: ignore[return-value]


@pytest.mark.parametrize("regressor", ["ridge", "hist_gradient_boosting"])
def test_diabetes_regressor_learns_saves_and_reloads(
    diabetes: ModuleType, diabetes_split: tuple[Any, Any], tmp_path: Path, regressor: str
) -> None:
    """The regressor explains part of the variance (R² 0.3–0.7, as the data allows), predicts
    one numeric `prediction` column, and reloads from skops to identical predictions."""
    from sklearn.metrics import r2_score

    train, test = diabetes_split
    context = TrainContext(seed=0, target="progression")
    model = diabetes.train(train, {"regressor": regressor}, context)
    scores = diabetes.predict(model, test)
    assert list(scores.columns) == ["prediction"] and list(scores.index) == list(test.index)
    assert 0.3 < r2_score(test["progression"], scores["prediction"]) < 0.7
    diabetes.save(model, tmp_path)
    assert diabetes.predict(diabetes.load(tmp_path), test).equals(scores)


def test_diabetes_load_refuses_untrusted_types(diabetes: ModuleType, tmp_path: Path) -> None:
    """A skops file that would call os.system is refused before anything is built."""
    import os

    import skops.io
    from sklearn.preprocessing import FunctionTransformer

    skops.io.dump(FunctionTransformer(func=os.system), tmp_path / "model.skops")
    with pytest.raises(InputError, match=r"untrusted types \['posix.system'\]"):
        diabetes.load(tmp_path)


# -- digits (torch + safetensors) ------------------------------------------------------


def _weights(model: Any) -> dict[str, Any]:
    return {k: v.clone() for k, v in model.net.state_dict().items()}


def _same_weights(a: dict[str, Any], b: dict[str, Any]) -> bool:
    import torch

    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_digits_trains_logs_losses_and_records_device(
    digits: ModuleType, digits_split: tuple[Any, Any]
) -> None:
    """Training logs train and val loss per epoch, learns, and records device and AMP dtype."""
    train, test = digits_split
    logged: list[tuple[str, float, int]] = []
    context = TrainContext(
        seed=0, target="label", log_metric=lambda k, v, s: logged.append((k, v, s))
    )
    model = digits.train(train, {"epochs": 8}, context)
    assert [s for k, _, s in logged if k == "train_loss"] == list(range(1, 9))
    assert [s for k, _, s in logged if k == "val_loss"] == list(range(1, 9))
    losses = [v for k, v, _ in logged if k == "train_loss"]
    assert losses[-1] < losses[0] / 3
    assert context.facts["device"] == "cpu"
    assert context.facts["amp_dtype"] == "none"
    scores = digits.predict(model, test)
    assert list(scores.columns) == ["prediction"] + [f"proba_{d}" for d in range(10)]
    assert (scores["prediction"] == test["label"]).mean() > 0.85


def test_digits_training_leaves_the_thread_count_alone(
    digits: ModuleType, digits_split: tuple[Any, Any]
) -> None:
    """Training runs on one CPU thread but gives the caller back its own setting."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        digits.train(digits_split[0], {"epochs": 1}, TrainContext(seed=0, target="label"))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_digits_training_is_deterministic_on_cpu(
    digits: ModuleType, digits_split: tuple[Any, Any]
) -> None:
    """Two runs with the same seed end with bit-identical weights; another seed differs."""
    train = digits_split[0]
    a = _weights(digits.train(train, FAST_DIGITS, TrainContext(seed=5, target="label")))
    b = _weights(digits.train(train, FAST_DIGITS, TrainContext(seed=5, target="label")))
    c = _weights(digits.train(train, FAST_DIGITS, TrainContext(seed=6, target="label")))
    assert _same_weights(a, b)
    assert not _same_weights(a, c)


class Interrupted(Exception):
    """Stands in for a spot interruption in the middle of training."""


def test_interrupted_training_resumes_to_identical_weights(
    digits: ModuleType, digits_split: tuple[Any, Any], tmp_path: Path
) -> None:
    """Killed after epoch 5 and resumed from the epoch-4 checkpoint, training ends bit-identical."""
    train = digits_split[0]
    reference = _weights(digits.train(train, FAST_DIGITS, TrainContext(seed=1, target="label")))

    def stop_after_epoch_5(name: str, value: float, step: int) -> None:
        if step == 5:
            raise Interrupted

    ckpt = tmp_path / "ckpt"
    with pytest.raises(Interrupted):
        digits.train(
            train,
            FAST_DIGITS,
            TrainContext(
                seed=1, target="label", checkpoint_dir=ckpt, log_metric=stop_after_epoch_5
            ),
        )
    assert sorted(p.name for p in ckpt.glob("*.json")) == [
        "checkpoint-00002.json",
        "checkpoint-00004.json",
    ]
    resumed_steps: list[int] = []
    context = TrainContext(
        seed=1,
        target="label",
        checkpoint_dir=ckpt,
        log_metric=lambda k, v, s: resumed_steps.append(s),
    )
    resumed = _weights(digits.train(train, FAST_DIGITS, context))
    assert context.facts["resumed_from_epoch"] == "4"
    assert sorted(set(resumed_steps)) == [5, 6]
    assert _same_weights(resumed, reference)


def test_checkpoint_of_other_params_or_torn_is_not_resumed(
    digits: ModuleType, digits_split: tuple[Any, Any], tmp_path: Path
) -> None:
    """A checkpoint from different params, or whose tensors were damaged, is ignored."""
    train = digits_split[0]
    ckpt = tmp_path / "ckpt"
    digits.train(train, FAST_DIGITS, TrainContext(seed=1, target="label", checkpoint_dir=ckpt))
    other = TrainContext(seed=1, target="label", checkpoint_dir=ckpt)
    digits.train(train, {**FAST_DIGITS, "learning_rate": 0.01}, other)
    assert "resumed_from_epoch" not in other.facts

    for tensors in ckpt.glob("*.safetensors"):
        blob = bytearray(tensors.read_bytes())
        blob[-1] ^= 0xFF  # one flipped bit in the last stored weight
        tensors.write_bytes(bytes(blob))
    torn = TrainContext(seed=1, target="label", checkpoint_dir=ckpt)
    digits.train(train, {**FAST_DIGITS, "learning_rate": 0.01}, torn)
    assert "resumed_from_epoch" not in torn.facts


def test_digits_save_load_round_trip(
    digits: ModuleType, digits_split: tuple[Any, Any], tmp_path: Path
) -> None:
    """Saved as safetensors + JSON and reloaded, the network predicts exactly the same."""
    train, test = digits_split
    model = digits.train(train, FAST_DIGITS, TrainContext(seed=0, target="label"))
    digits.save(model, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "weights.safetensors"]
    assert digits.predict(digits.load(tmp_path), test).equals(digits.predict(model, test))


class _Payload:
    """Unpickling this writes a marker file: proof that a loader ran pickle."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.write_text, (self.marker, "pwned"))


def test_digits_load_never_unpickles(
    digits: ModuleType, digits_split: tuple[Any, Any], tmp_path: Path
) -> None:
    """A pickle (one that runs code when loaded) in place of the weights is refused, unrun."""
    model = digits.train(digits_split[0], FAST_DIGITS, TrainContext(seed=0, target="label"))
    digits.save(model, tmp_path / "bundle")
    marker = tmp_path / "marker"
    (tmp_path / "bundle" / "weights.safetensors").write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(InputError, match="not a safetensors file"):
        digits.load(tmp_path / "bundle")
    assert not marker.exists()


def test_digits_load_refuses_weights_of_another_shape(
    digits: ModuleType, digits_split: tuple[Any, Any], tmp_path: Path
) -> None:
    """Weights that do not fit the configured network are refused with a clear message."""
    import json

    model = digits.train(digits_split[0], FAST_DIGITS, TrainContext(seed=0, target="label"))
    digits.save(model, tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "hidden": 64}))
    with pytest.raises(InputError, match="do not fit the configured network"):
        digits.load(tmp_path)


def test_digits_rejects_bad_params(digits: ModuleType, digits_split: tuple[Any, Any]) -> None:
    """Unknown or out-of-range hyper-parameters are errors naming the field."""
    with pytest.raises(InputError) as info:
        digits.train(digits_split[0], {"epoch": 3}, TrainContext(seed=0, target="label"))
    assert info.value.field == "train.params"
    with pytest.raises(InputError) as info:
        digits.train(digits_split[0], {"epochs": 0}, TrainContext(seed=0, target="label"))
    assert info.value.field == "train.params.epochs"
