"""Figure 4: `modelops predict` on 250k and 1M rows against the model's in-memory predict.

The churn model is trained, registered, promoted to dev and deployed there once
(in bench/out/batch_scoring/project, reused). Toolkit: the whole `modelops predict`
process (read, validate, score and write in chunks). Baseline: the model package's
`predict` on the frame already in memory, timed inside its process around that
call alone; the two run in turn, round after round. Memory is flat when the
1M-row peak stays within 1.25× the 250k-row peak. Sizes are 250k and 1M rows, not
10M: scoring runs at roughly 100k rows/s on one core here, and five rounds of each
size must fit in the 15 minutes of `make bench`.
"""

from __future__ import annotations

from pathlib import Path

from bench.common import (
    MODELOPS,
    PYTHON,
    Context,
    Figure,
    Row,
    Sample,
    Stat,
    Timing,
    clean_env,
    fmt_bytes,
    fmt_rate,
    fmt_s,
    paired,
    require_module,
    run_child,
    scratch_project,
    verdict,
)
from bench.data_tests import churn_rows, label
from bench.pr_path import run_chain

TITLE = "4 Batch scoring"
THROUGHPUT_GOAL = 1.5
FLAT_GOAL = 1.25
SIZES = (250_000, 1_000_000)
QUICK_SIZES = (20_000, 200_000)
READY = ".bench-ready"

IN_MEMORY = r"""
import json, sys, time
sys.path.insert(0, "src")
import pandas as pd
import models.churn as churn
entry = json.load(open(".modelops/serving/dev/live.json"))["churn"]
from pathlib import Path
model = churn.load(Path(".modelops/serving/dev/bundles/churn", entry["sha256"], "model"))
frame = pd.read_parquet(sys.argv[1])
start = time.perf_counter()
out = churn.predict(model, frame)
print("BENCH-SECONDS", time.perf_counter() - start, len(out))
"""


DROP_TARGET = r"""
import sys
import pyarrow.parquet as pq
table = pq.read_table(sys.argv[1])
pq.write_table(table.drop_columns(["churned"]), sys.argv[2] + ".tmp")
import os; os.replace(sys.argv[2] + ".tmp", sys.argv[2])
"""


def scoring_rows(ctx: Context, rows: int) -> Path:
    """The generated rows of figure 3 without the label: what arrives for scoring."""
    labelled, _ = churn_rows(ctx, rows)
    path = labelled.with_name(f"churn-{rows}-features.parquet")
    if not path.exists():
        run_child([PYTHON, "-c", DROP_TARGET, str(labelled), str(path)], timeout_s=600)
    return path


def deployed_project(ctx: Context) -> Path:
    """A scratch project whose dev environment serves a freshly trained churn model."""
    root = ctx.workdir("batch_scoring") / "project"
    if (root / READY).is_file():
        return root
    scratch_project(root)
    run_chain(root, ("train", "evaluate", "register"))
    env = clean_env()
    run_child([MODELOPS, "promote", "churn", "--to", "dev"], cwd=root, env=env)
    run_child([MODELOPS, "deploy", "dev"], cwd=root, env=env, timeout_s=600)
    (root / READY).write_text("deployed\n")
    return root


def run(ctx: Context) -> Figure:
    fig = Figure("batch_scoring", TITLE)
    require_module("modelops.serve")
    root = deployed_project(ctx)
    env = clean_env()
    peaks: dict[int, Stat] = {}
    sizes = QUICK_SIZES if ctx.quick else SIZES
    for rows in sizes:
        path = scoring_rows(ctx, rows)
        out = ctx.workdir("batch_scoring") / f"predictions-{rows}.parquet"
        predict = [MODELOPS, "predict", "churn", "--env", "dev", "--input", str(path)]
        tool: list[Sample] = []
        base: list[float] = []
        for _ in range(ctx.runs):
            argv = [*predict, "--output", str(out)]
            tool.append(run_child(argv, cwd=root, env=env, timeout_s=900))
            sample = run_child(
                [PYTHON, "-c", IN_MEMORY, str(path)], cwd=root, env=env, timeout_s=900
            )
            seconds = next(
                line.split()[1]
                for line in sample.stdout.splitlines()
                if line.startswith("BENCH-SECONDS")
            )
            base.append(float(seconds))
        peaks[rows] = assess_size(fig, rows, Timing(tuple(tool)), Stat.of(base))
    assess_growth(fig, sizes, peaks)
    return fig


def assess_size(fig: Figure, rows: int, tool: Timing, base: Stat) -> Stat:
    """Throughput and memory rows for one size; returns the peak memory."""
    slower = paired(tool.wall.values, base.values, lambda a, b: a / b)
    rate = Stat.of(rows / s for s in tool.wall.values)
    fig.rows.append(
        Row(
            f"`predict` throughput, {label(rows)}",
            rate.show(fmt_rate),
            baseline=f"in-memory {fmt_rate(rows / base.median)}",
            ratio=f"{slower.median:.2f}× slower ({slower.spread(_times)})",
            goal=f"≤ {THROUGHPUT_GOAL}× slower",
            status=verdict(slower.median <= THROUGHPUT_GOAL),
            note=f"{fmt_s(tool.wall.median)} vs {fmt_s(base.median)}",
        )
    )
    fig.rows.append(Row(f"`predict` peak memory, {label(rows)}", tool.rss.show(fmt_bytes)))
    if slower.median > THROUGHPUT_GOAL:
        fig.misses.append(
            f"at {label(rows)} `modelops predict` takes {fmt_s(tool.wall.median)}, "
            f"{slower.median:.2f}× the bare predict call ({fmt_s(base.median)}); the goal is "
            f"{THROUGHPUT_GOAL}×."
        )
    return tool.rss


def assess_growth(fig: Figure, sizes: tuple[int, int], peaks: dict[int, Stat]) -> None:
    small, large = sizes
    growth = peaks[large].median / peaks[small].median
    fig.rows.append(
        Row(
            f"peak memory growth, {large / small:g}× the rows",
            f"{fmt_bytes(peaks[small].median)} → {fmt_bytes(peaks[large].median)}",
            ratio=f"{growth:.2f}×",
            goal=f"≤ {FLAT_GOAL}× (flat)",
            status=verdict(growth <= FLAT_GOAL),
        )
    )
    if growth > FLAT_GOAL:
        fig.misses.append(
            f"peak memory grows {growth:.2f}× for {large / small:g}× the rows "
            f"({fmt_bytes(peaks[large].median - peaks[small].median)} more)."
        )


def _times(value: float) -> str:
    return f"{value:.2f}×"
