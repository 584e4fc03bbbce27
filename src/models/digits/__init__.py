"""Digits classifier: a small torch MLP on 8×8 images, CPU or CUDA with mixed precision.

Implements the `modelops.modelapi` contract. Training is deterministic on CPU for
a seed and resumable: with `context.checkpoint_dir` set it checkpoints every
`checkpoint_every` epochs and, on start, continues from the newest checkpoint
made with the same data and params, ending with the same weights bit for bit.
Weights are stored as safetensors and everything else as JSON: nothing is ever
unpickled.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelops.errors import InputError
from modelops.fsutil import atomic_write_bytes, atomic_write_json, sha256_bytes
from models.digits.columns import CLASSES, FEATURES, MAX_INTENSITY, TARGET

if TYPE_CHECKING:
    import pandas as pd
    import torch

    from modelops.modelapi import TrainContext

__all__ = ["FEATURES", "TARGET", "DigitsModel", "load", "predict", "save", "train"]

WEIGHTS_FILE = "weights.safetensors"
CONFIG_FILE = "config.json"
FORMAT = "modelops-digits-mlp/1"
CHECKPOINTS_KEPT = 2
# Bounds checked before any tensor is allocated (params at training, config.json at load).
MAX_HIDDEN = 4096
MAX_CLASSES = 1000

DEFAULTS: dict[str, Any] = {
    "hidden": 128,
    "epochs": 30,
    "batch_size": 64,
    "learning_rate": 0.001,
    "weight_decay": 0.0001,
    "val_fraction": 0.1,
    "checkpoint_every": 5,
}


@dataclass
class DigitsModel:
    """A trained network (on the CPU, in eval mode) and what it needs to predict."""

    net: torch.nn.Module
    config: dict[str, Any]

    @property
    def classes(self) -> list[int]:
        return list(self.config["classes"])


def _network(input_dim: int, hidden: int, n_classes: int) -> torch.nn.Sequential:
    from torch import nn

    return nn.Sequential(
        nn.Linear(input_dim, hidden),
        nn.ReLU(),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Linear(hidden, n_classes),
    )


def _params(params: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(params) - set(DEFAULTS))
    if unknown:
        raise InputError(
            f"unknown parameter(s) {unknown} for the digits model",
            field="train.params",
            hint=f"known: {sorted(DEFAULTS)}",
        )
    merged = {**DEFAULTS, **params}
    for name in ("hidden", "epochs", "batch_size", "checkpoint_every"):
        if not isinstance(merged[name], int) or merged[name] < 1:
            raise InputError(
                f"must be a positive integer, got {merged[name]!r}", field=f"train.params.{name}"
            )
    if merged["hidden"] > MAX_HIDDEN:
        raise InputError(f"must be at most {MAX_HIDDEN}", field="train.params.hidden")
    if not 0.0 <= float(merged["val_fraction"]) < 0.5:
        raise InputError("must be in [0, 0.5)", field="train.params.val_fraction")
    return merged


def _features(data: pd.DataFrame) -> torch.Tensor:
    import torch

    pixels = data[list(FEATURES)].to_numpy(dtype="float32") / MAX_INTENSITY
    return torch.tensor(pixels)  # a copy: pandas hands out read-only arrays


def _device(context: TrainContext) -> tuple[torch.device, torch.dtype | None]:
    """The device to train on and the autocast dtype (None: full precision on the CPU)."""
    import torch

    wanted = context.device
    if wanted == "auto":
        wanted = "cuda" if torch.cuda.is_available() else "cpu"
    if wanted.startswith("cuda") and not torch.cuda.is_available():
        context.facts["device_fallback"] = f"{wanted} requested, no CUDA device found"
        wanted = "cpu"
    device = torch.device(wanted)
    if device.type != "cuda":
        context.facts["device"] = "cpu"
        context.facts["amp_dtype"] = "none"
        return device, None
    # bf16 keeps fp32's range, so no loss scaling is needed; older GPUs get fp16 + GradScaler.
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    context.facts["device"] = f"cuda ({torch.cuda.get_device_name(device)})"
    context.facts["amp_dtype"] = str(dtype).removeprefix("torch.")
    return device, dtype


# -- checkpoints ------------------------------------------------------------


def _fingerprint(params: dict[str, Any], seed: int, x: torch.Tensor, y: torch.Tensor) -> str:
    """Identifies a training job; only a checkpoint of the same job is resumed."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"params": params, "seed": seed}, sort_keys=True).encode())
    digest.update(x.numpy().tobytes())
    digest.update(y.numpy().tobytes())
    return digest.hexdigest()


