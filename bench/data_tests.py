"""Figure 3: `modelops data-test` on 1M and 10M generated rows against the bare pandera schema.

The rows come from the churn example's own generator (same columns, same
distributions), written once as Parquet under bench/out/data and reused. Toolkit:
`modelops data-test churn --data FILE` (schema, digest, counts, balance, leakage).
Baseline: one process that reads the same file and runs `SCHEMA.validate(lazy=True)`.
Peak memory is the child's whole peak RSS (interpreter and libraries included),
compared with the in-memory size of the frame (`memory_usage(deep=True)`).
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
    clean_env,
    fmt_bytes,
    fmt_rate,
    fmt_s,
    ratio,
    require_module,
    run_child,
    scratch_project,
    verdict,
)

TITLE = "3 Data tests at size"
TIME_GOAL = 1.2
MEMORY_GOAL = 2.0

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


def run(ctx: Context) -> Figure:
    fig = Figure("data_tests", TITLE)
    require_module("modelops.data")
    root = scratch_project(ctx.workdir("data_tests") / "project", with_data=True)
    env = clean_env()
    for rows in (20_000, 100_000) if ctx.quick else (1_000_000, 10_000_000):
        path, frame_bytes = churn_rows(ctx, rows)
        bare = run_child([PYTHON, "-c", BARE, str(path)], cwd=root, env=env, timeout_s=900)
        # Exit 1 would mean the generated rows failed their own schema: a real finding.
        tool = run_child(
            [MODELOPS, "data-test", "churn", "--data", str(path)], cwd=root, env=env, timeout_s=900
        )
        label = f"{rows / 1e6:g}M rows" if rows >= 1e6 else f"{rows // 1000}k rows"
        fig.rows.append(
            Row(
                f"`data-test` time, {label}",
                f"{fmt_s(tool.wall_s)} ({fmt_rate(rows / tool.wall_s)})",
                baseline=f"pandera {fmt_s(bare.wall_s)} ({fmt_rate(rows / bare.wall_s)})",
                ratio=ratio(tool.wall_s, bare.wall_s),
                goal=f"≤ {TIME_GOAL}×",
                status=verdict(tool.wall_s <= TIME_GOAL * bare.wall_s),
            )
        )
        fig.rows.append(
            Row(
                f"`data-test` peak memory, {label}",
                fmt_bytes(tool.peak_rss),
                baseline=f"frame {fmt_bytes(frame_bytes)}, pandera {fmt_bytes(bare.peak_rss)}",
                ratio=ratio(tool.peak_rss, frame_bytes),
                goal=f"< {MEMORY_GOAL}× frame",
                status=verdict(tool.peak_rss < MEMORY_GOAL * frame_bytes),
            )
        )
        if tool.wall_s > TIME_GOAL * bare.wall_s:
            fig.misses.append(
                f"at {label} data-test takes {ratio(tool.wall_s, bare.wall_s)} the bare schema: "
                "beyond the schema it digests the file, splits it and checks leakage and class "
                "balance, each already one vectorised pass. A separate cProfile at 1M rows "
                "(2.8 s) put the largest extra in hashing rows for the leakage check (0.44 s, "
                "most of it pandas hashing pyarrow-backed string columns). Closing it: hash the "
                "string columns with pyarrow's own compute kernels, or dictionary-encode them "
                "before hashing."
            )
        if tool.peak_rss >= MEMORY_GOAL * frame_bytes:
            fig.misses.append(
                f"at {label} data-test peaks at {fmt_bytes(tool.peak_rss)} for a "
                f"{fmt_bytes(frame_bytes)} frame (bare pandera: {fmt_bytes(bare.peak_rss)}): "
                + (
                    "bare pandera alone already needs more than the goal allows, so no change "
                    "after it can meet it. "
                    if bare.peak_rss >= MEMORY_GOAL * frame_bytes
                    else "the extra checks hold copies beside the frame. "
                )
                + "Closing it: validate in chunks as predict does, with column uniqueness "
                "checked across the whole file in a separate pass."
            )
    fig.notes.append(
        "Rows from `models.churn.generate` (seeded, chance duplicates kept), stored as "
        "Parquet; one run per size "
        "(both sides read the same file from the page cache)."
    )
    return fig
