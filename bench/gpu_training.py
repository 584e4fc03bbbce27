"""Figure 6: the torch example's training loop against a minimal hand-written loop on one device.

Both run in one child process on the same data (the bundled digits table), same
network, optimiser, batch size and epochs; the toolkit side is the model package's
`train` with a `TrainContext` (validation loss, metric logging, autocast and
GradScaler on CUDA). The hand loop does only forward, loss, backward and step, with
the same autocast on CUDA. Samples per second = training rows × epochs / seconds.
No GPU here: the figure says so, and runs the same code with `--device cpu`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading

from bench.common import (
    NOT_RUN,
    PYTHON,
    REPO,
    BenchError,
    Context,
    Figure,
    Row,
    clean_env,
    fmt_rate,
    require,
    run_child,
    verdict,
)

TITLE = "6 GPU training"
GOAL = 0.9

LOOPS = r"""
import json, sys, time
sys.path.insert(0, "src")
import pandas as pd, torch, yaml
import torch.nn.functional as F
import models.digits as digits
from models.digits import FEATURES, _network
from modelops.modelapi import TrainContext

device, epochs = sys.argv[1], int(sys.argv[2])
spec = yaml.safe_load(open("pipelines/digits.yaml"))
params = {**spec["train"]["params"], "epochs": epochs}
target = spec["data"]["target"]
data = pd.read_csv(spec["data"]["path"])
if device == "cpu":
    torch.set_num_threads(1)  # the toolkit loop trains on one CPU thread (reproducible): match it
n_train = len(data) - round(len(data) * params["val_fraction"])

def toolkit():
    digits.train(data, params, TrainContext(seed=42, target=target, device=device))

def by_hand():
    dev = torch.device(device)
    x = torch.tensor(data[list(FEATURES)].to_numpy(dtype="float32"), device=dev)
    y = torch.tensor(data[target].to_numpy(dtype="int64"), device=dev)
    x, y = x[:n_train], y[:n_train]
    torch.manual_seed(42)
    net = _network(x.shape[1], params["hidden"], int(y.max()) + 1).to(dev)
    opt = torch.optim.Adam(net.parameters(), lr=params["learning_rate"])
    amp = dev.type == "cuda"
    dtype = torch.bfloat16 if amp and torch.cuda.is_bf16_supported() else torch.float16
    for _ in range(epochs):
        for batch in torch.randperm(len(x), device=dev).split(params["batch_size"]):
            opt.zero_grad(set_to_none=True)
            with torch.autocast(dev.type, dtype=dtype, enabled=amp):
                loss = F.cross_entropy(net(x[batch]), y[batch])
            loss.backward()
            opt.step()
    if amp:
        torch.cuda.synchronize()

best = {}
for name, fn in [("toolkit", toolkit), ("hand", by_hand)] * 2:
    start = time.perf_counter()
    fn()
    best[name] = min(best.get(name, 1e9), time.perf_counter() - start)
print("BENCH " + json.dumps({"seconds": best, "samples": n_train * epochs}))
"""


def gpu_utilisation(stop: threading.Event, readings: list[int]) -> None:
    """Sample `nvidia-smi` GPU utilisation every 0.2 s until `stop` is set."""
    while not stop.wait(0.2):
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split()
        if out and out[0].isdigit():
            readings.append(int(out[0]))


def has_gpu() -> bool:
    if shutil.which("nvidia-smi") is None:
        return False
    code = "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"
    return run_child([PYTHON, "-c", code], check=False).returncode == 0


def run(ctx: Context) -> Figure:
    fig = Figure("gpu_training", TITLE)
    require(REPO / "src" / "models" / "digits" / "__init__.py", "the torch example")
    gpu = has_gpu()
    device = ctx.device if ctx.device != "auto" else ("cuda" if gpu else "cpu")
    if not gpu:
        fig.rows.append(
            Row(
                "GPU samples/s, toolkit vs hand loop",
                "—",
                goal=f"≥ {GOAL:.0%}",
                status=NOT_RUN,
                note="no GPU on this machine",
            )
        )
    epochs = 2 if ctx.quick else 5
    readings: list[int] = []
    stop = threading.Event()
    sampler = threading.Thread(target=gpu_utilisation, args=(stop, readings), daemon=True)
    if device.startswith("cuda"):
        sampler.start()
    try:
        sample = run_child(
            [PYTHON, "-c", LOOPS, device, str(epochs)], cwd=REPO, env=clean_env(), timeout_s=600
        )
    finally:
        stop.set()
    line = next((x for x in sample.stdout.splitlines() if x.startswith("BENCH ")), None)
    if line is None:
        raise BenchError("the training loops printed no result")
    result = json.loads(line.removeprefix("BENCH "))
    tool = result["samples"] / result["seconds"]["toolkit"]
    hand = result["samples"] / result["seconds"]["hand"]
    share = tool / hand
    on_gpu = device.startswith("cuda")
    fig.rows.append(
        Row(
            f"samples/s on {device}, toolkit loop",
            fmt_rate(tool, "samples/s"),
            baseline=f"hand loop {fmt_rate(hand, 'samples/s')}",
            ratio=f"{share:.0%}",
            goal=f"≥ {GOAL:.0%}" if on_gpu else "",
            status=verdict(share >= GOAL) if on_gpu else "info",
            note=f"{epochs} epochs, best of 2" + ("" if on_gpu else "; shows the code runs"),
        )
    )
    if readings:
        fig.rows.append(
            Row("GPU utilisation (nvidia-smi, mean)", f"{sum(readings) / len(readings):.0f} %")
        )
    if on_gpu and share < GOAL:
        fig.misses.append(
            f"the toolkit loop reaches {share:.0%} of the hand loop: it also computes the "
            "validation loss each epoch and syncs the loss to the host for logging. Closing it: "
            "validate every few epochs and log asynchronously."
        )
    fig.notes.append(
        "Same data (data/digits), network, optimiser, batch size; the toolkit side is "
        "`models.digits.train` with mixed precision on CUDA. Without a GPU the CPU row only "
        "shows that the benchmark runs (`bench/run.py --only gpu_training --device cpu`)."
    )
    return fig