def _save_checkpoint(
    directory: Path,
    *,
    epoch: int,
    fingerprint: str,
    net: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    shuffle: torch.Generator,
    scaler: torch.amp.GradScaler | None,
) -> None:
    """Weights, optimizer moments and RNG state as safetensors; the rest as JSON.

    The JSON is written last and names the digest of the tensors file, so a
    crash between the two writes leaves no checkpoint that claims to be whole.
    """
    import torch
    from safetensors.torch import save

    tensors: dict[str, torch.Tensor] = {
        f"model.{name}": value for name, value in net.state_dict().items()
    }
    optim_state = optimizer.state_dict()
    for pid, slots in optim_state["state"].items():
        for slot, value in slots.items():
            tensors[f"optim.{pid}.{slot}"] = torch.as_tensor(value)
    tensors["rng.shuffle"] = shuffle.get_state()
    blob = save({k: v.detach().cpu().contiguous() for k, v in tensors.items()})
    stem = directory / f"checkpoint-{epoch:05d}"
    atomic_write_bytes(stem.with_suffix(".safetensors"), blob)
    atomic_write_json(
        stem.with_suffix(".json"),
        {
            "format": FORMAT,
            "epoch": epoch,
            "fingerprint": fingerprint,
            "tensors_sha256": sha256_bytes(blob),
            "param_groups": optim_state["param_groups"],
            "scaler": scaler.state_dict() if scaler is not None else None,
        },
    )
    for old in sorted(directory.glob("checkpoint-*.json"))[:-CHECKPOINTS_KEPT]:
        old.unlink(missing_ok=True)
        old.with_suffix(".safetensors").unlink(missing_ok=True)


def _latest_checkpoint(
    directory: Path, fingerprint: str
) -> tuple[dict[str, Any], dict[str, torch.Tensor]] | None:
    """The newest whole checkpoint of this job, or None (torn or foreign ones are skipped)."""
    from safetensors.torch import load

    for meta_path in sorted(directory.glob("checkpoint-*.json"), reverse=True):
        try:
            meta = json.loads(meta_path.read_text("utf-8"))
            blob = meta_path.with_suffix(".safetensors").read_bytes()
        except (OSError, ValueError):
            continue
        if meta.get("fingerprint") != fingerprint or sha256_bytes(blob) != meta.get(
            "tensors_sha256"
        ):
            continue
        return meta, load(blob)
    return None


def _restore(
    meta: dict[str, Any],
    tensors: dict[str, torch.Tensor],
    *,
    net: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    shuffle: torch.Generator,
    scaler: torch.amp.GradScaler | None,
) -> int:
    net.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, pid, slot = key.split(".", 2)
            state.setdefault(int(pid), {})[slot] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    shuffle.set_state(tensors["rng.shuffle"])
    if scaler is not None and meta.get("scaler"):
        scaler.load_state_dict(meta["scaler"])
    return int(meta["epoch"])


