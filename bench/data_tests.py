"""Figure 3: `modelops data-test` on 1M and 2M generated rows against the bare pandera schema.

The rows come from the churn example's own generator (same columns, same
distributions), written once as Parquet under bench/out/data and reused. Toolkit:
`modelops data-test churn --data FILE` (schema, digest, counts, balance, leakage).
Baseline: one process that reads the same file and runs `SCHEMA.validate(lazy=True)`;
the two run in turn, round after round. Peak memory is the child's whole peak RSS
(interpreter and libraries included), compared with the in-memory size of the
frame (`memory_usage(deep=True)`). Sizes are 1M and 2M rows, not 10M, so that the
whole `make bench` fits in about 15 minutes on a 2-core machine.
"""

from __future__ import annotations

import json
from pathlib import Path

from bench.common import (
    MODELOPS,
    PYTHON,
    REPO,
    Context,
    Figure,
    Row,
    Stat,
    Timing,
    clean_env,
    fmt_bytes,
    fmt_s,
    interleave,
    paired,
    require_module,
    run_child,
    scratch_project,
    verdict,
)

TITLE = "3 Data tests at size"
TIME_GOAL = 1.2
MEMORY_GOAL = 2.0
SIZES = (1_000_000, 2_000_000)
QUICK_SIZES = (20_000, 100_000)

GENERATE = r"""
import json, sys
sys.path.insert(0, "src")
from models.churn.generate import generate
rows, path = int(sys.argv[1]), sys.argv[2]
# Kept as generated: the chance repeats of natural data (a few in a thousand) stay under
# the leakage check's max_duplicate_share and are reported, not failed.
frame = generate(rows=rows, seed=rows)
assert len(frame) == rows
frame.to_parquet(path + ".tmp", index=False)
json.dump({"rows": rows, "frame_bytes": int(frame.memory_usage(deep=True).sum())},
          open(path + ".json", "w"))
import os; os.replace(path + ".tmp", path)
"""

BARE = r"""
import sys
sys.path.insert(0, "src")
import pandas as pd
from models.churn.schema import SCHEMA
SCHEMA.validate(pd.read_parquet(sys.argv[1]), lazy=True)
"""


def churn_rows(ctx: Context, rows: int) -> tuple[Path, int]:
    """A Parquet file of `rows` generated churn rows (made once) and its frame's size in bytes."""
    folder = ctx.workdir("data")
    path = folder / f"churn-{rows}.parquet"
    if not path.exists():
        run_child(
            [PYTHON, "-c", GENERATE, str(rows), str(path)], cwd=REPO, env=clean_env(), timeout_s=900
        )
    meta = json.loads(Path(f"{path}.json").read_text())
    return path, int(meta["frame_bytes"])


def label(rows: int) -> str:
    return f"{rows / 1e6:g}M rows" if rows >= 1e6 else f"{rows // 1000}k rows"


def run(ctx: Context) -> Figure:
    fig = Figure("data_tests", TITLE)
    require_module("modelops.data")
    root = scratch_project(ctx.workdir("data_tests") / "project", with_data=True)
    env = clean_env()
    for rows in QUICK_SIZES if ctx.quick else SIZES:
        path, frame_bytes = churn_rows(ctx, rows)
        # Exit 1 would mean the generated rows failed their own schema: a real finding.
        timings = interleave(
            {
                "bare": [PYTHON, "-c", BARE, str(path)],
                "tool": [MODELOPS, "data-test", "churn", "--data", str(path)],
            },
            repeat=ctx.runs,
            cwd=root,
            env=env,
            timeout_s=900,
        )
        assess(fig, rows, frame_bytes, timings["tool"], timings["bare"])
    return fig


def assess(fig: Figure, rows: int, frame_bytes: int, tool: Timing, bare: Timing) -> None:
    """Rows and notes for one size, from the measured rounds."""
    slower = paired(tool.wall.values, bare.wall.values, lambda a, b: a / b)
    memory = Stat.of(r / frame_bytes for r in tool.rss.values)
    fig.rows.append(
        Row(
            f"`data-test` time, {label(rows)}",
            tool.wall.show(fmt_s),
            baseline=f"pandera {bare.wall.show(fmt_s)}",
            ratio=f"{slower.median:.2f}× ({slower.spread(_times)})",
            goal=f"≤ {TIME_GOAL}×",
            status=verdict(slower.median <= TIME_GOAL),
        )
    )
    fig.rows.append(
        Row(
            f"`data-test` peak memory, {label(rows)}",
            tool.rss.show(fmt_bytes),
            baseline=f"frame {fmt_bytes(frame_bytes)}, pandera {fmt_bytes(bare.rss.median)}",
            ratio=f"{memory.median:.2f}× frame",
            goal=f"< {MEMORY_GOAL}× frame",
            status=verdict(memory.median < MEMORY_GOAL),
        )
    )
    if slower.median > TIME_GOAL:
        fig.misses.append(
            f"at {label(rows)} `data-test` takes {slower.median:.2f}× the bare schema "
            f"({fmt_s(tool.wall.median)} against {fmt_s(bare.wall.median)}); the goal is "
            f"{TIME_GOAL}×, so {fmt_s(tool.wall.median - TIME_GOAL * bare.wall.median)} too many."
        )
    if memory.median >= MEMORY_GOAL:
        bare_share = bare.rss.median / frame_bytes
        extra = fmt_bytes(tool.rss.median - bare.rss.median)
        fig.misses.append(
            f"at {label(rows)} `data-test` peaks at {fmt_bytes(tool.rss.median)}, "
            f"{memory.median:.2f}× the {fmt_bytes(frame_bytes)} frame; bare pandera peaks at "
            f"{bare_share:.2f}× the frame"
            + (
                ", already over the goal on its own."
                if bare_share >= MEMORY_GOAL
                else f", so the toolkit's own checks add {extra}."
            )
        )


def _times(value: float) -> str:
    return f"{value:.2f}×"