@contextmanager
def _one_cpu_thread(device: torch.device) -> Iterator[None]:
    """Train on one CPU thread: for a network this small, extra threads only spin.

    On a busy shared runner two OpenMP threads made an epoch 10–30× slower, and a
    fixed thread count keeps float reductions in one order, so results do not
    depend on how many cores the machine has.
    """
    import torch

    if device.type != "cpu":
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _epochs(
    epochs: range,
    p: dict[str, Any],
    context: TrainContext,
    *,
    net: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler | None,
    shuffle: torch.Generator,
    autocast: Callable[[], Any],
    fingerprint: str,
    data: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
) -> None:
    """The training loop: one pass over shuffled batches per epoch, then val loss, checkpoint."""
    import torch
    import torch.nn.functional as F

    x_all, y_all_dev, train_idx, val_idx = data
    device = x_all.device
    n_val = len(val_idx)
    for epoch in epochs:
        net.train()
        perm = train_idx[torch.randperm(len(train_idx), generator=shuffle).to(device)]
        total = torch.zeros((), device=device)
        for batch in perm.split(p["batch_size"]):
            optimizer.zero_grad(set_to_none=True)
            with autocast():
                loss = F.cross_entropy(net(x_all[batch]), y_all_dev[batch])
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                optimizer.step()
            total += loss.detach().float() * len(batch)
        train_loss = float(total) / len(train_idx)
        val_loss = None
        if n_val:
            net.eval()
            with torch.no_grad(), autocast():
                val_loss = float(F.cross_entropy(net(x_all[val_idx]), y_all_dev[val_idx]))
        if context.checkpoint_dir is not None and (
            epoch % p["checkpoint_every"] == 0 or epoch == p["epochs"]
        ):
            _save_checkpoint(
                context.checkpoint_dir,
                epoch=epoch,
                fingerprint=fingerprint,
                net=net,
                optimizer=optimizer,
                shuffle=shuffle,
                scaler=scaler,
            )
        context.log_metric("train_loss", train_loss, epoch)
        if val_loss is not None:
            context.log_metric("val_loss", val_loss, epoch)


# -- the contract ------------------------------------------------------------


def train(data: pd.DataFrame, params: dict[str, Any], context: TrainContext) -> DigitsModel:
    """Train the MLP; log `train_loss` and `val_loss` per epoch; checkpoint when asked."""
    import torch

    p = _params(params)
    device, amp_dtype = _device(context)
    x_all = _features(data)
    y_all = torch.tensor(data[context.target].to_numpy(dtype="int64"))

    # A fixed slice of the training split watches for overfitting (val_loss curve).
    split_gen = torch.Generator().manual_seed(context.seed)
    order = torch.randperm(len(x_all), generator=split_gen)
    n_val = round(len(x_all) * float(p["val_fraction"]))
    val_idx, train_idx = order[:n_val].to(device), order[n_val:].to(device)
    x_all, y_all_dev = x_all.to(device), y_all.to(device)

    with torch.random.fork_rng(devices=[]):  # seeded init without touching the caller's RNG
        torch.manual_seed(context.seed)
        net = _network(len(FEATURES), p["hidden"], len(CLASSES)).to(device)
    optimizer = torch.optim.Adam(
        net.parameters(), lr=float(p["learning_rate"]), weight_decay=float(p["weight_decay"])
    )
    scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None
    shuffle = torch.Generator().manual_seed(context.seed + 1)

    start = 0
    fingerprint = ""
    if context.checkpoint_dir is not None:
        context.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        fingerprint = _fingerprint(p, context.seed, _features(data), y_all)
        found = _latest_checkpoint(context.checkpoint_dir, fingerprint)
        if found is not None:
            start = _restore(*found, net=net, optimizer=optimizer, shuffle=shuffle, scaler=scaler)
            context.facts["resumed_from_epoch"] = str(start)

    def autocast() -> Any:
        return torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None)

    with _one_cpu_thread(device):
        _epochs(
            range(start + 1, p["epochs"] + 1),
            p,
            context,
            net=net,
            optimizer=optimizer,
            scaler=scaler,
            shuffle=shuffle,
            autocast=autocast,
            fingerprint=fingerprint,
            data=(x_all, y_all_dev, train_idx, val_idx),
        )

    net = net.cpu().eval()
    config = {
        "format": FORMAT,
        "features": list(FEATURES),
        "hidden": p["hidden"],
        "classes": list(CLASSES),
        "max_intensity": MAX_INTENSITY,
    }
    return DigitsModel(net=net, config=config)


def predict(model: DigitsModel, data: pd.DataFrame) -> pd.DataFrame:
    """`prediction` (the digit) and `proba_0`..`proba_9`, indexed like `data`."""
    import pandas as pd
    import torch

    with torch.no_grad():
        # float64 so that each row sums to 1 within what metrics libraries check.
        proba = torch.softmax(model.net(_features(data)).double(), dim=1).numpy()
    classes = model.classes
    out = pd.DataFrame(
        {f"proba_{label}": proba[:, i] for i, label in enumerate(classes)}, index=data.index
    )
    out.insert(0, "prediction", [classes[i] for i in proba.argmax(axis=1)])
    return out


def save(model: DigitsModel, directory: Path) -> None:
    """Weights as safetensors, the architecture as JSON."""
    from safetensors.torch import save as to_bytes

    directory.mkdir(parents=True, exist_ok=True)
    weights = {k: v.detach().cpu().contiguous() for k, v in model.net.state_dict().items()}
    atomic_write_bytes(directory / WEIGHTS_FILE, to_bytes(weights))
    atomic_write_json(directory / CONFIG_FILE, model.config)


def _expected_shapes(config: dict[str, Any], config_path: Path) -> dict[str, tuple[int, ...]]:
    """The tensor shapes config.json implies, refusing sizes no digits model has."""
    features, classes, hidden = config.get("features"), config.get("classes"), config.get("hidden")
    if not isinstance(features, list) or list(features) != list(FEATURES):
        raise InputError(
            "features differ from the digits pixels", file=config_path, field="features"
        )
    if not isinstance(classes, list) or not 2 <= len(classes) <= MAX_CLASSES:
        raise InputError(
            f"classes must be a list of 2 to {MAX_CLASSES}", file=config_path, field="classes"
        )
    if isinstance(hidden, bool) or not isinstance(hidden, int) or not 1 <= hidden <= MAX_HIDDEN:
        raise InputError(
            f"hidden must be an integer from 1 to {MAX_HIDDEN}, got {hidden!r}",
            file=config_path,
            field="hidden",
            hint="refusing to allocate a network of that size",
        )
    n_in, n_out = len(features), len(classes)
    return {
        "0.weight": (hidden, n_in),
        "0.bias": (hidden,),
        "2.weight": (hidden, hidden),
        "2.bias": (hidden,),
        "4.weight": (n_out, hidden),
        "4.bias": (n_out,),
    }


def load(directory: Path) -> DigitsModel:
    """Read what `save` wrote; anything but safetensors + the expected JSON is refused."""
    from safetensors import SafetensorError
    from safetensors.torch import load as from_bytes

    config_path, weights_path = directory / CONFIG_FILE, directory / WEIGHTS_FILE
    try:
        config = json.loads(config_path.read_text("utf-8"))
        blob = weights_path.read_bytes()
    except FileNotFoundError as exc:
        raise InputError("model file not found", file=exc.filename) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"model config is not valid JSON ({exc})", file=config_path) from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise InputError(
            f"model config is not in the {FORMAT} format", file=config_path, field="format"
        )
    shapes = _expected_shapes(config, config_path)
    try:
        weights = from_bytes(blob)
    except (SafetensorError, ValueError) as exc:
        raise InputError(
            f"refusing to load: weights are not a safetensors file ({exc})",
            file=weights_path,
            hint="digits models are saved as safetensors; pickles are never loaded",
        ) from None
    found = {name: tuple(tensor.shape) for name, tensor in weights.items()}
    if found != shapes:
        raise InputError(
            f"weights do not fit the configured network (expected {shapes}, found {found})",
            file=weights_path,
        )
    net = _network(len(config["features"]), int(config["hidden"]), len(config["classes"]))
    try:
        net.load_state_dict(weights, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise InputError(
            f"weights do not fit the configured network: {first}", file=weights_path
        ) from None
    return DigitsModel(net=net.eval(), config=config)
